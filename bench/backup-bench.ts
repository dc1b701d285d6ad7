/**
 * npm run bench:backup [-- --devices N --rounds N]
 *
 * Backup and archive-restore time of a database of about 1 GB on the sandbox Quadlets host (root),
 * against the plain pipeline run the same way, on the same data in the same run:
 *   backup   ours: flightctl-restore-agent backup (the dump streamed from pg_dump in flightctl-db
 *            into Flight Control's tar.gz);  plain: pg_dump | gzip > file (bench/plain-pipeline.ts)
 *   restore  ours: flightctl-restore-agent run --archive (load beside the live database, prepare,
 *            swap);  plain: gunzip | psql into a fresh database, the load only
 * The order alternates from round to round; dirty pages are written back before each variant and
 * every restore starts from the same host state (bench/backup-host.ts). Prints medians, ratios
 * ours/plain, sizes, and ours' restore steps and downtime (bench/backup-report.ts). Everything it
 * starts is stopped on every path (bench/bench-sandbox.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import { finishedRun, runAgentCli } from './agent-cli.js';
import { writeAgentConfig } from './agent-restore.js';
import { countRestored, keepMutatedState, PLAIN_TARGET, resetHost, seed, settle } from './backup-host.js';
import { report, type BackupRound, type RestoreRound } from './backup-report.js';
import { withBenchSandbox } from './bench-sandbox.js';
import { createPamVolume, writeFlightctlEtc } from './flightctl-etc.js';
import { plainBackup, plainRestore } from './plain-pipeline.js';
import { restoredSummary } from './restore-host.js';

/** The scenario's devices for a database of about 1 GB (pg_database_size 0.99 GB, a 672 MB dump). */
const DEFAULT_DEVICES = 520_000;

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: String(DEFAULT_DEVICES) },
    rounds: { type: 'string', default: '2' },
  },
});
const devices = Number(args.devices);
const rounds = Number(args.rounds);
if (![devices, rounds].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('usage: npm run bench:backup -- [--devices N] [--rounds N]\n');
  process.exit(2);
}

const UNITS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
];
const UNIT_TIMEOUT_MS = 120_000;
/** Bounds on one backup and one restore of either variant (both grow with the fleet). */
const BACKUP_TIMEOUT_MS = Math.max(10 * 60_000, devices);
const RESTORE_TIMEOUT_MS = Math.max(10 * 60_000, devices * 2);

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Env {
  sb: Sandbox;
  dir: string;
  etc: string;
  agentConfig: string;
  track(child: ChildProcess): void;
}

/** The uncompressed size gzip records in its trailer (ISIZE, modulo 2^32): the dump's size in the plain file, without reading it. */
function gzipIsize(file: string): number {
  const buf = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, 4, statSync(file).size - 4);
  } finally {
    closeSync(fd);
  }
  return buf.readUInt32LE(0);
}

async function backupRound(env: Env, round: number, order: readonly ('ours' | 'plain')[]): Promise<BackupRound & { archive: string; gzip: string }> {
  const out: Partial<BackupRound> & { archive?: string; gzip?: string } = {};
  for (const variant of order) {
    await settle(env.sb);
    if (variant === 'ours') {
      const call = await runAgentCli(['backup', '--backup-dir', path.join(env.dir, `ours-${round}`), '--flightctl-etc', env.etc], {
        config: env.agentConfig,
        timeoutMs: BACKUP_TIMEOUT_MS,
        track: env.track,
      });
      const r = call.last as { archive: string; bytes: number; durationMs: number; contents: { dumpBytes?: number } };
      Object.assign(out, { oursWallMs: call.wallMs, oursMs: r.durationMs, archiveBytes: r.bytes, dumpBytes: r.contents.dumpBytes ?? 0, archive: r.archive });
      log(`backup  round ${round}/${rounds} ours   ${s(call.wallMs)} (durationMs ${s(r.durationMs)}), archive ${(r.bytes / 1e6).toFixed(0)} MB`);
    } else {
      const gzip = path.join(env.dir, `plain-${round}.sql.gz`);
      const r = await plainBackup(env.sb, gzip, { database: 'flightctl', timeoutMs: BACKUP_TIMEOUT_MS, track: env.track });
      Object.assign(out, { plainMs: r.ms, plainBytes: r.bytes, plainFsyncMs: r.fsyncMs, gzip });
      log(`backup  round ${round}/${rounds} plain  ${s(r.ms)} (+ fsync ${s(r.fsyncMs)}), gzip file ${(r.bytes / 1e6).toFixed(0)} MB`);
    }
  }
  const done = out as BackupRound & { archive: string; gzip: string };
  // Same database, same pg_dump: the same dump, or the comparison is void.
  if (gzipIsize(done.gzip) !== done.dumpBytes % 2 ** 32)
    throw new Error(`the dumps differ: ours ${done.dumpBytes} bytes, the plain file ${gzipIsize(done.gzip)} (mod 2^32)`);
  return done;
}

