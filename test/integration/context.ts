import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { describe, inject } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import type { PrepareOptions } from '../../src/flightctl/prepare/prepare.js';
import { APP_USER, createFlightctlDatabase, dropDatabase } from '../harness/database.js';
import type { SchemaGeneration } from '../harness/flightctl-schema.js';

/**
 * The slowest suites (a reboot, a crash or a fault at each point of a restore: minutes each).
 * FLIGHTCTL_RESTORE_TEST_SKIP_SLOW=1 skips them in a local run; CI sets nothing and runs them all.
 */
export const describeSlow = describe.skipIf(process.env.FLIGHTCTL_RESTORE_TEST_SKIP_SLOW === '1');

/** Connection facts of the servers the global setup started. */
export function servers() {
  return inject('servers');
}

export function uniqueDbName(prefix = 'fc'): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export interface TestDb {
  name: string;
  client: pg.Client;
  drop(): Promise<void>;
}

/** A fresh Flight Control fixture database and an application-user connection to it. */
export async function freshDatabase(generation: SchemaGeneration = 'current'): Promise<TestDb> {
  const s = servers();
  const name = uniqueDbName();
  await createFlightctlDatabase(s.pg, name, generation);
  const client = new pg.Client({ host: s.pg.host, port: s.pg.port, user: APP_USER, password: s.pg.appPassword, database: name });
  await client.connect();
  return {
    name,
    client,
    async drop() {
      await client.end().catch(() => undefined);
      await dropDatabase(s.pg, name);
    },
  };
}

export function redisClient(): Redis {
  const s = servers();
  return new Redis({ host: s.redis.host, port: s.redis.port, password: s.redis.password, maxRetriesPerRequest: 1 });
}

/** All keys of the KV store with their values and TTLs. */
export async function dumpKv(redis: Redis): Promise<Map<string, { value: string | null; ttl: number }>> {
  const out = new Map<string, { value: string | null; ttl: number }>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) out.set(k, { value: await redis.get(k), ttl: await redis.ttl(k) });
  } while (cursor !== '0');
  return out;
}

export function prepareOptions(db: string, over: Partial<PrepareOptions> = {}): PrepareOptions {
  const s = servers();
  return {
    db: { host: s.pg.host, port: s.pg.port, database: db, user: APP_USER, password: s.pg.appPassword },
    kv: { host: s.redis.host, port: s.redis.port, password: s.redis.password },
    check: false,
    parts: { sql: true, kv: true },
    kvBatchSize: 3,
    logger: createLogger('error'),
    ...over,
  };
}
