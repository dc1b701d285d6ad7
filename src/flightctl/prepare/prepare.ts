import type { Redis } from 'ioredis';
import type { Logger } from 'winston';
import { RestoreError } from '../../lib/errors.js';
import { connectKv, type KvEndpoint } from '../datastores/kv.js';
import { withPostgres, type PostgresEndpoint } from '../datastores/postgres.js';
import { countAwaitingReconnectKeys, writeAwaitingReconnectKeys } from './kv-keys.js';
import { detectSchema } from './schema.js';
import { checkDatabase, countOrganizations, prepareDatabase } from './sql.js';

export interface PrepareOptions {
  db: PostgresEndpoint;
  /** Needed for the KV part only. */
  kv?: KvEndpoint | undefined;
  /** Report what would change; change nothing. */
  check: boolean;
  /** Which parts to run; the engine runs the SQL part before a database swap and the KV part later. */
  parts: { sql: boolean; kv: boolean };
  kvBatchSize: number;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** Progress of the key writes (awaited between batches). */
  onKeys?: ((written: number, expected: number) => Promise<void> | void) | undefined;
}

export interface PrepareResult {
  devicesUpdated: number;
  enrollmentRequestsUpdated: number;
  kvKeysWritten: number;
  organizations: number;
  eventCreated: boolean;
  checkMode: boolean;
  durationMs: number;
  /** Where last_seen lives in this database's schema generation. */
  schema: string;
  lastSeenCleared?: number;
  /** Where the time went, for operators and the benchmark. */
  timings: { sqlMs: number; kvMs: number };
}

/**
 * Post-restore preparation (FLIGHTCTL.md §3). Order matters: the SQL transaction commits first,
 * and only then is the KV store flushed and refilled, so a failure in the SQL part leaves both
 * stores untouched. Both stores are reached before anything changes, so an unreachable KV store
 * is reported before the database is modified.
 */
export async function prepare(opts: PrepareOptions): Promise<PrepareResult> {
  const started = performance.now();
  const { logger } = opts;
  return withPostgres(opts.db, async (db) => {
    const schema = await detectSchema(db, opts.db.database);
    logger.debug('schema detected', { lastSeen: schema.lastSeen });
    const run = async (redis?: Redis): Promise<PrepareResult> => {
      const result: PrepareResult = {
        devicesUpdated: 0,
        enrollmentRequestsUpdated: 0,
        kvKeysWritten: 0,
        organizations: 0,
        eventCreated: false,
        checkMode: opts.check,
        durationMs: 0,
        schema: schema.lastSeen,
        timings: { sqlMs: 0, kvMs: 0 },
      };
      const phaseStart = performance.now();
      if (opts.check) {
        const counts = await checkDatabase(db, schema);
        result.organizations = counts.organizations;
        if (opts.parts.sql) {
          result.devicesUpdated = counts.devicesUpdated;
          result.enrollmentRequestsUpdated = counts.enrollmentRequestsUpdated;
          result.eventCreated = counts.eventCreated;
          result.lastSeenCleared = counts.lastSeenToClear;
        }
        if (opts.parts.kv) result.kvKeysWritten = await countAwaitingReconnectKeys(db);
      } else {
        if (opts.parts.sql) {
          logger.info('marking devices and enrollment requests (one transaction)', { database: opts.db.database });
          Object.assign(result, await prepareDatabase(db, schema));
          logger.info('database prepared', { devicesUpdated: result.devicesUpdated, enrollmentRequestsUpdated: result.enrollmentRequestsUpdated });
        } else {
          result.organizations = await countOrganizations(db);
        }
        result.timings.sqlMs = Math.round(performance.now() - phaseStart);
        if (opts.signal?.aborted && opts.parts.kv) {
          throw new RestoreError(
            'RESTORE_ERR_CANCELLED',
            `interrupted after the database part${opts.parts.sql ? ' committed' : ''}; the KV part did not run: run prepare --kv-only`,
          );
        }
        if (opts.parts.kv && redis) {
          const kvStart = performance.now();
          logger.info('flushing the KV store and writing awaiting-reconnect keys');
          // A million devices take tens of seconds: say how far it got, every few seconds.
          let lastReport = performance.now();
          const expected = opts.onKeys ? await countAwaitingReconnectKeys(db) : undefined;
          const onProgress = async (written: number, total: number) => {
            await opts.onKeys?.(written, total);
            if (performance.now() - lastReport < 5000) return;
            lastReport = performance.now();
            logger.info('awaiting-reconnect keys in progress', { kvKeysWritten: written });
          };
          const kv = await writeAwaitingReconnectKeys(db, redis, {
            kvEndpoint: opts.kv!,
            batchSize: opts.kvBatchSize,
            signal: opts.signal,
            onProgress,
            expected,
          });
          result.kvKeysWritten = kv.kvKeysWritten;
          result.timings.kvMs = Math.round(performance.now() - kvStart);
          logger.info('awaiting-reconnect keys written', { kvKeysWritten: kv.kvKeysWritten });
        }
      }
      result.durationMs = Math.round(performance.now() - started);
      return result;
    };
    // Open the KV connection before touching the database (also in check mode), so an
    // unreachable KV store fails early and harmlessly. Not withKv: the work below is mostly
    // PostgreSQL, whose errors must not be reported as the KV store's.
    if (opts.parts.kv && !opts.kv) throw new RestoreError('RESTORE_ERR_INTERNAL', 'the KV part was asked for without a KV endpoint');
    const redis = opts.parts.kv ? await connectKv(opts.kv!, logger) : undefined;
    try {
      return await run(redis);
    } finally {
      redis?.disconnect();
    }
  });
}
