/**
 * npm run bench:prepare [-- --devices N --orgs N --rounds N]
 *
 * Seeds N devices over several organizations on the fixture schema (with Flight Control's
 * indexes) once, then runs each variant on its own byte-identical copy of that database:
 *   ours      the product's prepare()
 *   baseline  upstream's algorithm (same SQL, names per org, one SETNX round trip per device)
 *   ceiling   the bare statements plus pipelined SETs, nothing else
 * and prints times, ratios and peak memory. The servers are throwaway ones (bench-servers.ts),
 * stopped on every path, failure and SIGINT/SIGTERM included.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { adminQuery, APP_USER, createFlightctlDatabase, ensureAppUser } from '../test/harness/database.js';
import { seedFleet } from '../test/harness/seed.js';
import { withBenchServers } from './bench-servers.js';
import type { VariantInput, VariantOutput } from './prepare-variant.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '100000' },
    orgs: { type: 'string', default: '10' },
    rounds: { type: 'string' },
    'kv-batch': { type: 'string', default: '5000' },
  },
});
const devices = Number(args.devices);
const orgCount = Number(args.orgs);
const rounds = Number(args.rounds ?? (devices >= 500_000 ? 1 : 5));
const kvBatchSize = Number(args['kv-batch']);
if (![devices, orgCount, rounds, kvBatchSize].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('usage: npm run bench:prepare -- [--devices N] [--orgs N] [--rounds N] [--kv-batch N]\n');
  process.exit(2);
}
const VARIANT_SCRIPT = fileURLToPath(new URL('./prepare-variant.js', import.meta.url));
const VARIANTS = ['ceiling', 'ours', 'baseline'] as const;

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function runVariant(input: VariantInput, track: (child: ChildProcess) => void): Promise<VariantOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VARIANT_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
    track(child);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as VariantOutput) : reject(new Error(`${input.variant} exited ${code}`))));
    child.stdin.end(JSON.stringify(input));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // Same server settings for every variant; sized so checkpoints do not land inside one run.
  const pgSettings = { shared_buffers: '512MB', max_wal_size: '8GB', checkpoint_timeout: '30min', autovacuum: 'off' };
  await withBenchServers(
    pgSettings,
    async ({ pg: pgServer, redis: redisServer, track }) => {
      const appPassword = randomBytes(18).toString('hex');
      await ensureAppUser(pgServer, appPassword);
      const orgs = Array.from({ length: orgCount }, (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`);
      log(`seeding ${devices} devices over ${orgCount} organizations...`);
      const seedStart = performance.now();
      await createFlightctlDatabase(pgServer, 'bench_template');
      const seeder = new pg.Client({ host: pgServer.host, port: pgServer.port, user: APP_USER, password: appPassword, database: 'bench_template' });
      // Errors reach the queries; without a listener a dropped connection would end the process.
      seeder.on('error', () => undefined);
      await seeder.connect();
      await seedFleet(seeder, devices, orgs);
      await seeder.query('VACUUM ANALYZE');
      await seeder.end();
      log(`seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`);

      const results: Record<string, VariantOutput[]> = { ours: [], baseline: [], ceiling: [] };
      const redis = new Redis({ host: redisServer.host, port: redisServer.port, password: redisServer.password });
      try {
        for (let round = 0; round < rounds; round++) {
          // Rotate the order so no variant always runs first (or last) on a warm cache.
          const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]!);
          for (const variant of order) {
            const database = `bench_${variant}`;
            await adminQuery(pgServer, 'postgres', `DROP DATABASE IF EXISTS ${database}`);
            await adminQuery(pgServer, 'postgres', `CREATE DATABASE ${database} TEMPLATE bench_template OWNER ${APP_USER}`);
            await adminQuery(pgServer, 'postgres', 'CHECKPOINT');
            // Write back the dirty pages of the previous run now, so its writeback does not land
            // inside the next variant's time.
            execFileSync('sync');
            await redis.flushall();
            const r = await runVariant(
              {
                variant,
                pg: { host: pgServer.host, port: pgServer.port, database, user: APP_USER, password: appPassword },
                redis: { host: redisServer.host, port: redisServer.port, password: redisServer.password },
                kvBatchSize,
              },
              track,
            );
            const keysInStore = await redis.dbsize();
            if (keysInStore !== r.keys) throw new Error(`${variant} reported ${r.keys} keys but the store holds ${keysInStore}`);
            results[variant]!.push(r);
            log(`round ${round + 1}/${rounds} ${variant.padEnd(8)} ${(r.ms / 1000).toFixed(2)} s  rss ${r.maxRssMb.toFixed(0)} MB  keys ${r.keys}`);
            await adminQuery(pgServer, 'postgres', `DROP DATABASE ${database}`);
          }
        }
      } finally {
        redis.disconnect();
      }
      report(results);
    },
    log,
  );
}

/** Medians, ratios against the goals, and peak memory per variant, on stdout. */
function report(results: Record<string, VariantOutput[]>): void {
  const updated = new Set(results.ours!.concat(results.baseline!).map((r) => r.devicesUpdated));
  const keys = new Set(
    Object.values(results)
      .flat()
      .map((r) => r.keys),
  );
  if (updated.size !== 1 || keys.size !== 1) throw new Error(`variants disagree: devicesUpdated ${[...updated]}, keys ${[...keys]}`);

  const t = (v: string) => median(results[v]!.map((r) => r.ms));
  const rss = (v: string) => Math.max(...results[v]!.map((r) => r.maxRssMb));
  const ours = t('ours');
  const ceiling = t('ceiling');
  const baseline = t('baseline');
  const line = (name: string, ms: number, extra = '') =>
    `  ${name.padEnd(9)} ${(ms / 1000).toFixed(2).padStart(8)} s   peak RSS ${rss(name).toFixed(0).padStart(4)} MB${extra}`;
  const sqlMs = median(results.ours!.map((r) => r.sqlMs ?? 0));
  const kvMs = median(results.ours!.map((r) => r.kvMs ?? 0));
  const oursOverCeiling = ours / ceiling;
  const baselineOverOurs = baseline / ours;
  const rssGoal = devices >= 1_000_000 ? rss('ours') < 300 : true;
  process.stdout.write(
    [
      `prepare benchmark: ${devices} devices, ${orgCount} organizations, ${[...updated][0]} marked, ${[...keys][0]} keys, median of ${rounds} round(s)`,
      line('ceiling', ceiling),
      line('ours', ours, `   (sql ${(sqlMs / 1000).toFixed(2)} s, kv ${(kvMs / 1000).toFixed(2)} s)`),
      line('baseline', baseline),
      `  baseline/ours  ${baselineOverOurs.toFixed(2)}x   goal > 1.00: ${baselineOverOurs > 1 ? 'met' : 'MISSED'}`,
      `  ours/ceiling   ${oursOverCeiling.toFixed(2)}x   goal <= 1.15: ${oursOverCeiling <= 1.15 ? 'met' : 'MISSED'}`,
      `  ours peak RSS  ${rss('ours').toFixed(0)} MB   goal < 300 MB at 1M devices: ${devices >= 1_000_000 ? (rssGoal ? 'met' : 'MISSED') : 'n/a below 1M'}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
