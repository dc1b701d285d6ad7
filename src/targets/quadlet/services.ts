import { dropinsInEffect, type DropinInEffect } from './dropins.js';
import type { QuadletHost } from './host.js';
import type { ServiceAction, ServiceChange } from '../target.js';
import { holdAcrossReboot, liftHold, removeHold } from './guard.js';
import { isRunning, type JobOutcome } from './systemd.js';
import { APP_UNITS, REPORTED_UNITS } from './units.js';

export interface ServiceReport {
  unit: string;
  loadState: string;
  activeState: string;
  subState: string;
  sourcePath: string;
  /** systemd's own drop-ins (empty for quadlet units) and the quadlet drop-ins merged into it. */
  dropIns: string[];
  quadletDropIns: DropinInEffect[];
}

export async function describeServices(host: QuadletHost, units: readonly string[] = REPORTED_UNITS): Promise<ServiceReport[]> {
  const systemd = await host.systemd();
  return Promise.all(
    units.map(async (unit) => {
      const st = await systemd.status(unit);
      return {
        unit,
        loadState: st.loadState,
        activeState: st.activeState,
        subState: st.subState,
        sourcePath: st.sourcePath,
        dropIns: st.dropInPaths,
        quadletDropIns: await dropinsInEffect(st.sourcePath, host.settings.quadletDirs),
      };
    }),
  );
}

function fromOutcome(o: JobOutcome, okAction: ServiceAction): ServiceChange {
  if (o.result === 'not-found') return { unit: o.unit, action: 'not-installed', activeState: o.activeState, subState: o.subState };
  return { unit: o.unit, action: o.ok ? okAction : 'failed', result: o.result, activeState: o.activeState, subState: o.subState };
}

/**
 * Stops the running application units concurrently. Which ones are recorded in the state file
 * before any stop job is queued, so `startApplications` (also a later invocation, also after a
 * crash) starts exactly those and leaves alone what was already stopped. `holdAcrossReboot`
 * (a restore): a reboot before they are started again does not start them either (guard.ts).
 */
export async function stopApplications(
  host: QuadletHost,
  units: readonly string[] = APP_UNITS,
  opts: { holdAcrossReboot?: boolean } = {},
): Promise<ServiceChange[]> {
  const systemd = await host.systemd();
  const statuses = await Promise.all(units.map((u) => systemd.status(u)));
  const changes: ServiceChange[] = [];
  const toStop: string[] = [];
  for (const st of statuses) {
    if (st.loadState === 'not-found') changes.push({ unit: st.unit, action: 'not-installed', activeState: st.activeState, subState: st.subState });
    else if (isRunning(st)) toStop.push(st.unit);
    else changes.push({ unit: st.unit, action: 'already-stopped', activeState: st.activeState, subState: st.subState });
  }
  if (toStop.length) {
    await host.state.update((s) => {
      s.stoppedUnits = [...new Set([...s.stoppedUnits, ...toStop])];
    });
    if (opts.holdAcrossReboot) await holdAcrossReboot(host, toStop);
    const outcomes = await systemd.runJobs('StopUnit', toStop, host.settings.unitTimeoutMs);
    changes.push(...outcomes.map((o) => fromOutcome(o, 'stopped')));
  }
  return order(changes, units);
}

/**
 * Starts what `stopApplications` stopped (per the state file); forgets each unit once it runs.
 * A hold across reboots is lifted first, and removed after the starts.
 */
export async function startApplications(host: QuadletHost, units: readonly string[] = APP_UNITS): Promise<ServiceChange[]> {
  const systemd = await host.systemd();
  await liftHold(host);
  const recorded = new Set((await host.state.read()).stoppedUnits);
  const toStart = units.filter((u) => recorded.has(u));
  const changes: ServiceChange[] = [];
  for (const u of units.filter((x) => !recorded.has(x))) {
    const st = await systemd.status(u);
    changes.push({ unit: u, action: st.loadState === 'not-found' ? 'not-installed' : 'not-stopped-by-us', activeState: st.activeState, subState: st.subState });
  }
  if (toStart.length) {
    const outcomes = await systemd.runJobs('StartUnit', toStart, host.settings.unitTimeoutMs);
    const started = outcomes.filter((o) => o.ok || o.result === 'not-found').map((o) => o.unit);
    await host.state.update((s) => {
      s.stoppedUnits = s.stoppedUnits.filter((u) => !started.includes(u));
    });
    changes.push(...outcomes.map((o) => fromOutcome(o, 'started')));
  }
  // The hold is over once the agent starts the units itself (only a whole restore is started): a
  // unit that would not start is tried again by the next recover or run, not held at boot.
  await removeHold(host);
  return order(changes, units);
}

function order(changes: ServiceChange[], units: readonly string[]): ServiceChange[] {
  return [...changes].sort((a, b) => units.indexOf(a.unit) - units.indexOf(b.unit));
}
