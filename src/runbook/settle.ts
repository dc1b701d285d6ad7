import { asRestoreError, RestoreError } from '../lib/errors.js';
import type { SettleAction, StepName } from '../model/run.js';
import type { AnyStep, StepRuntime } from './step.js';

/** RESTORE_ERR_RECOVERY_INCOMPLETE with what stood in the way, each with its own code. */
export class RecoveryIncomplete extends RestoreError {
  constructor(
    message: string,
    readonly causes: readonly RestoreError[],
    details: Record<string, unknown> = {},
  ) {
    super('RESTORE_ERR_RECOVERY_INCOMPLETE', message, { ...details, codes: causes.map((c) => c.code) });
  }

  /** Every cause may go away by itself (a server not back yet): trying again later may finish it. */
  get worthRetrying(): boolean {
    return this.causes.length > 0 && this.causes.every((c) => c.retryable);
  }
}

/** How the run's steps ended: in this process, or in one that is gone (a crash, a reboot). */
export type SettleOutcome = 'succeeded' | 'failed' | 'interrupted' | 'crashed';

export interface SettleResult {
  actions: SettleAction[];
  /** RESTORE_ERR_RECOVERY_INCOMPLETE when something could not be done; the intent then stays. */
  failure?: RestoreError;
  /** Whether the run was past its point of no return (completed rather than rolled back). */
  completed: boolean;
}

export interface SettleInput<C extends StepRuntime> {
  /** The run's steps in plan order. */
  plan: readonly AnyStep<C>[];
  /** What each step recorded in the intent (absent: it changed nothing, or never started). */
  recorded: Partial<Record<StepName, unknown>>;
  /**
   * Steps that finished in this very process: their work is in place and nothing has restarted
   * since, so they need no completing. Empty for a run a dead process left (a reboot may have
   * emptied the KV store since): every step past the point is completed again.
   */
  finished?: ReadonlySet<StepName>;
  ctx: C;
  outcome: SettleOutcome;
}

/**
 * The one decision table of the engine: what a run leaves is undone or completed, and what its
 * steps held is released. The same walk serves a run that succeeded, one that failed or was
 * interrupted, and one a dead process left (its context rebuilt from the intent).
 *
 *   succeeded                     release every recorded step
 *   ended early, before the point of no return:
 *                                 discard what only going forward would use, then undo every
 *                                 recorded step, last first; then release
 *   ended early, past it:         complete every step from the point of no return on, in plan
 *                                 order (skipped steps, and steps this process finished,
 *                                 excepted); then release
 *   the point cannot be told:     neither; release (unsettled) and report it
 *   and always, at the end:       each recorded step's `finally`, last first, told whether the
 *                                 services may be served what is there (not when a completion
 *                                 failed or the point could not be told)
 *
 * The point of no return is the first recorded step whose `pointOfNoReturn` holds: from there the
 * live data holds the restore's work (devices marked AwaitingReconnect without their KV keys
 * would wait forever), so going back is no longer safe. Releases run in plan order; `finally`
 * comes after all of them, so the services start once everything they depend on is in place.
 * Every action is tried even when an earlier one failed; the failures together are one
 * RESTORE_ERR_RECOVERY_INCOMPLETE.
 */
export async function settleSteps<C extends StepRuntime>(input: SettleInput<C>): Promise<SettleResult> {
  const { plan, recorded, ctx } = input;
  const actions: SettleAction[] = [];
  const problems: RestoreError[] = [];
  const has = (s: AnyStep<C>) => recorded[s.name] !== undefined;
  const attempt = async (step: StepName | undefined, kind: SettleAction['kind'], fn: () => Promise<string[]>): Promise<void> => {
    try {
      for (const msg of await fn()) actions.push({ ...(step ? { step } : {}), kind, msg });
    } catch (err) {
      const e = asRestoreError(err);
      problems.push(e);
      actions.push({ ...(step ? { step } : {}), kind, msg: `could not ${kind} ${step ?? 'the run'}: ${e.code}: ${e.message}`, error: e.toJSON() });
    }
  };

  let completed = false;
  let decided = true;
  if (input.outcome !== 'succeeded') {
    let from = -1;
    try {
      for (let i = 0; i < plan.length && from < 0; i++) {
        const s = plan[i]!;
        if (has(s) && s.pointOfNoReturn && (await s.pointOfNoReturn(ctx, recorded[s.name]))) from = i;
      }
    } catch (err) {
      decided = false;
      const e = asRestoreError(err);
      problems.push(e);
      actions.push({
        kind: 'note',
        msg: `could not tell whether the run passed its point of no return, so nothing was undone or completed: ${e.code}: ${e.message}`,
        error: e.toJSON(),
      });
    }
    if (decided && from >= 0) {
      completed = true;
      for (const s of plan.slice(from)) {
        if (!s.complete || input.finished?.has(s.name) || s.skip?.(ctx) !== undefined) continue;
        await attempt(s.name, 'complete', () => s.complete!(ctx, recorded[s.name]));
      }
    } else if (decided) {
      // First: an undo may wait minutes for a server, and the agent may die while it waits.
      for (const s of plan) if (has(s) && s.discard) await attempt(s.name, 'release', () => s.discard!(ctx, recorded[s.name]));
      for (const s of [...plan].reverse()) if (has(s) && s.undo) await attempt(s.name, 'undo', () => s.undo!(ctx, recorded[s.name]));
    }
  }
  const settled = decided && problems.length === 0;
  // Rolled back, even with an undo that failed (a database not reachable): nothing will go forward
  // from what the steps hold, whatever a later recovery finds.
  const rolledBack = input.outcome !== 'succeeded' && decided && !completed;
  for (const s of plan) if (has(s) && s.release) await attempt(s.name, 'release', () => s.release!(ctx, recorded[s.name], { settled, rolledBack }));
  const serveable = decided && (!completed || problems.length === 0);
  for (const s of [...plan].reverse()) if (has(s) && s.finally) await attempt(s.name, 'release', () => s.finally!(ctx, recorded[s.name], { serveable }));

  const failure = problems.length ? new RecoveryIncomplete(`finalizers could not finish: ${problems.map((p) => p.message).join('; ')}`, problems) : undefined;
  return { actions, completed, ...(failure ? { failure } : {}) };
}
