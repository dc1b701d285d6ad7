import path from 'node:path';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { openDump, type DumpFile } from '../../flightctl/database/dump-format.js';
import { classifySqlState } from '../../flightctl/datastores/postgres.js';
import { isRestoreError, RestoreError } from '../../lib/errors.js';
import type { DatabaseShell, LoadOptions, ShellOptions } from '../target.js';
import { execStream } from './exec-stream.js';
import type { PodmanClient } from './podman.js';
import { byteCounter } from '../../lib/byte-counter.js';

// NOTICEs (e.g. "does not exist, skipping" from a --clean --if-exists dump) would fill the output.
const QUIET_ENV = { PGOPTIONS: '-c client_min_messages=warning' };

/**
 * Printed by psql once it has read the whole dump. Its input reaches it through Podman's API
 * and conmon: should that connection end early (podman.service restarted under the load), psql
 * sees the end of its input early and exits 0 with part of the dump loaded. Without this line
 * on its output, the load is refused (and the temporary database dropped with it).
 */
const END_OF_INPUT = 'flightctl-restore: end of the dump';

function endOfInputMark(): Transform {
  return new Transform({
    transform: (chunk: Buffer, _enc, done) => done(null, chunk),
    flush(done) {
      // On a line of its own, whatever the dump's last line was.
      this.push(`\n\\echo ${END_OF_INPUT}\n`);
      done();
    },
  });
}

function cutShort(what: string): RestoreError {
  return new RestoreError(
    'RESTORE_ERR_PODMAN_UNREACHABLE',
    `the load was cut short: ${what} (the connection to Podman ended under it: was podman.service restarted?); nothing of it is used`,
  );
}
const PSQL = ['psql', '-U', 'postgres', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose'];

/**
 * The first error psql or pg_restore reported, as a catalogue error. With VERBOSITY=verbose psql
 * prints "ERROR:  55006: database ... is being accessed by other users".
 */
export function shellError(stderr: string, exitCode: number, what: string): RestoreError {
  const m = /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*([^\n]*)/.exec(stderr);
  if (m) return classifySqlState(m[1]!, m[2]!, `PostgreSQL in the database container (${what})`);
  // psql could not reach the server at all (not started yet after a boot, restarting, gone): the
  // container runs, PostgreSQL in it does not answer. Worth waiting for, unlike a refused statement.
  const down =
    /connection to server .* failed: ([^\n]*)|could not connect to server: ([^\n]*)|(server closed the connection unexpectedly|the database system is (?:starting up|shutting down|in recovery mode))/.exec(
      stderr,
    );
  if (down) {
    return new RestoreError(
      'RESTORE_ERR_DB_UNREACHABLE',
      `PostgreSQL in the database container does not accept connections (${what}): ${(down[1] ?? down[2] ?? down[3] ?? '').trim().slice(0, 200)}`,
    );
  }
  const first =
    stderr
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /error|fatal|could not/i.test(l)) ??
    stderr.trim().split('\n')[0] ??
    '';
  return new RestoreError(
    'RESTORE_ERR_EXEC_FAILED',
    `${what} failed in the database container (exit ${exitCode}): ${first.replace(/password/gi, 'credential').slice(0, 500)}`,
  );
}

/**
 * The database container stopped or was started again under a command (killed, crashed, restarted
 * by systemd): for whoever asked, the database server went away, which is worth waiting out.
 */
async function serverGone<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (isRestoreError(err) && err.details.wentAwayDuring !== undefined)
      throw new RestoreError('RESTORE_ERR_DB_UNREACHABLE', `PostgreSQL went away: ${err.message}`, err.details);
    throw err;
  }
}

/** SQL as the postgres superuser inside flightctl-db, over its local socket (FLIGHTCTL.md §2). */
export class PodmanDatabaseShell implements DatabaseShell {
  readonly loadableFormats = ['plain', 'custom'] as const;

  constructor(
    private readonly podman: PodmanClient,
    readonly container = 'flightctl-db',
  ) {}

  async sql(sql: string, opts: ShellOptions = {}): Promise<string> {
    const r = await serverGone(
      this.podman.exec(this.container, {
        cmd: [...PSQL, '-d', opts.database ?? 'postgres'],
        user: 'postgres',
        env: QUIET_ENV,
        stdin: sql,
        signal: opts.signal,
        timeoutMs: opts.timeoutMs ?? 120_000,
      }),
    );
    if (r.exitCode !== 0) throw shellError(r.stderr, r.exitCode, 'psql');
    return r.stdout;
  }

