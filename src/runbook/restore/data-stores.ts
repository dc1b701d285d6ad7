import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import type { DumpFile } from '../../flightctl/database/dump-format.js';
import {
  createTempDatabaseSql,
  dropDatabaseSql,
  existingDatabasesSql,
  ident,
  literal,
  loadPrivilegesSql,
  parseLoadPrivileges,
  swapSql,
  type SwapNames,
} from '../../flightctl/database/swap-sql.js';
import { connectKv, withKv } from '../../flightctl/datastores/kv.js';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { DEVICE_SUMMARY_JSON_SQL, parseSummaryJson, type DeviceSummary } from '../../flightctl/devices/summary-sql.js';
import { writeKeysThroughShell } from '../../flightctl/prepare/kv-pipe.js';
import { checkAwaitingReconnectKeys, type KvCheck } from '../../flightctl/prepare/kv-keys.js';
import { clearStagingDb, stageAwaitingReconnectKeys, swapInStagedKeys, type StageOutcome, type SwapOutcome } from '../../flightctl/prepare/kv-staging.js';
import { prepare } from '../../flightctl/prepare/prepare.js';
import { detectSchema, type LastSeenLocation } from '../../flightctl/prepare/schema.js';
import { checkDatabase } from '../../flightctl/prepare/sql.js';
import { RestoreError } from '../../lib/errors.js';
import { kvAt, postgresAt } from '../../targets/data-endpoints.js';
import type { DataEndpoints, LoadOptions, RestoreTarget } from '../../targets/target.js';

export type { KvCheck } from '../../flightctl/prepare/kv-keys.js';

type OnProgress = (done: number, total: number) => Promise<void> | void;

export interface LiveDatabase {
  bytes: number;
  /** The data directory, whose volume must hold a second copy. */
  dataDir: string;
  /** `<db>_restore_*` databases an earlier run left. */
  leftovers: number;
}

export interface MarkCounts {
  devicesUpdated: number;
  enrollmentRequestsUpdated: number;
  eventCreated: boolean;
  schema: string;
}

/**
 * What a restore does to Flight Control's data stores, in the engine's words: the steps speak
 * only this, so the same steps run against the real stores (below: superuser SQL through the
 * target's database shell, the application's connections at the endpoints the run may use now)
 * and against the in-memory target of the tests.
 */
export interface RestoreData {
  /** The live database's size and data directory; RESTORE_ERR_DB_NOT_FLIGHTCTL when it is missing. */
  inspectLive(database: string): Promise<LiveDatabase>;
  /** Free bytes on the volume of dir; undefined when the target cannot tell. */
  freeBytes(dir: string): Promise<number | undefined>;
  /** Both stores answer with the secrets, as the later steps will reach them; answers how the KV store was reached. */
  ping(database: string): Promise<'network' | 'kv-client'>;
  /** The database answers the application's user. */
  reachable(database: string): Promise<void>;
  existing(names: string[]): Promise<Set<string>>;
  /** What the database user lacks to load a dump beside the live database and swap it in: [] when nothing. */
  missingLoadPrivileges(database: string): Promise<string[]>;
  createTemp(names: SwapNames): Promise<void>;
  load(database: string, dump: DumpFile, opts: LoadOptions): Promise<void>;
  /** Removes a copy of a dump a load left beside the database (LoadOptions.recordContainerFile). */
  removeDumpCopy(file: string): Promise<void>;
  /** Where the loaded database keeps last_seen; undefined when it has no devices table. */
  schemaOf(database: string): Promise<LastSeenLocation | undefined>;
  /** The SQL part of the preparation (check: counts only). */
  markDevices(database: string, check: boolean, signal?: AbortSignal): Promise<MarkCounts>;
  summary(database: string): Promise<DeviceSummary>;
  /** What the KV store holds against what the database's devices need; undefined when only its own client reaches it. */
  keys(database: string, signal?: AbortSignal): Promise<KvCheck | undefined>;
  /** How many keys the KV store's database 0 holds (DBSIZE); undefined when only its own client reaches it. */
  kvSize(): Promise<number | undefined>;
  /** FLUSHALL and every key of the database, verified. */
  writeKeys(database: string, onProgress?: OnProgress, signal?: AbortSignal): Promise<{ keys: number; method: 'write' | 'client-pipe' }>;
  /** The keys written and verified in a spare KV database while the services run. */
  stageKeys(database: string, kvDb: number, onProgress?: OnProgress, signal?: AbortSignal): Promise<StageOutcome>;
  swapInStaged(kvDb: number, keys: number): Promise<SwapOutcome>;
  /** Empties the spare KV database; answers whether it held anything. */
  clearStaging(kvDb: number): Promise<boolean>;
  /** Both renames in one transaction. */
  swap(names: SwapNames, timeoutMs: number): Promise<void>;
  /** The previous database back under the live name (a swap half done by hand). */
  renameBack(names: SwapNames): Promise<void>;
  drop(database: string): Promise<void>;
}

