import type { Config } from '../../config/schema.js';
import { swapNames } from '../../flightctl/database/swap-sql.js';
import { RestoreError } from '../../lib/errors.js';
import { anySignal } from '../../lib/signals.js';
import type { Run, RunEvent } from '../../model/run.js';
import { executeRun, newRunId, runSuffix } from '../runner.js';
import type { SettleResult } from '../settle.js';
import type { SettleAction } from '../../model/run.js';
import { RECOVERY_BACKOFF, retrying } from '../../lib/retrying.js';
import { createRestoreContext, type RestoreContext, type RestoreOptions } from './context.js';
import { restoreIntent } from './intent-record.js';
import { restorePlan } from './plan.js';
import { causesOf, recoverWaiting, recoveryObstacle, settleRecorded, worthWaiting, type RecoveryReport, type SettleDeps } from './recovery.js';

export interface RestoreRequest {
  dump?: string | undefined;
  /** A Flight Control backup archive; excludes dump. */
  archive?: string | undefined;
  check: boolean;
  force: boolean;
  keepOldDb: boolean;
  /** Who asked: "cli:root", later the JWT subject. */
  requestedBy: string;
}

export interface EngineDeps extends SettleDeps {
  signal: AbortSignal;
  onEvent?(event: RunEvent): void;
  /** Called with the run once it is recorded, before its first step. */
  onRun?(run: Run): void;
}

/** How the data stores are reached, as the run records it (configuration, not the target's business). */
function endpointStrategy(config: Readonly<Config>): string {
  return config.target === 'kubernetes' ? 'service' : config.host.endpointStrategy;
}

/**
 * One restore: under the lock (a check run takes none: it changes nothing), after finishing
 * whatever an earlier process left, with the intent recorded before the first change and the
 * run settled after the last (runbook/settle.ts).
 */
export async function runRestore(deps: EngineDeps, req: RestoreRequest): Promise<Run> {
  const { config, target, logger, store } = deps;
  if (req.dump && req.archive) throw new RestoreError('RESTORE_ERR_USAGE', 'give either a dump or an archive, not both');
  const lock = req.check ? undefined : await store.lock('restore run');
  try {
    const intent = restoreIntent(deps);
    if (req.check) {
      const pending = await intent.read().catch(() => undefined);
      if (pending) logger.warn(`run ${pending.runId} was interrupted and is not recovered yet; a real run (or recover) finishes it first`);
    } else {
      await recoverWaiting(deps, 'the next run', { maxWaitMs: config.restore.recoveryWaitMs, onWait: recoveryWaitReporter(deps), signal: deps.signal });
    }
    const steps = restorePlan({ dump: !!req.dump, archive: !!req.archive, reachRestartsDatabase: target.reachingDatabaseRestartsIt });
    const options: RestoreOptions = { dump: req.dump, archive: req.archive, force: req.force, keepOldDb: req.keepOldDb, database: config.db.name };
    const run: Run = {
      id: newRunId(new Date(), (await store.journal.list())[0]?.id),
      phase: 'Pending',
      check: req.check,
      target: target.kind,
      options: { ...options, endpointStrategy: endpointStrategy(config) },
      plan: steps.map((s) => s.name),
      steps: [],
      requestedBy: req.requestedBy,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      finalizers: [],
    };
    const names = swapNames(options.database, runSuffix(run.id));
    if (!req.check) {
      await intent.write({
        version: 2,
        runId: run.id,
        pid: process.pid,
        holder: store.holder,
        startedAt: run.startedAt,
        params: options,
        plan: run.plan,
        steps: {},
      });
    }
    await store.journal.save(run);
    deps.onRun?.(run);
    // A bus or Podman connection lost under a step (and met again or not) is a fault of the run.
    let faults: RestoreContext['fault'] | undefined;
    const unwatch = target.watchConnections?.((loss) => faults?.({ kind: 'connection-lost', ...loss }));
    const finished = await executeRun<RestoreContext>({
      run,
      steps,
      journal: store.journal,
      logger,
      // A lock lost while held (a lease taken over) stops the run at its next safe point too.
      signal: anySignal([deps.signal, lock?.lost]),
      recorder: req.check ? undefined : { record: (step, data) => intent.recordStep(step, data) },
      onEvent: deps.onEvent,
      context: (runtime) => {
        const ctx = createRestoreContext(runtime, { run, config, target, journal: store.journal, names, options, dataStores: deps.dataStores });
        faults = ctx.fault;
        return ctx;
      },
      finalize: async (outcome, ctx): Promise<SettleResult> => {
        if (req.check) return { actions: [], completed: false };
        // Another process took the lock over (this one was frozen past its lease): that process
        // settles this run from the intent; acting here too would race it.
        if (lock?.lost?.aborted) {
          return {
            actions: [{ kind: 'note', msg: 'the lock was taken over by another operation, which finishes this run: nothing more was done here' }],
            completed: false,
          };
        }
        if (outcome !== 'succeeded') logger.warn('the run did not finish: running the finalizers', { runId: run.id, outcome });
        // The signal that ended the run must not cut its settling short.
        const finished = new Set(run.steps.filter((s) => s.status === 'ok' || s.status === 'changed').map((s) => s.name));
        const result = await settleWaiting(
          deps,
          () => settleRecorded(intent, steps, { ...ctx, signal: new AbortController().signal }, outcome, { doc: intent.current, finished }),
          (why, delayMs) =>
            ctx.fault({
              kind: 'server-unavailable',
              code: causesOf(why)[0]!.code,
              message: causesOf(why)
                .map((c) => c.message)
                .join('; '),
              action: `the finalizers waited ${Math.round(delayMs / 100) / 10} s and tried again`,
            }),
        );
        // After a success only releases run (the extracted archive goes): not what "finalizers" reports.
        if (outcome === 'succeeded') {
          for (const a of result.actions) logger.debug(a.msg, { runId: run.id, step: a.step });
          return { ...result, actions: result.failure ? result.actions : [] };
        }
        return result;
      },
    }).finally(unwatch);
    await store.journal.prune(config.restore.keepRuns).catch(() => undefined);
    return finished;
  } finally {
    await lock?.release();
  }
}

