import { promises as fs } from 'node:fs';
import path from 'node:path';
import { removeFileDurable, writeFileAtomic } from '../../lib/atomic-file.js';
import type { QuadletHost } from './host.js';
import { containerOf } from './units.js';

export const HOLD_DROPIN_NAME = '90-flightctl-restore-hold.conf';

/**
 * Keeps the application units a restore stopped from being started by a reboot before the agent
 * has finished the restore: a restored database must not be served before its awaiting-reconnect
 * keys are written, and the KV store comes back empty after a reboot. Each unit gets a persistent
 * quadlet drop-in (under the admin's quadlet directory, /etc/containers/systemd: a reboot keeps
 * it) with `ConditionPathExists=!FLAG`; while FLAG exists, systemd skips the unit at boot (a
 * condition, not a failure: flightctl.target is still reached). The agent removes FLAG before it
 * starts the units itself, and the drop-ins once they run. Recorded in the state file before
 * anything is written.
 */
export async function holdAcrossReboot(host: QuadletHost, units: readonly string[]): Promise<void> {
  if (!units.length) return;
  const flag = path.join(host.settings.stateDir, 'services-held');
  const dropins = units.map((u) => path.join(host.settings.holdDir, `${containerOf(u)}.container.d`, HOLD_DROPIN_NAME));
  await host.state.update((s) => {
    s.hold = { flag, dropins: [...new Set([...(s.hold?.dropins ?? []), ...dropins])] };
  });
  const text = [
    '# written by flightctl-restore-agent while a restore holds this unit stopped: after a reboot it',
    '# stays stopped until the agent has finished the restore (then this file and the flag go)',
    '[Unit]',
    `ConditionPathExists=!${flag}`,
    '',
  ].join('\n');
  for (const d of dropins) {
    await fs.mkdir(path.dirname(d), { recursive: true, mode: 0o755 });
    await writeFileAtomic(d, text, 0o644);
  }
  await writeFileAtomic(flag, `${new Date().toISOString()}\n`, 0o600);
  // Quadlet merges drop-ins when it generates the units: a reload makes systemd read them.
  await (await host.systemd()).reload();
}

/** Lets the held units start again (before the agent starts them itself). */
export async function liftHold(host: QuadletHost): Promise<void> {
  const hold = (await host.state.read()).hold;
  if (hold) await removeFileDurable(hold.flag);
}

/** Removes the drop-ins of a lifted hold and forgets it; answers what it removed. */
export async function removeHold(host: QuadletHost): Promise<string[]> {
  const hold = (await host.state.read()).hold;
  if (!hold) return [];
  await removeFileDurable(hold.flag);
  const removed: string[] = [];
  for (const d of hold.dropins) {
    if (await removeFileDurable(d)) removed.push(d);
    await fs.rmdir(path.dirname(d)).catch(() => undefined); // only when empty
  }
  if (removed.length) await (await host.systemd()).reload();
  await host.state.update((s) => {
    s.hold = undefined;
  });
  return removed;
}
