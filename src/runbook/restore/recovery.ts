import { swapNames } from '../../flightctl/database/swap-sql.js';
import { settleUpstreamLeftovers } from '../../flightctl/archive/upstream-leftovers.js';
import { ERROR_CATALOGUE, type RestoreError } from '../../lib/errors.js';
import { redactText } from '../../lib/secrets.js';
import { RECOVERY_BACKOFF, retrying } from '../../lib/retrying.js';
import { intentIsOurs, type IntentDoc, type IntentRecord } from '../intent.js';
import { isFinished, type Run, type StepName } from '../../model/run.js';
import { noteFault, runSuffix } from '../runner.js';
import { RecoveryIncomplete, settleSteps, type SettleOutcome, type SettleResult } from '../settle.js';
import type { StepRuntime } from '../step.js';
import type { JournalStore } from '../store/run-store.js';
import { createRestoreContext, type RestoreContext, type RestoreOptions } from './context.js';
import { restoreIntent } from './intent-record.js';
import { stepsNamed, type RestoreStep } from './plan.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from 'winston';
import type { RestoreTarget } from '../../targets/target.js';
import type { ContextDeps } from './context.js';
import type { RunStore } from '../store/run-store.js';

/** What settling a run needs: a restore's dependencies without its own signal and listeners. */
export interface SettleDeps {
  config: Readonly<Config>;
  logger: Logger;
  target: RestoreTarget;
  /** Where runs, their intent and the lock live: chosen once by whoever started the process. */
  store: RunStore;
  /** The data stores behind the target; the real ones unless a test gives the in-memory target's. */
  dataStores?: ContextDeps['dataStores'];
  /** Told of each wait of the recovery for a server not back yet (default: a warning in the log). */
  onRecoveryWait?(why: RestoreError, retryInMs: number): void;
}

export interface RecoveredRun {
  runId: string;
  phase: Run['phase'];
  actions: string[];
}

export interface RecoveryReport {
  recovered: RecoveredRun[];
  /** Leftovers settled: drop-ins found without a record of the run that wrote them, an interrupted flightctl-restore's keys. */
  leftovers: string[];
  /** Found and left for the operator to decide (they do not make the report less ok). */
  notes: string[];
  /** Nothing was left to do. */
  ok: boolean;
}

/**
 * Settles a run by what its intent recorded (the engine's walk, runbook/settle.ts); the intent is
 * cleared once nothing is left to do. In the process that ran it, `own` is its record and the
 * steps it finished.
 */
export async function settleRecorded(
  intent: IntentRecord<RestoreOptions>,
  plan: readonly RestoreStep[],
  ctx: RestoreContext,
  outcome: SettleOutcome,
  own?: { doc: IntentDoc<RestoreOptions> | undefined; finished: ReadonlySet<StepName> },
): Promise<SettleResult> {
  const recorded = (own ? own.doc : await intent.read())?.steps ?? {};
  const result = await settleSteps({ plan, recorded, ctx, outcome, ...(own ? { finished: own.finished } : {}) });
  if (!result.failure) await intent.clear();
  return result;
}

async function markRecovered(journal: JournalStore, run: Run, result: SettleResult, by: string): Promise<Run> {
  const at = new Date().toISOString();
  run.phase = result.failure ? 'Interrupted' : 'Recovered';
  run.recovery = { at, by, actions: result.actions.map((a) => a.msg), stepActions: result.actions };
  run.finishedAt ??= at;
  run.error ??= {
    code: 'RESTORE_ERR_CANCELLED',
    message: `the agent process ended (killed, crashed or the host rebooted)${run.currentStep ? ` during step ${run.currentStep}` : ''}`,
    hint: ERROR_CATALOGUE.RESTORE_ERR_CANCELLED.hint,
  };
  run.currentStep = undefined;
  await journal.save(run);
  const events = await journal.events(run.id);
  await journal.append(run.id, { seq: (events.at(-1)?.seq ?? 0) + 1, time: at, type: 'run-finished', run });
  return run;
}

/** What the settling of a dead process's run gets as its runtime: no signal, no progress, warnings to the log, faults into its record. */
function recoveryRuntime(deps: Pick<SettleDeps, 'logger'>, run: Run): StepRuntime {
  const warn = (text: string) => deps.logger.warn(redactText(text), { runId: run.id });
  return {
    check: false,
    signal: new AbortController().signal,
    logger: deps.logger,
    progress: async () => undefined,
    warn,
    fault(f) {
      const met = noteFault(run, f);
      warn(`${met.code}: ${met.message}; ${met.action}`);
    },
    setPhase: async () => undefined,
    record: async () => undefined,
  };
}

/**
 * The context of a run a dead process left, rebuilt from its intent: its parameters, and what
 * each recorded step found out (each step's `reload`).
 */
