/**
 * The load generator of the API benchmark, in its own process (forked by api-bench.ts with an IPC
 * channel), so autocannon and the server do not share one event loop. It takes one job, runs a
 * warm-up and then the measured run with autocannon, sends back both summaries and exits. When
 * its parent goes away (the IPC channel closes) it exits at once.
 */
import autocannon from 'autocannon';

export interface LoadJob {
  url: string;
  headers: Record<string, string>;
  connections: number;
  warmupSec: number;
  durationSec: number;
}

export interface LoadSummary {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface LoadResult {
  warmup: LoadSummary;
  measured: LoadSummary;
}

function summary(r: autocannon.Result): LoadSummary {
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    total: r.requests.total,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

const run = (job: LoadJob, duration: number) => autocannon({ url: job.url, headers: job.headers, connections: job.connections, duration });

process.on('disconnect', () => process.exit(1));
process.once('message', (job: LoadJob) => {
  void (async () => {
    const warmup = summary(await run(job, job.warmupSec));
    const measured = summary(await run(job, job.durationSec));
    const result: LoadResult = { warmup, measured };
    process.send!(result, () => process.exit(0));
  })().catch((err: unknown) => {
    process.stderr.write(`load generator failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
});