export interface NetworkAccess {
  target: RestoreTarget;
  config: Readonly<Config>;
  logger: Logger;
  /** The stores as the run may reach them now (through the window's lease, where reaching restarts the database). */
  endpoints(): Promise<DataEndpoints>;
  /** Whether they may be reached over the network at this point of the run. */
  canConnect(): boolean;
}

/** The real data stores, through the target. */
export function networkDataStores(access: NetworkAccess): RestoreData {
  const { target, config, logger } = access;
  const shell = target.database;
  const batchSize = config.prepare.kvBatchSize;
  const db = async (database: string) => postgresAt(target, (await access.endpoints()).db, database, config);
  const kv = async () => kvAt(target, (await access.endpoints()).kv, config);
  const existing = async (names: string[]) => new Set((await shell.sql(existingDatabasesSql(names))).split('\n').filter(Boolean));

  return {
    async inspectLive(database) {
      const out = (
        await shell.sql(
          // The data directory is for superusers and pg_read_all_settings: an external database's application user sees ''.
          `SELECT pg_database_size(datname), CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN current_setting('data_directory') ELSE '' END FROM pg_database WHERE datname = ${literal(database)};\n` +
            `SELECT count(*) FROM pg_database WHERE datname LIKE ${literal(`${database}\\_restore\\_%`)};\n`,
        )
      )
        .trim()
        .split('\n');
      if (out.length < 2 || !out[0]!.includes('|'))
        throw new RestoreError('RESTORE_ERR_DB_NOT_FLIGHTCTL', `database ${database} does not exist on Flight Control's database server`, { database });
      const [size, dataDir] = out[0]!.split('|');
      return { bytes: Number(size), dataDir: dataDir!, leftovers: Number(out[1]) };
    },
    freeBytes: (dir) => shell.freeBytes(dir),
    async ping(database) {
      if (!access.canConnect()) {
        await target.kvShell.command(['PING']);
        return 'kv-client';
      }
      await withPostgres(await db(database), (c) => c.query('SELECT 1'));
      const kvEp = await kv();
      await (kvEp ? withKv(kvEp, (r) => r.ping()) : target.kvShell.command(['PING']));
      return 'network';
    },
    async reachable(database) {
      await withPostgres(await db(database), (c) => c.query('SELECT 1'));
    },
    existing,
    async missingLoadPrivileges(database) {
      const [row] = (await shell.sql(loadPrivilegesSql(database))).trim().split('\n');
      return parseLoadPrivileges(row ?? '', database);
    },
    async createTemp(names) {
      await shell.sql(createTempDatabaseSql(names));
      if (!(await existing([names.temp])).has(names.temp)) throw new RestoreError('RESTORE_ERR_INTERNAL', `${names.temp} was not created`);
    },
    load: (database, dump, opts) => shell.load(database, dump, opts),
    removeDumpCopy: (file) => shell.removeFile(file),
    async schemaOf(database) {
      const out = await shell.sql(
        `SELECT string_agg(table_name || '.' || column_name, ',') FROM information_schema.columns
          WHERE table_schema = 'public' AND ((table_name = 'devices' AND column_name IN ('name', 'last_seen')) OR table_name = 'device_timestamps');\n`,
        { database },
      );
      const cols = new Set(out.trim().split(','));
      if (!cols.has('devices.name')) return undefined;
      return cols.has('device_timestamps.last_seen') ? 'device_timestamps' : 'devices.last_seen';
    },
    async markDevices(database, check, signal) {
      const ep = await db(database);
      if (check) {
        const c = await withPostgres(ep, async (client) => checkDatabase(client, await detectSchema(client, database)));
        return { devicesUpdated: c.devicesUpdated, enrollmentRequestsUpdated: c.enrollmentRequestsUpdated, eventCreated: c.eventCreated, schema: '' };
      }
      const r = await prepare({ db: ep, check: false, parts: { sql: true, kv: false }, kvBatchSize: batchSize, logger, signal });
      return { devicesUpdated: r.devicesUpdated, enrollmentRequestsUpdated: r.enrollmentRequestsUpdated, eventCreated: r.eventCreated, schema: r.schema };
    },
    async summary(database) {
      return parseSummaryJson(await shell.sql(DEVICE_SUMMARY_JSON_SQL, { database }));
    },
    async keys(database, signal) {
      const kvEp = await kv();
      if (!kvEp) return undefined;
      const redis = await connectKv(kvEp, logger);
      try {
        return await withPostgres(await db(database), (c) => checkAwaitingReconnectKeys(c, redis, { kvEndpoint: kvEp, batchSize, signal }));
      } finally {
        redis.disconnect();
      }
    },
    async kvSize() {
      const kvEp = await kv();
      return kvEp ? withKv(kvEp, (redis) => redis.dbsize()) : undefined;
    },
    async writeKeys(database, onProgress, signal) {
      const dbEp = await db(database);
      const kvEp = await kv();
      if (!kvEp) {
        const keys = await withPostgres(dbEp, (c) => writeKeysThroughShell(c, target.kvShell, { batchSize, signal, onProgress }));
        return { keys, method: 'client-pipe' };
      }
      const r = await prepare({
        db: dbEp,
        kv: kvEp,
        check: false,
        parts: { sql: false, kv: true },
        kvBatchSize: batchSize,
        logger,
        signal,
        onKeys: onProgress,
      });
      return { keys: r.kvKeysWritten, method: 'write' };
    },
    async stageKeys(database, kvDb, onProgress, signal) {
      const kvEp = await kv();
      if (!kvEp) throw new RestoreError('RESTORE_ERR_INTERNAL', 'keys can be staged only where the KV store is reached over the network');
      return withPostgres(await db(database), (c) => stageAwaitingReconnectKeys(c, { kv: kvEp, stagingDb: kvDb, batchSize, signal, logger, onProgress }));
    },
    async swapInStaged(kvDb, keys) {
      const kvEp = await kv();
      if (!kvEp) throw new RestoreError('RESTORE_ERR_INTERNAL', 'staged keys can be swapped in only where the KV store is reached over the network');
      return swapInStagedKeys(kvEp, kvDb, keys);
    },
    async clearStaging(kvDb) {
      const kvEp = await kv();
      if (kvEp) return clearStagingDb(kvEp, kvDb);
      const before = Number(await target.kvShell.command(['-n', String(kvDb), 'DBSIZE']));
      if (before > 0) await target.kvShell.command(['-n', String(kvDb), 'FLUSHDB']);
      return before > 0;
    },
    async swap(names, timeoutMs) {
      // No signal: once sent, the transaction commits or rolls back on its own; the settling
      // looks at which names exist afterwards.
      await shell.sql(swapSql(names, timeoutMs), { timeoutMs: timeoutMs + 30_000 });
    },
    async renameBack(names) {
      await shell.sql(`ALTER DATABASE ${ident(names.old)} RENAME TO ${ident(names.live)};\n`);
    },
    async drop(database) {
      await shell.sql(dropDatabaseSql(database));
    },
  };
}