function rebuiltContext(deps: SettleDeps, doc: IntentDoc<RestoreOptions>, plan: readonly RestoreStep[], run: Run | undefined): RestoreContext {
  const names = swapNames(doc.params.database, runSuffix(doc.runId));
  const record: Run = run ?? {
    id: doc.runId,
    phase: 'Interrupted',
    check: false,
    target: deps.target.kind,
    options: doc.params,
    plan: doc.plan,
    steps: [],
    requestedBy: 'unknown (the journal has no record of this run)',
    pid: doc.pid,
    startedAt: doc.startedAt,
    finalizers: [],
  };
  const ctx = createRestoreContext(recoveryRuntime(deps, record), {
    run: record,
    config: deps.config,
    target: deps.target,
    journal: deps.store.journal,
    names,
    options: doc.params,
    dataStores: deps.dataStores,
  });
  for (const s of plan) {
    const recorded = doc.steps[s.name];
    if (recorded !== undefined) s.intent?.reload?.(ctx, recorded);
  }
  return ctx;
}

/**
 * Finishes whatever an earlier process left unfinished, before any new work: the run recorded in
 * the intent is settled (rolled back or completed) and marked Recovered; runs the journal still
 * shows as running whose process is gone are marked too; drop-ins nobody recorded are removed.
 * Call it holding the store's lock.
 */
export async function recoverHost(deps: SettleDeps, by: string): Promise<RecoveryReport> {
  const { store, logger } = deps;
  const journal = store.journal;
  const report: RecoveryReport = { recovered: [], leftovers: [], notes: [], ok: true };
  const intent = restoreIntent(deps);
  const doc = await intent.read();
  if (doc && !intentIsOurs(store.holder, doc)) {
    logger.warn('finishing an interrupted run before anything else', { runId: doc.runId });
    const run = await journal.read(doc.runId).catch(() => undefined);
    const plan = stepsNamed(doc.plan);
    const result = await settleRecorded(intent, plan, rebuiltContext(deps, doc, plan, run), 'crashed');
    if (run) await markRecovered(journal, run, result, by);
    const actions = result.actions.map((a) => a.msg);
    report.recovered.push({ runId: doc.runId, phase: result.failure ? 'Interrupted' : 'Recovered', actions });
    if (result.failure) {
      const causes = result.failure instanceof RecoveryIncomplete ? result.failure.causes : [result.failure];
      throw new RecoveryIncomplete(`run ${doc.runId} could not be recovered completely: ${result.failure.message}`, causes, { runId: doc.runId });
    }
  }
  for (const run of await journal.list()) {
    if (!isFinished(run.phase) && (await journal.abandoned(run))) {
      await markRecovered(journal, run, { actions: [{ kind: 'note', msg: 'nothing was left to undo' }], completed: false }, by);
      report.recovered.push({ runId: run.id, phase: 'Recovered', actions: ['nothing was left to undo'] });
    }
  }
  report.leftovers = await deps.target.removeLeftovers();
  if (deps.target.deploymentType === 'podman') {
    const upstream = await settleUpstreamLeftovers(deps.config.flightctl.etcDir);
    report.leftovers.push(...upstream.actions);
    report.notes.push(...upstream.notes);
  }
  for (const l of report.leftovers) logger.warn(l);
  for (const n of report.notes) logger.warn(n);
  report.ok = report.recovered.length === 0 && report.leftovers.length === 0;
  return report;
}

export interface WaitOptions {
  /** Give up after this long; 0: one attempt. */
  maxWaitMs: number;
  /** Told of every wait: what stood in the way, and when the next attempt comes. */
  onWait?(why: RestoreError, retryInMs: number): void;
  signal?: AbortSignal | undefined;
}

/** Whether waiting may help: every cause is a server not back yet (after a boot, a restart). */
export function worthWaiting(err: RestoreError): boolean {
  return err instanceof RecoveryIncomplete ? err.worthRetrying : err.retryable;
}

/** What stood in the way: a recovery's causes, or the error itself. */
export function causesOf(err: RestoreError): readonly RestoreError[] {
  return err instanceof RecoveryIncomplete && err.causes.length ? err.causes : [err];
}

/** What a recovery waits for, in one line: each cause once, with its code (not the wrapper's). */
export function recoveryObstacle(err: RestoreError): string {
  return [...new Set(causesOf(err).map((c) => `${c.code}: ${c.message}`))].join('; ');
}

/**
 * recoverHost, tried again with backoff while what stands in the way may go away by itself
 * (runbook/retrying.ts). Each attempt is safe to repeat: the settling is idempotent and the
 * intent stays until it is whole.
 */
export async function recoverWaiting(deps: SettleDeps, by: string, opts: WaitOptions): Promise<RecoveryReport> {
  return retrying(() => recoverHost(deps, by), {
    ...RECOVERY_BACKOFF,
    maxWaitMs: opts.maxWaitMs,
    retryIf: worthWaiting,
    onWait: opts.onWait,
    signal: opts.signal,
  });
}
