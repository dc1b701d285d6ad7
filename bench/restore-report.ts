/**
 * What the restore benchmark prints on stdout: medians of both downtimes, the ratio, ours'
 * overhead and its cross-check against the run's own downtimeMs, the runbook's phases, and a
 * one-line verdict against the goals (set for a million devices).
 */
import { BASELINE_PHASES, type BaselinePhase } from './runbook-baseline.js';

/** The window as systemd timed it (unit-clock.ts). */
export interface SystemdWindow {
  downtimeMs: number;
  stopJobsMs: number;
  gapMs: number;
  startJobsMs: number;
}

export interface OursRound extends SystemdWindow {
  /** What the agent itself reported (stop-services began to start-services ended, settle included). */
  runDowntimeMs: number;
  /** Downtime minus the unit jobs (systemd), the swap and the keys (their step durations). */
  overheadMs: number;
  /** Downtime minus the stop-services, swap-database, prepare-kv and start-services step durations. */
  stepOverheadMs: number;
  stepsMs: Record<string, number>;
  keys: number;
  restored: string;
}

export interface RunbookRound extends SystemdWindow {
  phasesMs: Record<BaselinePhase, number>;
  keys: number;
  prepareSqlMs: number;
  prepareKvMs: number;
  restored: string;
}

export const GOALS = { devices: 1_000_000, oursMs: 5000, ratio: 20, overheadMs: 1000 };

export function median(xs: number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * systemd's window lies inside the agent's own (which starts before the first stop job is queued
 * and ends after its post-start check): it may not be longer, and should not be shorter by more
 * than that check and some bookkeeping.
 */
function crossCheck(r: OursRound): string | undefined {
  const gap = r.runDowntimeMs - r.downtimeMs;
  if (!Number.isFinite(gap)) return 'the run reported no downtimeMs';
  if (gap < -50) return `systemd saw ${s(r.downtimeMs)}, longer than the run's ${s(r.runDowntimeMs)}`;
  if (gap > 2000) return `the run's ${s(r.runDowntimeMs)} exceeds systemd's ${s(r.downtimeMs)} by more than 2 s`;
  return undefined;
}

export function report(opts: { devices: number; rounds: number; dumpBytes: number; ours: OursRound[]; runbook: RunbookRound[] }): string {
  const { ours, runbook } = opts;
  const m = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
  const oursMs = m(ours, (r) => r.downtimeMs);
  const runbookMs = m(runbook, (r) => r.downtimeMs);
  const overheadMs = m(ours, (r) => r.overheadMs);
  const ratio = runbookMs / oursMs;
  const step = (n: string) => s(m(ours, (r) => r.stepsMs[n] ?? 0));
  const stepOverheadMs = m(ours, (r) => r.stepOverheadMs);
  const mismatches = ours.map(crossCheck).filter((x): x is string => !!x);
  const atGoalSize = opts.devices >= GOALS.devices;
  const goal = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const checks = [
    `ours ${s(oursMs)} < 5 s: ${goal(oursMs < GOALS.oursMs)}`,
    `runbook/ours ${ratio.toFixed(1)}x >= 20x: ${goal(ratio >= GOALS.ratio)}`,
    `overhead ${s(overheadMs)} < 1 s: ${goal(overheadMs < GOALS.overheadMs)}`,
  ];
  const allMet = oursMs < GOALS.oursMs && ratio >= GOALS.ratio && overheadMs < GOALS.overheadMs;
  return `${[
    `restore downtime benchmark: ${opts.devices} devices, plain dump ${(opts.dumpBytes / 1e6).toFixed(0)} MB, ${opts.rounds} round(s), medians; single runs vary, read the medians`,
    `  restored: ${ours[0]?.restored ?? ''}, ${ours[0]?.keys ?? 0} awaiting-reconnect keys`,
    `  ours      downtime ${s(oursMs).padStart(9)}   (systemd: first unit stopping to last unit active)`,
    `            unit jobs: stopping ${s(m(ours, (r) => r.stopJobsMs))}, starting ${s(m(ours, (r) => r.startJobsMs))} (systemd); swap-database ${step('swap-database')}, prepare-kv ${step('prepare-kv')} (run steps)`,
    `            overhead ${s(overheadMs)}: downtime minus the unit jobs, the swap and the keys`,
    `            by step durations alone: downtime - (stop-services ${step('stop-services')} + swap-database + prepare-kv + start-services ${step('start-services')}) = ${s(stepOverheadMs)}` +
      (stepOverheadMs < 0
        ? ' (below zero: the steps also hold work before the first stop and after the last start, such as the check that started units stay up)'
        : ''),
    `            run's own downtimeMs ${s(m(ours, (r) => r.runDowntimeMs))}; cross-check with systemd: ${mismatches.length ? `MISMATCH: ${mismatches.join('; ')}` : 'ok'}`,
    `            outside the window, services running: load-dump ${step('load-dump')}, prepare-database ${step('prepare-database')}, stage-kv ${step('stage-kv')}`,
    `  runbook   downtime ${s(runbookMs).padStart(9)}   (unit jobs: stopping ${s(m(runbook, (r) => r.stopJobsMs))}, starting ${s(m(runbook, (r) => r.startJobsMs))}, one unit at a time)`,
    `            ${BASELINE_PHASES.map((p) => `${p} ${s(m(runbook, (r) => r.phasesMs[p]))}`).join(', ')}`,
    `            (prepare: sql ${s(m(runbook, (r) => r.prepareSqlMs))}, kv ${s(m(runbook, (r) => r.prepareKvMs))})`,
    `  runbook/ours  ${ratio.toFixed(1)}x`,
    atGoalSize
      ? `verdict at ${opts.devices} devices: ${allMet ? 'all goals met' : 'goal MISSED'} (${checks.join('; ')})`
      : `verdict: the goals are set for ${GOALS.devices} devices (run with --devices ${GOALS.devices}); at ${opts.devices} for reference: ${checks.join('; ')}`,
  ].join('\n')}\n`;
}
