import type pg from 'pg';
import Cursor from 'pg-cursor';
import type { Redis } from 'ioredis';
import { RestoreError } from '../../lib/errors.js';
import { classifyKvError, type KvEndpoint } from '../datastores/kv.js';
import { awaitingReconnectKey } from './marks.js';

// Every non-deleted device of every organization gets a key, marked or not (decommissioned ones
// included): the server looks the key up for any device that reconnects.
export const DEVICE_NAMES = `SELECT d.org_id::text AS org, d.name AS name
  FROM devices d JOIN organizations o ON o.id = d.org_id
 WHERE d.deleted_at IS NULL`;

export interface KvOptions {
  /** Names the KV store in error messages. */
  kvEndpoint: KvEndpoint;
  /** Keys per pipeline round trip. */
  batchSize: number;
  signal?: AbortSignal | undefined;
  /** Awaited between batches (a test's fault injection pauses the writes there). */
  onProgress?: ((keysWritten: number, expected: number) => Promise<void> | void) | undefined;
  /**
   * What is emptied first: 'all' (FLUSHALL, what Flight Control's own preparation does) or 'db'
   * (only the selected database: keys staged in a spare database while the services still run).
   */
  flush?: 'all' | 'db';
  /** Total expected, when the caller already counted it (for progress reports). */
  expected?: number;
}

export interface KvResult {
  kvKeysWritten: number;
  /** Keys found in the store after writing; equals kvKeysWritten unless something else writes. */
  kvKeysPresent: number;
}

export async function countAwaitingReconnectKeys(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM (${DEVICE_NAMES}) k`);
  return Number(rows[0]!.n);
}

type Row = { org: string; name: string };

export function writeBatch(redis: Redis, rows: Row[]): Promise<{ written: number; present: number }> {
  const keys = rows.map((r) => awaitingReconnectKey(r.org, r.name));
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.setnx(key, 'true');
  // Verify in the same round trip: EXISTS runs after the SETNXs on the server.
  pipeline.exists(...keys);
  return pipeline.exec().then((replies) => {
    if (!replies) throw new Error('pipeline was discarded');
    let written = 0;
    for (const [err, value] of replies.slice(0, -1)) {
      if (err) throw err;
      written += Number(value);
    }
    const [existsErr, present] = replies[replies.length - 1]!;
    if (existsErr) throw existsErr;
    return { written, present: Number(present) };
  });
}

/**
 * The KV part: FLUSHALL, then SETNX v1/<org>/device/<name>/awaiting-reconnect for every
 * non-deleted device, streamed from PostgreSQL with a cursor and pipelined to Redis (the next
 * batch of names is read while the previous one is written), then verified.
 * Call it only after the SQL part committed.
 */
export async function writeAwaitingReconnectKeys(db: pg.Client, redis: Redis, opts: KvOptions): Promise<KvResult> {
  // Redis failures get KV codes here, where they happen; a failing cursor read stays a
  // PostgreSQL error for the caller to classify.
  const kv = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      throw classifyKvError(err, opts.kvEndpoint);
    });
  await kv(opts.flush === 'db' ? redis.flushdb() : redis.flushall());
  const cursor = db.query(new Cursor<Row>(DEVICE_NAMES));
  let expected = 0;
  let written = 0;
  let presentInBatches = 0;
  let inflight: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      if (opts.signal?.aborted)
        throw new RestoreError('RESTORE_ERR_CANCELLED', `interrupted after ${written} awaiting-reconnect keys; run prepare --kv-only to write them all`);
      const [rows] = await Promise.all([cursor.read(opts.batchSize), inflight]);
      if (rows.length === 0) break;
      expected += rows.length;
      inflight = kv(writeBatch(redis, rows)).then(async (r) => {
        written += r.written;
        presentInBatches += r.present;
        await opts.onProgress?.(written, opts.expected ?? expected);
      });
    }
    await inflight;
  } finally {
    await cursor.close().catch(() => undefined);
  }
  // A shortfall means keys were lost (eviction, a concurrent FLUSHALL, a read-only replica):
  // a device without its key would stay AwaitingReconnect forever.
  const total = await kv(redis.dbsize());
  if (presentInBatches < expected || total < expected) {
    throw new RestoreError(
      'RESTORE_ERR_KV_VERIFY',
      `expected ${expected} awaiting-reconnect keys in the KV store, found ${Math.min(presentInBatches, total)}`,
      { expected, found: Math.min(presentInBatches, total) },
    );
  }
  return { kvKeysWritten: written, kvKeysPresent: total };
}

export interface KvCheck {
  /** Keys the devices need. */
  expected: number;
  /** Of those, present in the selected database. */
  present: number;
  /** Keys in the whole store (every database) beyond those: FLUSHALL would remove them. */
  other: number;
}

/**
 * Read-only: whether the store already holds exactly what the KV part would leave (every key,
 * nothing else), so that a second run can report `ok` instead of flushing again.
 */
export async function checkAwaitingReconnectKeys(db: pg.Client, redis: Redis, opts: Pick<KvOptions, 'kvEndpoint' | 'batchSize' | 'signal'>): Promise<KvCheck> {
  const kv = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      throw classifyKvError(err, opts.kvEndpoint);
    });
  const cursor = db.query(new Cursor<Row>(DEVICE_NAMES));
  let expected = 0;
  let present = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', 'interrupted while checking the awaiting-reconnect keys');
      const rows = await cursor.read(opts.batchSize);
      if (rows.length === 0) break;
      expected += rows.length;
      present += Number(await kv(redis.exists(...rows.map((r) => awaitingReconnectKey(r.org, r.name)))));
    }
  } finally {
    await cursor.close().catch(() => undefined);
  }
  const total = keyspaceTotal(await kv(redis.info('keyspace')));
  return { expected, present, other: Math.max(0, total - present) };
}

/** Sum of keys over every database of `INFO keyspace` ("db0:keys=5,expires=0,avg_ttl=0"). */
export function keyspaceTotal(info: string): number {
  let total = 0;
  for (const m of info.matchAll(/^db\d+:keys=(\d+)/gm)) total += Number(m[1]);
  return total;
}

/** Database indexes that hold keys, from `INFO keyspace`. */
export function keyspaceDatabases(info: string): number[] {
  return [...info.matchAll(/^db(\d+):keys=\d+/gm)].map((m) => Number(m[1]));
}
