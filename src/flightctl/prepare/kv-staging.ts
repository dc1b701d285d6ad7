import type pg from 'pg';
import type { Logger } from 'winston';
import { RestoreError } from '../../lib/errors.js';
import { classifyKvError, connectKv, withKv, type KvEndpoint } from '../datastores/kv.js';
import { countAwaitingReconnectKeys, keyspaceDatabases, writeAwaitingReconnectKeys } from './kv-keys.js';

/**
 * The KV part split in two, so that nothing growing with the fleet happens while the services are
 * stopped: the keys of the restored database are written into a spare KV database (Flight
 * Control only uses database 0) while the services still run, then swapped in with SWAPDB, which
 * takes constant time.
 */
export interface StageOptions {
  kv: KvEndpoint;
  stagingDb: number;
  batchSize: number;
  signal?: AbortSignal | undefined;
  onProgress?: (written: number, expected: number) => Promise<void> | void;
  logger?: Logger;
}

export type StageOutcome = { staged: true; keys: number } | { staged: false; reason: 'no-such-database' };

/** Redis's answer to SELECT of a database it was not configured with (`databases` in redis.conf). */
function isMissingDatabase(err: unknown): boolean {
  return (err as Error)?.name === 'ReplyError' && /DB index is out of range/i.test((err as Error).message);
}

/**
 * Empties the spare database, then writes and verifies every key there. A store configured with
 * fewer databases has no spare one: that is an answer (the keys are written later), not a failure.
 */
export async function stageAwaitingReconnectKeys(db: pg.Client, opts: StageOptions): Promise<StageOutcome> {
  if (opts.stagingDb === 0) throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', 'kv.stagingDb must not be 0: database 0 is the one Flight Control uses');
  const expected = await countAwaitingReconnectKeys(db);
  const redis = await connectKv(opts.kv, opts.logger);
  try {
    try {
      await redis.select(opts.stagingDb);
    } catch (err) {
      if (isMissingDatabase(err)) return { staged: false, reason: 'no-such-database' };
      throw classifyKvError(err, opts.kv);
    }
    const r = await writeAwaitingReconnectKeys(db, redis, {
      kvEndpoint: opts.kv,
      batchSize: opts.batchSize,
      signal: opts.signal,
      onProgress: opts.onProgress,
      flush: 'db',
      expected,
    });
    return { staged: true, keys: r.kvKeysWritten };
  } finally {
    redis.disconnect();
  }
}

/** Whether the server refused SWAPDB itself (too old, or renamed away), not the data. */
function isSwapUnsupported(err: unknown): boolean {
  return /unknown command|ERR unknown|command not allowed|NOPERM/i.test(String((err as Error)?.message));
}

/** Not swapped: SWAPDB refused, or (`lost`) the staged keys are no longer all there. */
export type SwapOutcome = { swapped: true; keys: number } | { swapped: false; reason: string; lost?: boolean };

/**
 * SWAPDB 0 <staging>, then every other database emptied: the store ends exactly as after
 * FLUSHALL and the keys. The count in database 0 is verified against what was staged.
 */
export async function swapInStagedKeys(kvEp: KvEndpoint, stagingDb: number, expected: number): Promise<SwapOutcome> {
  return withKv(kvEp, async (redis) => {
    await redis.select(stagingDb);
    const inStaging = await redis.dbsize();
    await redis.select(0);
    // A KV store restarted since the staging (it keeps nothing) or emptied by someone: not swapped in.
    if (inStaging !== expected)
      return { swapped: false, reason: `the spare KV database ${stagingDb} holds ${inStaging} keys, ${expected} were staged`, lost: true };
    try {
      await redis.call('SWAPDB', '0', String(stagingDb));
    } catch (err) {
      if (isSwapUnsupported(err)) return { swapped: false, reason: `the KV store refused SWAPDB (${String((err as Error).message).split('\n')[0]})` };
      throw classifyKvError(err, kvEp);
    }
    // The old content is now in the spare database; it and anything in other databases goes.
    for (const n of keyspaceDatabases(await redis.info('keyspace'))) {
      if (n === 0) continue;
      await redis.select(n);
      await redis.call('FLUSHDB', 'ASYNC');
    }
    await redis.select(0);
    const keys = await redis.dbsize();
    if (keys !== expected) {
      throw new RestoreError('RESTORE_ERR_KV_VERIFY', `expected ${expected} awaiting-reconnect keys in the KV store after SWAPDB, found ${keys}`, {
        expected,
        found: keys,
      });
    }
    return { swapped: true, keys };
  });
}

/** Empties the spare database (a rolled-back run); answers whether it held keys. A store without it holds none. */
export async function clearStagingDb(kvEp: KvEndpoint, stagingDb: number): Promise<boolean> {
  if (stagingDb === 0) return false;
  return withKv(kvEp, async (redis) => {
    try {
      await redis.select(stagingDb);
    } catch (err) {
      if (isMissingDatabase(err)) return false;
      throw err;
    }
    const keys = await redis.dbsize();
    if (keys > 0) await redis.call('FLUSHDB', 'ASYNC');
    await redis.select(0);
    return keys > 0;
  });
}
