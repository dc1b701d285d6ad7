/**
 * Runs one variant of the preparation in its own process, so its peak memory is its own.
 * Reads connection facts (with passwords) as JSON on stdin, prints one JSON line of results.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { prepare } from '../src/flightctl/prepare/prepare.js';
import { detectSchema } from '../src/flightctl/prepare/schema.js';
import { createLogger } from '../src/lib/logger.js';
import { runCeiling } from './ceiling.js';
import { runUpstreamBaseline } from './upstream-baseline.js';

export interface VariantInput {
  variant: 'ours' | 'baseline' | 'ceiling';
  pg: { host: string; port: number; database: string; user: string; password: string };
  redis: { host: string; port: number; password: string };
  kvBatchSize: number;
}

export interface VariantOutput {
  variant: string;
  ms: number;
  maxRssMb: number;
  devicesUpdated: number | null;
  keys: number;
  sqlMs?: number;
  kvMs?: number;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

async function main(): Promise<void> {
  const input = JSON.parse(await readStdin()) as VariantInput;
  const out: VariantOutput = { variant: input.variant, ms: 0, maxRssMb: 0, devicesUpdated: null, keys: 0 };
  if (input.variant === 'ours') {
    const t = performance.now();
    const r = await prepare({
      db: { ...input.pg },
      kv: { ...input.redis },
      check: false,
      parts: { sql: true, kv: true },
      kvBatchSize: input.kvBatchSize,
      logger: createLogger('error'),
    });
    out.ms = performance.now() - t;
    Object.assign(out, { devicesUpdated: r.devicesUpdated, keys: r.kvKeysWritten, sqlMs: r.timings.sqlMs, kvMs: r.timings.kvMs });
  } else {
    const db = new pg.Client({ ...input.pg });
    await db.connect();
    const redis = new Redis({ ...input.redis });
    try {
      // Connections are opened before the clock starts for the other variants; ours opens its own inside.
      const schema = input.variant === 'ceiling' ? await detectSchema(db, input.pg.database) : undefined;
      const t = performance.now();
      if (input.variant === 'baseline') {
        const r = await runUpstreamBaseline(db, redis);
        Object.assign(out, { devicesUpdated: r.devicesUpdated, keys: r.keys });
      } else {
        const r = await runCeiling(db, redis, schema!);
        out.keys = r.keys;
      }
      out.ms = performance.now() - t;
    } finally {
      await db.end();
      redis.disconnect();
    }
  }
  out.maxRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`variant failed: ${(err as Error).message}\n`);
  process.exit(1);
});
