import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * What Flight Control's own `flightctl-restore` leaves in <etc> when it is interrupted while it
 * swaps the encryption keys (upstream internal/restore, RestoreEncryptionKeys): it stages the
 * archive's keys in `.enc-restore-*` beside <etc>/encryption, renames the live keys to
 * `encryption.bak`, renames the staged copy into place, then removes `encryption.bak`. It restores
 * the database before the keys, so an interruption there leaves a restored database.
 */
export interface UpstreamLeftovers {
  /** What was done (nothing is removed that is the only copy of a key). */
  actions: string[];
  /** What was found and left for the operator to decide. */
  notes: string[];
}

const BAK = 'encryption.bak';
const STAGING = /^\.enc-restore-/;

async function exists(p: string): Promise<boolean> {
  return (await fs.lstat(p).catch(() => undefined)) !== undefined;
}

/** Whether a flightctl-restore process runs now: its leftovers are then its work in progress. */
async function upstreamRestoreRunning(procDir: string): Promise<boolean> {
  for (const pid of await fs.readdir(procDir).catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv0 = (await fs.readFile(path.join(procDir, pid, 'cmdline'), 'utf8').catch(() => '')).split('\0')[0] ?? '';
    if (path.basename(argv0) === 'flightctl-restore') return true;
  }
  return false;
}

/**
 * Settles those leftovers: keys moved aside and never replaced are put back (without them
 * Flight Control can decrypt nothing); a half-staged copy of an archive's keys is removed (the
 * archive still has them); the keys from before a restore that finished its swap are left where
 * they are, with a note, because they may be the only copy of keys older than the archive's.
 */
export async function settleUpstreamLeftovers(etcDir: string, opts: { procDir?: string } = {}): Promise<UpstreamLeftovers> {
  const out: UpstreamLeftovers = { actions: [], notes: [] };
  const live = path.join(etcDir, 'encryption');
  const bak = path.join(etcDir, BAK);
  const staging = (await fs.readdir(etcDir).catch(() => [] as string[])).filter((n) => STAGING.test(n));
  const hasBak = await exists(bak);
  if (!hasBak && staging.length === 0) return out;
  if (await upstreamRestoreRunning(opts.procDir ?? '/proc')) {
    out.notes.push(`Flight Control's flightctl-restore is running; its work in ${etcDir} (${[...(hasBak ? [BAK] : []), ...staging].join(', ')}) is left alone`);
    return out;
  }
  const again = 'restore the same archive again (flightctl-restore-agent run --archive FILE) to put its keys in place';
  if (hasBak && !(await exists(live))) {
    await fs.rename(bak, live);
    out.actions.push(
      `put back ${live} from ${BAK}, which an interrupted flightctl-restore left after moving the keys aside: these are the keys from before that restore, which had already restored the database; ${again}`,
    );
  } else if (hasBak) {
    out.notes.push(
      `${bak} holds the encryption keys from before an interrupted flightctl-restore (${live} holds the restored ones); left in place: remove it once Flight Control reads its encrypted data, or keep it if those keys are needed`,
    );
  }
  for (const name of staging) {
    await fs.rm(path.join(etcDir, name), { recursive: true, force: true });
    out.actions.push(`removed ${path.join(etcDir, name)}, a partial copy of an archive's encryption keys an interrupted flightctl-restore left`);
  }
  return out;
}