/**
 * A run's own settling, tried again (bounded by restore.recoveryWaitMs) while what stands in its
 * way may come back by itself: a database or KV store restarted by systemd under the run. What
 * an attempt that did not finish did do is kept in the actions, with each wait, so the run tells
 * the whole story.
 */
async function settleWaiting(
  deps: SettleDeps,
  settle: () => Promise<SettleResult>,
  onWait: (why: RestoreError, delayMs: number) => void,
): Promise<SettleResult> {
  const done: SettleAction[] = [];
  let last: SettleResult | undefined;
  try {
    await retrying(
      async () => {
        last = undefined;
        last = await settle();
        if (last.failure) throw last.failure;
      },
      {
        ...RECOVERY_BACKOFF,
        maxWaitMs: deps.config.restore.recoveryWaitMs,
        retryIf: worthWaiting,
        onWait: (why, delay) => {
          done.push(...(last?.actions ?? []).filter((a) => !a.error), { kind: 'note', msg: `waited for ${recoveryObstacle(why)}` });
          onWait(why, delay);
        },
      },
    );
  } catch (err) {
    // A settling that did not finish is in its result; without one the settling itself broke.
    if (!(last as SettleResult | undefined)) throw err;
  }
  const final = last as unknown as SettleResult;
  return { ...final, actions: [...done, ...final.actions] };
}

/** What recovery waits for is said: in the log, or where the caller shows it. */
export function recoveryWaitReporter(deps: Pick<SettleDeps, 'logger' | 'onRecoveryWait'>) {
  return (why: RestoreError, retryInMs: number) =>
    deps.onRecoveryWait
      ? deps.onRecoveryWait(why, retryInMs)
      : deps.logger.warn(`recovery waits: ${recoveryObstacle(why)}; trying again in ${Math.round(retryInMs / 100) / 10} s`);
}

/**
 * `recover`: finishes an interrupted run (what `run` does first), under the lock, waiting (bounded,
 * restore.recoveryWaitMs unless `maxWaitMs`) for servers that are not back yet.
 */
export async function recover(deps: SettleDeps, by: string, opts: { maxWaitMs?: number } = {}): Promise<RecoveryReport> {
  const lock = await deps.store.lock('recover');
  try {
    return await recoverWaiting(deps, by, { maxWaitMs: opts.maxWaitMs ?? deps.config.restore.recoveryWaitMs, onWait: recoveryWaitReporter(deps) });
  } finally {
    await lock.release();
  }
}
