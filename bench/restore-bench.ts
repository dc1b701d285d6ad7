/**
 * npm run bench:restore [-- --devices N --rounds N]
 *
 * Application downtime of a full restore from a dump on the sandbox Quadlets host (root), first
 * application unit stopped to last one active again, as systemd recorded it:
 *   ours     the agent binary: load and prepare beside the live database while the services run,
 *            then stop, rename, swap the staged keys in, start (bench/agent-restore.ts)
 *   runbook  the manual runbook's order on the same parts: everything inside the window
 *            (bench/runbook-baseline.ts)
 * Both restore the same backup onto the same mutated host (bench/restore-host.ts) in the same
 * process run; the order alternates from round to round. Prints medians, runbook/ours, and ours'
 * orchestration overhead (downtime minus its unit jobs, the swap and the keys). Everything it starts
 * is stopped on every path (bench/bench-sandbox.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import { runAgentRestore, writeAgentConfig } from './agent-restore.js';
import { withBenchSandbox } from './bench-sandbox.js';
import { report, type OursRound, type RunbookRound } from './restore-report.js';
import { prepareScenario, resetHost, restoredSummary, type RestoreScenario } from './restore-host.js';
import { runRunbookBaseline } from './runbook-baseline.js';
import { monotonicUs, UnitClock } from './unit-clock.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '100000' },
    rounds: { type: 'string' },
  },
});
const devices = Number(args.devices);
const rounds = Number(args.rounds ?? (devices >= 500_000 ? 1 : 3));
if (![devices, rounds].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('usage: npm run bench:restore -- [--devices N] [--rounds N]\n');
  process.exit(2);
}

/** The application units the sandbox installs, in the runbook's order (FLIGHTCTL.md §1). */
const UNITS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
];
const UNIT_TIMEOUT_MS = 120_000;
/** Bound on one restore of either variant (the load and the preparation grow with the fleet). */
const RESTORE_TIMEOUT_MS = Math.max(10 * 60_000, devices * 2);
const KV_BATCH = 5000; // the agent's default prepare.kvBatchSize
/** The steps of ours' window; the swap and the keys are work, the rest of the window is unit jobs and orchestration. */
const WINDOW_STEPS = ['stop-services', 'swap-database', 'prepare-kv', 'start-services'];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Env {
  sb: Sandbox;
  scenario: RestoreScenario;
  clock: UnitClock;
  agentConfig: string;
  benchState: string;
  track(child: ChildProcess): void;
}

async function runOurs(env: Env): Promise<OursRound> {
  const from = monotonicUs();
  const run = await runAgentRestore({ config: env.agentConfig, dump: env.scenario.dump.path, timeoutMs: RESTORE_TIMEOUT_MS, track: env.track });
  const down = await env.clock.downtime(UNITS, from, monotonicUs());
  const step = (name: string) => run.steps.find((x) => x.name === name);
  const stepMs = (name: string) => step(name)?.durationMs ?? 0;
  const keys = Number(step('prepare-kv')?.data?.keys ?? NaN);
  return {
    downtimeMs: down.ms,
    stopJobsMs: down.stopJobsMs,
    gapMs: down.gapMs,
    startJobsMs: down.startJobsMs,
    runDowntimeMs: run.downtimeMs ?? NaN,
    overheadMs: down.ms - down.stopJobsMs - down.startJobsMs - stepMs('swap-database') - stepMs('prepare-kv'),
    stepOverheadMs: down.ms - WINDOW_STEPS.reduce((sum, n) => sum + stepMs(n), 0),
    stepsMs: Object.fromEntries(run.steps.map((x) => [x.name, x.durationMs])),
    keys,
    restored: await restoredSummary(env.sb),
  };
}

async function runRunbook(env: Env): Promise<RunbookRound> {
  const from = monotonicUs();
  const r = await runRunbookBaseline(env.sb, {
    dump: env.scenario.dump,
    units: UNITS,
    stateDir: env.benchState,
    unitTimeoutMs: UNIT_TIMEOUT_MS,
    kvBatchSize: KV_BATCH,
    timeoutMs: RESTORE_TIMEOUT_MS,
  });
  const down = await env.clock.downtime(UNITS, from, monotonicUs());
  return {
    downtimeMs: down.ms,
    stopJobsMs: down.stopJobsMs,
    gapMs: down.gapMs,
    startJobsMs: down.startJobsMs,
    phasesMs: r.phasesMs,
    keys: r.kvKeysWritten,
    prepareSqlMs: r.prepareSqlMs,
    prepareKvMs: r.prepareKvMs,
    restored: await restoredSummary(env.sb),
  };
}

async function main(): Promise<void> {
  await withBenchSandbox(
    {},
    async ({ sb, track }) => {
      const dir = mkdtempSync(path.join(sb.dir, 'restore-bench-'));
      const agentConfig = path.join(dir, 'agent.yaml');
      writeAgentConfig(sb, agentConfig, path.join(dir, 'agent-state'), UNIT_TIMEOUT_MS);
      const benchState = path.join(dir, 'runbook-state');
      mkdirSync(benchState, { mode: 0o700 });
      const scenario = await prepareScenario(sb, dir, devices, log);
      const clock = await UnitClock.connect(sb.busAddress);
      const env: Env = { sb, scenario, clock, agentConfig, benchState, track };
      const ours: OursRound[] = [];
      const runbook: RunbookRound[] = [];
      try {
        for (let round = 0; round < rounds; round++) {
          // Alternate, so neither variant always runs first (or last) on a warm cache.
          const order = round % 2 === 0 ? (['ours', 'runbook'] as const) : (['runbook', 'ours'] as const);
          for (const variant of order) {
            await resetHost(sb, scenario, UNITS);
            const tag = `round ${round + 1}/${rounds} ${variant.padEnd(7)}`;
            if (variant === 'ours') {
              const r = await runOurs(env);
              ours.push(r);
              log(`${tag} downtime ${s(r.downtimeMs)} (run says ${s(r.runDowntimeMs)}), overhead ${s(r.overheadMs)}; ${r.restored}`);
            } else {
              const r = await runRunbook(env);
              runbook.push(r);
              log(
                `${tag} downtime ${s(r.downtimeMs)} (${Object.entries(r.phasesMs)
                  .map(([k, v]) => `${k} ${s(v)}`)
                  .join(', ')}); ${r.restored}`,
              );
            }
          }
          const [o, b] = [ours.at(-1)!, runbook.at(-1)!];
          if (o.restored !== b.restored || o.keys !== b.keys) {
            throw new Error(`the variants restored different things: ours ${o.restored}, ${o.keys} keys; runbook ${b.restored}, ${b.keys} keys`);
          }
        }
      } finally {
        clock.close();
      }
      process.stdout.write(report({ devices, rounds, dumpBytes: scenario.dump.size, ours, runbook }));
    },
    log,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
