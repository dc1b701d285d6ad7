/**
 * npm run bench:api [-- --duration S --connections N --rounds N --alg ES256|RS256|EdDSA]
 *
 * What verifying the bearer token costs the API: requests per second and p50/p99 latency of
 * GET /v1/restores/{id} (a read and zod parse of a journal file) with JWT verification, against
 * the same route of the same app without auth, in the same run. Both variants listen on
 * http://127.0.0.1 (a free port) in this process; autocannon loads them from a child process
 * (bench/api-load.ts), one variant at a time, each after a warm-up, in an order that alternates
 * from round to round. Prints the medians, auth/no-auth and the verdict against the goal (auth
 * costs under 20% of the throughput). Everything it starts is stopped on every path
 * (bench/api-app.ts).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ALGS, withBenchApi, type Alg, type BenchApi, type Variant } from './api-app.js';
import type { LoadJob, LoadResult, LoadSummary } from './api-load.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    alg: { type: 'string', default: 'ES256' },
  },
});
const durationSec = Number(args.duration);
const connections = Number(args.connections);
const rounds = Number(args.rounds);
const alg = args.alg as Alg;
// Bounded, so a typo cannot start an hour-long or thousand-socket run.
const within = (n: number, max: number) => Number.isInteger(n) && n > 0 && n <= max;
if (!within(durationSec, 600) || !within(connections, 1000) || !within(rounds, 20) || !Object.hasOwn(ALGS, alg)) {
  process.stderr.write('usage: npm run bench:api -- [--duration S (1-600)] [--connections N (1-1000)] [--rounds N (1-20)] [--alg ES256|RS256|EdDSA]\n');
  process.exit(2);
}

const WARMUP_SEC = 2; // JIT, the key import cache and the page cache settle before anything is counted
const GOAL = 0.2; // auth may cost at most this share of the no-auth throughput
const LOAD = fileURLToPath(new URL('./api-load.js', import.meta.url));

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

/** Before anything is measured: the auth variant refuses a wrong token and no token, and both variants answer the run. */
async function checkVariants(api: BenchApi, token: string): Promise<void> {
  const path = `/v1/restores/${api.runId}`;
  const good = await get(`${api.url.auth}${path}`, { authorization: `Bearer ${token}` });
  if (good.status !== 200 || (JSON.parse(good.body) as { id?: string }).id !== api.runId)
    throw new Error(`auth: a valid token got ${good.status}, not the run: ${good.body.slice(0, 200)}`);
  const wrong = await get(`${api.url.auth}${path}`, { authorization: `Bearer ${await api.wrongToken()}` });
  if (wrong.status !== 401) throw new Error(`auth: a token signed by another key got ${wrong.status}, not 401: the variant does not verify`);
  const none = await get(`${api.url.auth}${path}`);
  if (none.status !== 401) throw new Error(`auth: no token got ${none.status}, not 401`);
  const open = await get(`${api.url['no-auth']}${path}`);
  if (open.status !== 200 || open.body !== good.body)
    throw new Error(`no-auth: got ${open.status} and ${open.body === good.body ? 'the same' : 'another'} body`);
}

function load(api: BenchApi, job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(LOAD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    api.track(child);
    let result: LoadResult | undefined;
    let timedOut = false;
    // autocannon stops itself after its durations; this only catches a hang.
    const timer = setTimeout(
      () => {
        timedOut = true;
        child.kill('SIGKILL');
      },
      (job.warmupSec + job.durationSec + 60) * 1000,
    );
    child.once('message', (m) => (result = m as LoadResult));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result) resolve(result);
      else reject(new Error(`the load generator ended (${signal ?? `exit ${code}`})${timedOut ? ' after a timeout' : ''} without a result`));
    });
    child.send(job);
  });
}

/** A run with refused or failed requests measured something else than the route: fail loudly. */
function check(variant: Variant, what: string, s: LoadSummary): void {
  if (s.non2xx > 0 || s.errors > 0 || s.timeouts > 0 || s.ok === 0) {
    throw new Error(
      `${variant} ${what}: ${s.non2xx} non-2xx responses, ${s.errors} errors, ${s.timeouts} timeouts, ${s.ok} 2xx of ${s.total}: this measured nothing`,
    );
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
// autocannon records latencies in whole milliseconds; a median of two rounds can end in .5.
const ms = (n: number) => `${Number.isInteger(n) ? n : n.toFixed(1)} ms`;

function report(results: Record<Variant, LoadSummary[]>): string {
  const row = (variant: Variant) => {
    const rs = results[variant];
    const non2xx = rs.reduce((sum, r) => sum + r.non2xx, 0);
    return `| ${variant === 'auth' ? `auth (${alg})` : 'no-auth'} | ${Math.round(median(rs.map((r) => r.rps)))} | ${ms(median(rs.map((r) => r.p50)))} | ${ms(median(rs.map((r) => r.p99)))} | ${non2xx} |`;
  };
  const ratio = median(results.auth.map((r) => r.rps)) / median(results['no-auth'].map((r) => r.rps));
  const cost = 1 - ratio;
  return [
    `GET /v1/restores/{id}: ${connections} connections, ${durationSec} s per variant after a ${WARMUP_SEC} s warm-up, ${rounds} round(s)${rounds > 1 ? ', medians' : ''}`,
    '',
    '| Variant | req/s | p50 | p99 | non-2xx |',
    '|---|---|---|---|---|',
    row('auth'),
    row('no-auth'),
    '',
    `auth/no-auth throughput: ${ratio.toFixed(3)} (auth costs ${(cost * 100).toFixed(1)}%)`,
    `goal, auth costs under ${GOAL * 100}% of the throughput: ${cost < GOAL ? 'met' : 'NOT met'}`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  await withBenchApi(
    alg,
    async (api) => {
      log(`auth ${api.url.auth}, no-auth ${api.url['no-auth']}, run ${api.runId}`);
      await checkVariants(api, await api.token(60));
      log('checked: the auth variant refuses a wrong token and no token (401); both answer the run');
      const results: Record<Variant, LoadSummary[]> = { auth: [], 'no-auth': [] };
      for (let round = 0; round < rounds; round++) {
        // Alternate, so neither variant always runs first (or last) on a warm machine.
        const order: Variant[] = round % 2 === 0 ? ['auth', 'no-auth'] : ['no-auth', 'auth'];
        for (const variant of order) {
          // Both variants get the same request bytes (no-auth ignores the header): only the verification differs.
          const token = await api.token(WARMUP_SEC + durationSec + 120);
          const job: LoadJob = {
            url: `${api.url[variant]}/v1/restores/${api.runId}`,
            headers: { authorization: `Bearer ${token}` },
            connections,
            warmupSec: WARMUP_SEC,
            durationSec,
          };
          const { warmup, measured } = await load(api, job);
          check(variant, 'warm-up', warmup);
          check(variant, 'run', measured);
          if (api.errors().length) throw new Error(`the server logged errors: ${api.errors().join('\n')}`);
          results[variant].push(measured);
          log(
            `round ${round + 1}/${rounds} ${variant.padEnd(7)} ${Math.round(measured.rps)} req/s, p50 ${ms(measured.p50)}, p99 ${ms(measured.p99)}, ${measured.ok} 2xx, ${measured.non2xx} non-2xx`,
          );
        }
      }
      process.stdout.write(report(results));
    },
    log,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
