import type pg from 'pg';
import type { Redis } from 'ioredis';
import { AWAITING_RECONNECT_ANNOTATION, AWAITING_RECONNECT_INFO } from '../src/flightctl/prepare/marks.js';
import { deviceStatement, ENROLLMENT_STATEMENT } from '../src/flightctl/prepare/sql.js';
import type { FlightctlSchema } from '../src/flightctl/prepare/schema.js';

/**
 * The ceiling: the bare statements our preparation runs, in autocommit, with no detection, no
 * transaction, no event and no verification; then every key written with pipelined SETs from
 * one plain query. Nothing that does this work can be much faster on the same machine.
 */
export async function runCeiling(db: pg.Client, redis: Redis, schema: FlightctlSchema): Promise<{ keys: number }> {
  await db.query(deviceStatement(schema), [AWAITING_RECONNECT_ANNOTATION, AWAITING_RECONNECT_INFO]);
  await db.query(ENROLLMENT_STATEMENT, [AWAITING_RECONNECT_ANNOTATION]);
  await redis.flushall();
  const { rows } = await db.query<{ k: string }>(
    `SELECT 'v1/' || d.org_id::text || '/device/' || d.name || '/awaiting-reconnect' AS k FROM devices d WHERE d.deleted_at IS NULL`,
  );
  for (let i = 0; i < rows.length; i += 10_000) {
    const pipeline = redis.pipeline();
    for (const { k } of rows.slice(i, i + 10_000)) pipeline.set(k, 'true');
    await pipeline.exec();
  }
  return { keys: rows.length };
}