async function restoreRound(
  env: Env,
  round: number,
  order: readonly ('ours' | 'plain')[],
  files: { archive: string; gzip: string },
  kvKeys: string[],
): Promise<RestoreRound> {
  const out: Partial<RestoreRound> = {};
  const restored: string[] = [];
  for (const variant of order) {
    await resetHost(env.sb, kvKeys, UNITS);
    if (variant === 'ours') {
      const call = await runAgentCli(['run', '--archive', files.archive, '--flightctl-etc', env.etc], {
        config: env.agentConfig,
        timeoutMs: RESTORE_TIMEOUT_MS,
        track: env.track,
      });
      const run = finishedRun(call);
      await restoredSummary(env.sb); // throws when the changes made after the backup are still there
      restored.push(await countRestored(env.sb, 'flightctl'));
      Object.assign(out, {
        oursWallMs: call.wallMs,
        downtimeMs: run.downtimeMs ?? NaN,
        stepsMs: Object.fromEntries(run.steps.map((x) => [x.name, x.durationMs])),
      });
      log(`restore round ${round}/${rounds} ours   ${s(call.wallMs)}, downtime ${s(run.downtimeMs ?? NaN)}; ${restored.at(-1)}`);
    } else {
      const ms = await plainRestore(env.sb, files.gzip, { database: PLAIN_TARGET, timeoutMs: RESTORE_TIMEOUT_MS, track: env.track });
      restored.push(await countRestored(env.sb, PLAIN_TARGET));
      out.plainMs = ms;
      log(`restore round ${round}/${rounds} plain  ${s(ms)}; ${restored.at(-1)}`);
    }
  }
  if (restored[0] !== restored[1]) throw new Error(`the variants restored different things: ${restored.join(' vs ')}`);
  return out as RestoreRound;
}

async function main(): Promise<void> {
  await withBenchSandbox(
    {},
    async ({ sb, track }) => {
      const dir = mkdtempSync(path.join(sb.dir, 'backup-bench-'));
      const agentConfig = path.join(dir, 'agent.yaml');
      writeAgentConfig(sb, agentConfig, path.join(dir, 'agent-state'), UNIT_TIMEOUT_MS);
      const etc = path.join(dir, 'etc-flightctl');
      writeFlightctlEtc(etc);
      await createPamVolume(sb);
      const env: Env = { sb, dir, etc, agentConfig, track };
      const seeded = await seed(sb, devices, log);
      // Alternate, so neither variant always runs first (or last) on a warm cache.
      const orderOf = (round: number) => (round % 2 === 1 ? (['ours', 'plain'] as const) : (['plain', 'ours'] as const));
      const backups: (BackupRound & { archive: string; gzip: string })[] = [];
      for (let round = 1; round <= rounds; round++) backups.push(await backupRound(env, round, orderOf(round)));
      const kvKeys = await keepMutatedState(sb);
      const files = backups.at(-1)!;
      const restores: RestoreRound[] = [];
      for (let round = 1; round <= rounds; round++) restores.push(await restoreRound(env, round, orderOf(round), files, kvKeys));
      process.stdout.write(report({ devices: seeded.devices, databaseBytes: seeded.databaseBytes, rounds, backups, restores }));
    },
    log,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