  async load(database: string, dump: DumpFile, opts: LoadOptions): Promise<void> {
    let sent = 0;
    const counter = byteCounter((n) => ((sent = n), opts.onBytes(n)));
    // pipeline, not pipe: a source that fails (an archive changed under us) fails the exec's input.
    const input =
      dump.format === 'plain' ? pipeline(openDump(dump), counter, endOfInputMark(), () => undefined) : pipeline(openDump(dump), counter, () => undefined);
    try {
      await serverGone(this.loadFrom(input, database, dump, opts, () => sent));
    } finally {
      // Done or failed, whatever is left of the source is closed (a file, an archive being read).
      input.destroy();
    }
  }

  private async loadFrom(input: Readable, database: string, dump: DumpFile, opts: LoadOptions, sent: () => number): Promise<void> {
    if (dump.format === 'plain') {
      // psql stops at the first error; the shell then reads the rest of stdin, so the stream we
      // are still writing is not cut off, and with it psql's error message on stderr.
      const r = await this.podman.exec(this.container, {
        cmd: ['sh', '-c', 'psql "$@"; rc=$?; cat >/dev/null; exit $rc', 'sh', ...PSQL.slice(1), '-d', database, '-f', '-'],
        label: 'psql',
        user: 'postgres',
        env: QUIET_ENV,
        stdin: input,
        signal: opts.signal,
        timeoutMs: 0,
      });
      if (r.exitCode !== 0) throw shellError(r.stderr, r.exitCode, `loading ${path.basename(dump.path)}`);
      if (!r.stdout.includes(END_OF_INPUT)) throw cutShort(`psql did not read the whole of ${path.basename(dump.path)}`);
      return;
    }
    // pg_restore --jobs needs a seekable file: copy the dump next to the data directory (the
    // volume the space check covers), readable by postgres only, then restore, then remove it.
    const dataDir = (await this.sql('SHOW data_directory;\n')).trim();
    const file = path.posix.join(path.posix.dirname(dataDir), `.flightctl-restore-${path.basename(database)}.dump`);
    await opts.recordContainerFile(file);
    try {
      const copy = await this.podman.exec(this.container, {
        cmd: ['sh', '-c', 'umask 077 && cat > "$1" && wc -c < "$1"', 'sh', file],
        user: 'postgres',
        stdin: input,
        signal: opts.signal,
        timeoutMs: 0,
      });
      if (copy.exitCode !== 0) throw shellError(copy.stderr, copy.exitCode, `copying the dump to ${file}`);
      if (Number(copy.stdout.trim()) !== sent()) throw cutShort(`${file} holds ${copy.stdout.trim() || 'no'} bytes of the ${sent()} sent`);
      const r = await this.podman.exec(this.container, {
        cmd: ['pg_restore', '-U', 'postgres', '-d', database, '--exit-on-error', `--jobs=${Math.max(1, opts.jobs)}`, file],
        user: 'postgres',
        env: QUIET_ENV,
        signal: opts.signal,
        timeoutMs: 0,
      });
      if (r.exitCode !== 0) throw shellError(r.stderr, r.exitCode, `pg_restore of ${path.basename(dump.path)}`);
    } finally {
      await this.removeFile(file).catch(() => undefined);
    }
  }

  dump(database: string, signal?: AbortSignal): { stream: Readable; done: Promise<void> } {
    const stream = new PassThrough();
    const done = serverGone(
      execStream(this.podman, this.container, ['pg_dump', '--clean', '--if-exists', '-U', 'postgres', '-d', database], {
        stdout: stream,
        user: 'postgres',
        signal,
      }),
    ).then((r) => {
      if (r.exitCode !== 0) throw shellError(r.stderr, r.exitCode, 'pg_dump');
    });
    done.catch((err: Error) => stream.destroy(err));
    // The reader may not be reading yet when pg_dump fails at once (the server down): the error is
    // its when it reads, and `done`'s, not an unhandled 'error' event that ends the process.
    stream.on('error', () => undefined);
    return { stream, done };
  }

  async freeBytes(dir: string): Promise<number> {
    const r = await this.podman.exec(this.container, { cmd: ['df', '-Pk', dir], user: 'postgres', timeoutMs: 30_000 });
    // Filesystem 1024-blocks Used Available Capacity Mounted-on
    const fields = r.stdout.trim().split('\n')[1]?.trim().split(/\s+/);
    const available = Number(fields?.[3]);
    if (r.exitCode !== 0 || !Number.isFinite(available)) throw shellError(r.stderr, r.exitCode, `df ${dir}`);
    return available * 1024;
  }

  async removeFile(file: string): Promise<void> {
    const r = await this.podman.exec(this.container, { cmd: ['rm', '-f', '--', file], user: 'postgres', timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw shellError(r.stderr, r.exitCode, `rm ${file}`);
  }
}
