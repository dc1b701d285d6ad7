import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import type { ArchiveMetadata } from '../../flightctl/archive/format.js';
import type { Extracted } from '../../flightctl/archive/reader.js';
import type { DumpFile } from '../../flightctl/database/dump-format.js';
import type { SwapNames } from '../../flightctl/database/swap-sql.js';
import type { LastSeenLocation } from '../../flightctl/prepare/schema.js';
import { RestoreError } from '../../lib/errors.js';
import type { DataEndpoints, RestoreTarget } from '../../targets/target.js';
import type { Run } from '../../model/run.js';
import type { StepRuntime } from '../step.js';
import type { JournalStore } from '../store/run-store.js';
import { networkDataStores, type RestoreData } from './data-stores.js';

/** What a restore was asked to do: recorded in its intent, so another process can rebuild its context. */
export const restoreParamsSchema = z.object({
  dump: z.string().optional(),
  /** A Flight Control backup archive (tar.gz with its .sha256). */
  archive: z.string().optional(),
  force: z.boolean(),
  keepOldDb: z.boolean(),
  /** The live database, e.g. flightctl; the run's others are named after it. */
  database: z.string(),
});
export type RestoreOptions = z.infer<typeof restoreParamsSchema>;

export interface UnpackedArchive {
  /** Where it was extracted (undefined in check mode: it was only scanned). */
  dir?: string | undefined;
  metadata: ArchiveMetadata;
  /** What it holds (empty when rebuilt from the intent: only the checks read it). */
  entries: Extracted['entries'];
}

/** What the steps of one run learn and hand on to the later ones. */
export interface RestoreState {
  dump?: DumpFile;
  archive?: UnpackedArchive;
  /** Schema generation of the running Flight Control, when its version could be told. */
  runningSchema?: LastSeenLocation;
  /** The application services may be stopped by this run (the downtime window is open). */
  window: boolean;
  /** Where reaching the database restarts it: the lease that publishes it, held inside the window only. */
  windowLease?: DataEndpoints | undefined;
  staged?: { db: number; keys: number };
  /** Without a dump: the checks found nothing to change, so nothing is stopped either. */
  nothingToDo?: boolean;
  /** Without a dump: whether anything needs the services stopped (the checks of the later steps). */
  windowWork?: boolean;
  /** Without a dump: the KV store already holds exactly the keys (set by the window check). */
  kvComplete?: boolean;
  stoppedAt?: number;
  /** How many keys prepare-kv left in the KV store: checked again right before the services start. */
  kvKeys?: number;
}

export interface RestoreContext extends StepRuntime {
  run: Run;
  config: Readonly<Config>;
  target: RestoreTarget;
  /** The data stores, in the engine's words. */
  data: RestoreData;
  journal: JournalStore;
  names: SwapNames;
  options: RestoreOptions;
  state: RestoreState;
  /** The data stores as reachable now: through the window's lease where reaching restarts the database. */
  endpoints(): Promise<DataEndpoints>;
  /** Whether the data stores can be reached over the network at this point of the run. */
  canConnect(): boolean;
}

export interface ContextDeps {
  run: Run;
  config: Readonly<Config>;
  target: RestoreTarget;
  journal: JournalStore;
  names: SwapNames;
  options: RestoreOptions;
  /** The data stores behind the target; default: the real ones (tests give the in-memory target's). */
  dataStores?: (access: Pick<RestoreContext, 'endpoints' | 'canConnect'>) => RestoreData;
}

export function createRestoreContext(runtime: StepRuntime, deps: ContextDeps): RestoreContext {
  const state: RestoreState = { window: false };
  const { target } = deps;
  const canConnect = () => !target.reachingDatabaseRestartsIt || state.window;
  const endpoints = async (): Promise<DataEndpoints> => {
    if (!target.reachingDatabaseRestartsIt) return target.endpoints();
    if (!state.window)
      throw new RestoreError('RESTORE_ERR_INTERNAL', 'the data stores were asked for outside the stop window, where reaching them would restart the database');
    state.windowLease ??= await target.endpoints();
    return state.windowLease;
  };
  const access = { endpoints, canConnect };
  return {
    run: deps.run,
    config: deps.config,
    target,
    journal: deps.journal,
    names: deps.names,
    options: deps.options,
    data: deps.dataStores ? deps.dataStores(access) : networkDataStores({ target, config: deps.config, logger: runtime.logger, ...access }),
    check: runtime.check,
    signal: runtime.signal,
    logger: runtime.logger,
    progress: (p) => runtime.progress(p),
    warn: (text) => runtime.warn(text),
    fault: (f) => runtime.fault(f),
    setPhase: (phase) => runtime.setPhase(phase),
    record: (data) => runtime.record(data),
    state,
    ...access,
  };
}

/** Whether this run loads a database: a --dump, or an archive that includes one. */
export function loadsDump(ctx: RestoreContext): boolean {
  return !!ctx.options.dump || (!!ctx.options.archive && ctx.state.archive?.metadata.databaseIncluded !== false);
}

/** An archive of a deployment with an external database: the operator restores that database. */
export function externalDatabase(ctx: RestoreContext): boolean {
  return !!ctx.options.archive && ctx.state.archive?.metadata.databaseIncluded === false;
}
