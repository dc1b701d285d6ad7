import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../../../lib/errors.js';
import { wallClockMs } from '../../../lib/clock.js';

/** Who holds the lock: a PID alone could be reused by an unrelated process after a crash. */
interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: string;
  what: string;
  since: string;
}

/**
 * Start time of a running process; undefined when it is gone. A killed process stays a zombie
 * (state Z, or X while it is reaped) until its parent collects it, about a second after a
 * kill -9 here: it holds nothing and runs nothing, so it counts as gone.
 */
export function processStartTicks(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/** Whether that exact process (not a later one with the same PID) is still running. */
export function isAlive(pid: number, startTicks?: string): boolean {
  const now = processStartTicks(pid);
  return now !== undefined && (startTicks === undefined || now === startTicks);
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockOwner;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A torn or foreign file: treat it as held by nobody alive.
    return { pid: -1, startTicks: '', what: 'unknown', since: '' };
  }
}

export interface HostLock {
  release(): Promise<void>;
}

/**
 * One mutating operation per host: a lock file under the state directory naming its holder.
 * A holder that died (kill -9, reboot) does not hold it: the next taker sees the process gone
 * and breaks the lock. Breaking happens under a short-lived second lock, so two takers cannot
 * both break it and both win.
 */
export async function acquireHostLock(stateDir: string, what: string): Promise<HostLock> {
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = path.join(stateDir, 'run.lock');
  const me: LockOwner = { pid: process.pid, startTicks: processStartTicks(process.pid) ?? '', what, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      return { release: () => releaseIfOurs(file, me) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new RestoreError('RESTORE_ERR_STATE_INVALID', `cannot create the lock ${file} (${(err as NodeJS.ErrnoException).code})`);
    }
    const owner = await readOwner(file);
    if (owner && owner.pid > 0 && isAlive(owner.pid, owner.startTicks)) {
      throw new RestoreError('RESTORE_ERR_RUN_ACTIVE', `another operation holds this host: ${owner.what} (pid ${owner.pid}, since ${owner.since})`, {
        pid: owner.pid,
        what: owner.what,
      });
    }
    await breakStale(file, owner);
  }
  throw new RestoreError('RESTORE_ERR_RUN_ACTIVE', `could not take the lock ${file}: others keep taking it`);
}

async function breakStale(file: string, seen: LockOwner | undefined): Promise<void> {
  const breaker = `${file}.break`;
  try {
    await fs.writeFile(breaker, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch {
    // Someone else is breaking it; a breaker left by a crash is removed once it is old (or from
    // the future: the clock was set back since it was written).
    const st = await fs.stat(breaker).catch(() => undefined);
    if (st && Math.abs(wallClockMs() - st.mtimeMs) > 10_000) await fs.rm(breaker, { force: true });
    await new Promise((r) => setTimeout(r, 50));
    return;
  }
  try {
    const now = await readOwner(file);
    // Still the same dead holder: only then remove it.
    if (now && now.pid === seen?.pid && now.startTicks === seen?.startTicks) await fs.rm(file, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}

async function releaseIfOurs(file: string, me: LockOwner): Promise<void> {
  const owner = await readOwner(file);
  if (owner && owner.pid === me.pid && owner.startTicks === me.startTicks) await fs.rm(file, { force: true });
}
