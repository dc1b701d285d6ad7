/**
 * What the backup benchmark prints on stdout: medians of both backups and both restores, the
 * ratios ours/plain with the verdict against the goal (at most 1.1x), the sizes, and ours' restore
 * steps, since ours does more than load (it prepares the devices and the keys and swaps).
 */
import { GOALS, median } from './restore-report.js';

export const GOAL_RATIO = 1.1;

export interface BackupRound {
  /** The agent process, spawn to exit. */
  oursWallMs: number;
  /** The backup's own durationMs (without Node's start and the CLI around it). */
  oursMs: number;
  archiveBytes: number;
  dumpBytes: number;
  plainMs: number;
  plainBytes: number;
  plainFsyncMs: number;
}

export interface RestoreRound {
  oursWallMs: number;
  downtimeMs: number;
  stepsMs: Record<string, number>;
  plainMs: number;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const each = <T>(xs: T[], f: (x: T) => number) => xs.map((x) => (f(x) / 1000).toFixed(2)).join(' / ') + ' s';
const verdict = (ratio: number) => `goal <= ${GOAL_RATIO}x: ${ratio <= GOAL_RATIO ? 'met' : 'MISSED'}`;

/** Ours' steps that do what the plain pipeline does: verify and decompress the archive, load the dump. */
const LOAD_STEPS = ['unpack-archive', 'load-dump'];
/** Ours' work beyond it before the window: marking the devices and staging their keys. */
const PREPARE_STEPS = ['prepare-database', 'stage-kv'];

export function report(opts: { devices: number; databaseBytes: number; rounds: number; backups: BackupRound[]; restores: RestoreRound[] }): string {
  const { backups: b, restores: r } = opts;
  const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const oursBackup = m(b, (x) => x.oursWallMs);
  const plainBackup = m(b, (x) => x.plainMs);
  const oursRestore = m(r, (x) => x.oursWallMs);
  const plainRestore = m(r, (x) => x.plainMs);
  const step = (n: string) => m(r, (x) => x.stepsMs[n] ?? 0);
  const loadMs = m(r, (x) => LOAD_STEPS.reduce((sum, n) => sum + (x.stepsMs[n] ?? 0), 0));
  const stepNames = Object.keys(r[0]?.stepsMs ?? {});
  const backupRatio = oursBackup / plainBackup;
  const loadRatio = loadMs / plainRestore;
  const downtimeMs = m(r, (x) => x.downtimeMs);
  return `${[
    `backup benchmark: ${opts.devices} devices, database ${(opts.databaseBytes / 1e9).toFixed(2)} GB (pg_database_size), dump ${mb(m(b, (x) => x.dumpBytes))}, ${opts.rounds} round(s), medians; single runs vary, read the medians`,
    `  backup   ours  ${s(oursBackup)} (flightctl-restore-agent backup, spawn to exit; its own durationMs ${s(m(b, (x) => x.oursMs))})`,
    `           plain ${s(plainBackup)} (pg_dump --clean --if-exists | gzip > file; fsync of the file afterwards ${s(m(b, (x) => x.plainFsyncMs))}, not in that time)`,
    `           ours/plain ${backupRatio.toFixed(2)}x (${verdict(backupRatio)})`,
    `  size     archive ${mb(m(b, (x) => x.archiveBytes))}, gzip file ${mb(m(b, (x) => x.plainBytes))}, archive/gzip ${(m(b, (x) => x.archiveBytes) / m(b, (x) => x.plainBytes)).toFixed(3)}`,
    `  restore  ours  ${s(oursRestore)} (run --archive, spawn to exit), downtime ${s(downtimeMs)} (the run's downtimeMs; the engine's goal: under ${s(GOALS.oursMs)}, ${downtimeMs < GOALS.oursMs ? 'met' : 'MISSED'})`,
    `           plain ${s(plainRestore)} (gunzip -c file | psql -v ON_ERROR_STOP=1 into a fresh database: the load only)`,
    `           ours/plain ${(oursRestore / plainRestore).toFixed(2)}x overall; ours also marks the devices, stages the keys, swaps and restores the files, which the plain pipeline does not`,
    `           the same work: unpack-archive ${s(step('unpack-archive'))} + load-dump ${s(step('load-dump'))} = ${s(loadMs)}, ${loadRatio.toFixed(2)}x the plain load (${verdict(loadRatio)})`,
    `           the rest, services running: ${PREPARE_STEPS.map((n) => `${n} ${s(step(n))}`).join(', ')}`,
    `           every step: ${stepNames.map((n) => `${n} ${s(step(n))}`).join(', ')}`,
    `  rounds   backup ours ${each(b, (x) => x.oursWallMs)}, plain ${each(b, (x) => x.plainMs)}; restore ours ${each(r, (x) => x.oursWallMs)}, plain ${each(r, (x) => x.plainMs)} (one run against another varies: see the spread)`,
  ].join('\n')}\n`;
}
