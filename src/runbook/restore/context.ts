import type { Config } from '../../config/schema.js';
import type { ArchiveMetadata } from '../../flightctl/archive/format.js';
import type { Extracted } from '../../flightctl/archive/reader.js';
import type { DumpFile } from '../../flightctl/database/dump-format.js';
import type { SwapNames } from '../../flightctl/database/swap-sql.js';
import type { KvEndpoint } from '../../flightctl/datastores/kv.js';
import type { PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import type { LastSeenLocation } from '../../flightctl/prepare/schema.js';
import { RestoreError } from '../../lib/errors.js';
import type { DataEndpoints, RestoreTarget } from '../../targets/target.js';
import type { Run } from '../run-model.js';
import type { StepRuntime } from '../runner.js';
import type { IntentStore, JournalStore } from '../store.js';

export interface RestoreOptions {
  dump?: string | undefined;
  /** A Flight Control backup archive (tar.gz with its .sha256). */
  archive?: string | undefined;
  force: boolean;
  keepOldDb: boolean;
}

export interface UnpackedArchive {
  /** Where it was extracted (undefined in check mode: it was only scanned). */
  dir?: string;
  metadata: ArchiveMetadata;
  entries: Extracted['entries'];
}

/** What the steps of one run learn and hand on to the later ones. */
export interface RestoreState {
  dump?: DumpFile;
  archive?: UnpackedArchive;
  /** Schema generation of the running Flight Control, when its version could be told. */
  runningSchema?: LastSeenLocation;
  /** The application services are stopped by this run (the downtime window is open). */
  window: boolean;
  /** publish-dropin: the lease that publishes db and kv, held inside the window only. */
  windowLease?: DataEndpoints;
  staged?: { db: number; keys: number };
  swapped: boolean;
  /** Without a dump: the checks found nothing to change, so nothing is stopped either. */
  nothingToDo?: boolean;
  /** Without a dump: whether anything needs the services stopped (the checks of the later steps). */
  windowWork?: boolean;
  /** Without a dump: the KV store already holds exactly the keys (set by the window check). */
  kvComplete?: boolean;
  stoppedAt?: number;
}

export interface RestoreContext extends StepRuntime {
  run: Run;
  config: Readonly<Config>;
  target: RestoreTarget;
  intent: IntentStore;
  journal: JournalStore;
  names: SwapNames;
  options: RestoreOptions;
  state: RestoreState;
  /** The data stores as reachable now: through the window lease with publish-dropin. */
  endpoints(): Promise<DataEndpoints>;
  /** Whether the data stores can be reached over the network at this point of the run. */
  canConnect(): boolean;
  dbEndpoint(ep: DataEndpoints, database: string): Promise<PostgresEndpoint>;
  /** Undefined when the KV store is reached through target.kvShell instead (publish-dropin). */
  kvEndpoint(ep: DataEndpoints): Promise<KvEndpoint | undefined>;
}

export function createRestoreContext(
  runtime: StepRuntime,
  deps: { run: Run; config: Readonly<Config>; target: RestoreTarget; intent: IntentStore; journal: JournalStore; names: SwapNames; options: RestoreOptions },
): RestoreContext {
  const state: RestoreState = { window: false, swapped: false };
  const { target, config } = deps;
  const canConnect = () => !target.disruptiveEndpoints || state.window;
  return {
    ...deps,
    check: runtime.check,
    signal: runtime.signal,
    logger: runtime.logger,
    progress: (p) => runtime.progress(p),
    warn: (text) => runtime.warn(text),
    setPhase: (phase) => runtime.setPhase(phase),
    state,
    canConnect,
    async endpoints(): Promise<DataEndpoints> {
      if (!target.disruptiveEndpoints) return target.endpoints();
      if (!state.window) {
        throw new RestoreError('RESTORE_ERR_INTERNAL', 'publish-dropin endpoints were asked for outside the stop window');
      }
      state.windowLease ??= await target.endpoints();
      return state.windowLease;
    },
    async dbEndpoint(ep: DataEndpoints, database: string): Promise<PostgresEndpoint> {
      const creds = await target.credentials();
      return { host: ep.db.host, port: ep.db.port, database, user: creds.dbUser, password: creds.dbPassword, connectTimeoutMs: config.db.connectTimeoutMs };
    },
    async kvEndpoint(ep: DataEndpoints): Promise<KvEndpoint | undefined> {
      if (!ep.kv) return undefined;
      const creds = await target.credentials();
      return { host: ep.kv.host, port: ep.kv.port, password: creds.kvPassword, connectTimeoutMs: config.kv.connectTimeoutMs };
    },
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
