/**
 * The baseline of the backup benchmark: the plain pipeline an operator would script, run the same
 * way as ours (the process inside flightctl-db as postgres, its stdin/stdout streamed through the
 * sandbox's Podman API by the agent's own execStream):
 *   backup   pg_dump --clean --if-exists | gzip > FILE       (gzip: the host's, default level 6)
 *   restore  gunzip -c FILE | psql -v ON_ERROR_STOP=1 -d DB   (a fresh database, the load only)
 * gzip and gunzip are child processes on the host, as in a shell pipeline; the bytes between them
 * and the container pass straight through, with no counting or copying of ours in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fsyncSync, openSync, rmSync, statSync } from 'node:fs';
import { DB_CONTAINER, execStreaming } from '../test/harness/restore-scenario.js';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';

function exited(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${what} exited ${code ?? signal}`))));
  });
}

export interface PlainBackup {
  ms: number;
  bytes: number;
  /** fsync of the finished file, timed apart: the plain pipeline does not do it, ours does (before its checksum). */
  fsyncMs: number;
}

export async function plainBackup(
  sb: Sandbox,
  file: string,
  opts: { database: string; timeoutMs: number; track(child: ChildProcess): void },
): Promise<PlainBackup> {
  const fd = openSync(file, 'wx', 0o600); // holds every device credential, as ours does
  const start = performance.now();
  const gzip = spawn('gzip', ['-c'], { stdio: ['pipe', fd, 'pipe'] });
  closeSync(fd); // gzip has its own copy
  opts.track(gzip);
  const gzipDone = exited(gzip, 'gzip');
  gzipDone.catch(() => undefined);
  try {
    const r = await execStreaming(sb, DB_CONTAINER, ['pg_dump', '--clean', '--if-exists', '-U', 'postgres', '-d', opts.database], {
      stdout: gzip.stdin!, // stdio[0] is 'pipe'
      timeoutMs: opts.timeoutMs,
    });
    if (r.exitCode !== 0) throw new Error(`pg_dump exited ${r.exitCode}: ${r.stderr.trim()}`);
    await gzipDone;
  } catch (err) {
    gzip.kill('SIGKILL');
    rmSync(file, { force: true });
    throw err;
  }
  const ms = performance.now() - start;
  const t = performance.now();
  const sync = openSync(file, 'r');
  try {
    fsyncSync(sync);
  } finally {
    closeSync(sync);
  }
  return { ms, bytes: statSync(file).size, fsyncMs: performance.now() - t };
}

/** Loads FILE into `database`, which the caller has just created empty; answers the time. */
export async function plainRestore(
  sb: Sandbox,
  file: string,
  opts: { database: string; timeoutMs: number; track(child: ChildProcess): void },
): Promise<number> {
  const start = performance.now();
  const gunzip = spawn('gunzip', ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  opts.track(gunzip);
  const gunzipDone = exited(gunzip, 'gunzip');
  gunzipDone.catch(() => undefined);
  try {
    const r = await execStreaming(sb, DB_CONTAINER, ['psql', '-U', 'postgres', '-d', opts.database, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], {
      stdin: gunzip.stdout,
      timeoutMs: opts.timeoutMs,
    });
    if (r.exitCode !== 0) throw new Error(`psql into ${opts.database} exited ${r.exitCode}: ${r.stderr.trim().slice(-2000)}`);
    await gunzipDone;
  } catch (err) {
    gunzip.kill('SIGKILL');
    throw err;
  }
  return performance.now() - start;
}
