import { promises as fs } from 'node:fs';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import { swapNames } from '../../flightctl/database/swap-sql.js';
import { RestoreError } from '../../lib/errors.js';
import type { RestoreTarget } from '../../targets/target.js';
import type { Run, RunEvent } from '../run-model.js';
import { executeRun, newRunId, runSuffix } from '../runner.js';
import { anySignal } from '../store.js';
import { createRestoreContext, type RestoreContext } from './context.js';
import { restorePlan } from './plan.js';
import { recoverHost, type RecoveryReport } from './recovery.js';
import { settle } from './settle.js';

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

export interface EngineDeps {
  config: Readonly<Config>;
  logger: Logger;
  target: RestoreTarget;
  signal: AbortSignal;
  onEvent?(event: RunEvent): void;
  /** Called with the run once it is recorded, before its first step. */
  onRun?(run: Run): void;
}

function newRun(deps: EngineDeps, req: RestoreRequest): Run {
  const id = newRunId();
  const plan = restorePlan({ dump: !!req.dump, archive: !!req.archive, disruptiveEndpoints: deps.target.disruptiveEndpoints });
  return {
    id,
    phase: 'Pending',
    check: req.check,
    target: deps.target.kind,
    options: { dump: req.dump, archive: req.archive, force: req.force, keepOldDb: req.keepOldDb, database: deps.config.db.name, endpointStrategy: deps.target.endpointStrategy },
    plan: plan.map((s) => s.name),
    steps: [],
    requestedBy: req.requestedBy,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    finalizers: [],
  };
}

/**
 * One restore: under the lock (a check run takes none: it changes nothing), after finishing
 * whatever an earlier process left, with the intent recorded before the first change and the
 * finalizers after the last. Journal, intent and lock live where the target keeps them.
 */
export async function runRestore(deps: EngineDeps, req: RestoreRequest): Promise<Run> {
  const { config, target, logger } = deps;
  const store = target.runStore;
  const journal = store.journal;
  const intentFile = store.intent;
  if (req.dump && req.archive) throw new RestoreError('RESTORE_ERR_USAGE', 'give either a dump or an archive, not both');
  const lock = req.check ? undefined : await store.lock('restore run');
  try {
    if (req.check) {
      const pending = await intentFile.read();
      if (pending) logger.warn(`run ${pending.runId} was interrupted and is not recovered yet; a real run (or recover) finishes it first`);
    } else {
      await recoverHost({ target, intentFile, config, logger }, store, 'the next run');
    }
    const run = newRun(deps, req);
    const names = swapNames(config.db.name, runSuffix(run.id));
    if (!req.check) {
      await intentFile.write({
        version: 1,
        runId: run.id,
        pid: process.pid,
        holder: store.holder,
        startedAt: run.startedAt,
        // An archive says in its metadata; unpack-archive corrects this for an external database.
        withDump: !!req.dump || !!req.archive,
        keepOldDb: req.keepOldDb,
        database: { name: names.live },
        liveTouched: false,
      });
    }
    await journal.save(run);
    deps.onRun?.(run);
    const steps = restorePlan({ dump: !!req.dump, archive: !!req.archive, disruptiveEndpoints: target.disruptiveEndpoints });
    const finished = await executeRun<RestoreContext>({
      run,
      steps,
      journal,
      logger,
      // A lock lost while held (a lease taken over) stops the run at its next safe point too.
      signal: anySignal([deps.signal, lock?.lost]),
      onEvent: deps.onEvent,
      context: (runtime) => createRestoreContext(runtime, { run, config, target, intent: intentFile, journal, names, options: { dump: req.dump, archive: req.archive, force: req.force, keepOldDb: req.keepOldDb } }),
      finalize: async (outcome, ctx) => {
        if (req.check) return [];
        // Another process took the lock over (this one was frozen past its lease): that process
        // finishes this run from the intent; acting here too would race it.
        if (lock?.lost?.aborted) return ['the lock was taken over by another operation, which finishes this run: nothing more was done here'];
        if (outcome === 'succeeded') {
          // The extracted archive has served; nothing of it stays on the host.
          const extractDir = (await intentFile.read())?.extractDir;
          if (extractDir) await fs.rm(extractDir, { recursive: true, force: true });
          await intentFile.clear();
          return [];
        }
        logger.warn('the run did not finish: running the finalizers', { runId: run.id, outcome });
        return settle({ target, intentFile, config, logger, windowLease: ctx.state.windowLease }, await intentFile.read());
      },
    });
    await journal.prune(config.restore.keepRuns).catch(() => undefined);
    return finished;
  } finally {
    await lock?.release();
  }
}

/** `recover`: finishes an interrupted run (what `run` does first), under the lock. */
export async function recover(deps: Omit<EngineDeps, 'signal' | 'onEvent' | 'onRun'>, by: string): Promise<RecoveryReport> {
  const store = deps.target.runStore;
  const lock = await store.lock('recover');
  try {
    return await recoverHost({ target: deps.target, intentFile: store.intent, config: deps.config, logger: deps.logger }, store, by);
  } finally {
    await lock.release();
  }
}

