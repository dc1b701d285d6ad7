import type Docker from 'dockerode';
import { Readable, Writable, type Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RestoreError } from '../../lib/errors.js';

/** What an exec needs of the Podman client (PodmanClient is one). */
export interface ExecHost {
  readonly docker: Docker;
  requireRunning(container: string): Promise<{ id: string }>;
  inspectContainer(container: string): Promise<{ id: string; running: boolean } | undefined>;
  isConnError(err: unknown): boolean;
  unreachable(err: unknown): RestoreError;
}

const STDERR_KEEP = 16_384;

/**
 * Splits a non-TTY exec stream (8-byte frame headers: type 1 stdout, 2 stderr, then the length)
 * straight into `out`, payloads as they arrive, and waits for `out` to drain before taking more:
 * a dump of many GB never sits in memory. Keeps the first and the last 16 kB of stderr (the first
 * error a psql reports, the last a pg_dump does).
 */
class ExecDemux extends Writable {
  private stderrHead = '';
  private stderrTail = '';
  private head = Buffer.alloc(0);
  private type = 0;
  private left = 0;

  constructor(private readonly out?: Writable) {
    super();
  }

  get stderr(): string {
    return this.stderrHead + this.stderrTail;
  }

  private keepStderr(text: string): void {
    const room = STDERR_KEEP - this.stderrHead.length;
    if (room > 0) {
      this.stderrHead += text.slice(0, room);
      text = text.slice(room);
    }
    if (text) this.stderrTail = (this.stderrTail + text).slice(-STDERR_KEEP);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    const parts: Buffer[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.left === 0) {
        const take = Math.min(8 - this.head.length, chunk.length - off);
        this.head = Buffer.concat([this.head, chunk.subarray(off, off + take)]);
        off += take;
        if (this.head.length < 8) break;
        this.type = this.head[0]!;
        this.left = this.head.readUInt32BE(4);
        this.head = Buffer.alloc(0);
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      const part = chunk.subarray(off, off + n);
      off += n;
      this.left -= n;
      if (this.type === 1) parts.push(part);
      else if (this.type === 2) this.keepStderr(part.toString('utf8'));
    }
    if (!this.out || parts.length === 0) return done();
    if (this.out.write(Buffer.concat(parts))) return done();
    this.out.once('drain', () => done());
  }
}

export interface StreamIo {
  /** Streamed to the process's stdin; with env, the only way a secret may reach it. */
  stdin?: Readable | string | Buffer | undefined;
  stdout?: Writable;
  user?: string | undefined;
  /** Environment of the exec'd process; goes over the API, never into any argv. */
  env?: Record<string, string> | undefined;
  /** 0 or none: no limit (a dump of a large database takes as long as it takes). */
  timeoutMs?: number | undefined;
  /** Ends the exec: the connection is closed, so the process sees EOF on stdin. */
  signal?: AbortSignal | undefined;
  /** What messages call the command (default: its program; a shell wrapper names what it wraps). */
  label?: string | undefined;
}

export interface StreamExecResult {
  exitCode: number;
  stderr: string;
}

/** The exit code can lag the end of the stream by a moment. */
async function exitCodeOf(exec: { inspect(): Promise<{ Running: boolean; ExitCode: number | null }> }): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    await new Promise((r) => setTimeout(r, 50));
  }
  return -1;
}

/**
 * Runs cmd in a running container, stdin streamed in and stdout streamed out, both with
 * backpressure; `stdout` is ended when the process is done. The one exec of the Quadlets target:
 * PodmanClient.exec is this with stdout collected into a string. Secrets go through stdin or env
 * only; cmd is visible in the process table.
 */
export async function execStream(podman: ExecHost, container: string, cmd: string[], io: StreamIo = {}): Promise<StreamExecResult> {
  const { id } = await podman.requireRunning(container);
  let r: StreamExecResult;
  try {
    r = await execIn(podman, container, cmd, io);
  } catch (err) {
    throw (await containerWentAway(podman, container, id, cmd)) ?? err;
  }
  // Killed by a signal (128+n) or no exit code reported: the container may have gone with it.
  if (r.exitCode === -1 || r.exitCode > 128) {
    const gone = await containerWentAway(podman, container, id, cmd);
    if (gone) throw gone;
  }
  return r;
}

/**
 * The container stopped or was started again (killed, crashed, restarted by systemd) while the
 * process ran in it: that, not what the process was given, is why it failed.
 */
async function containerWentAway(podman: ExecHost, container: string, id: string, cmd: string[]): Promise<RestoreError | undefined> {
  const now = await podman.inspectContainer(container).catch(() => undefined);
  if (now?.running && now.id === id) return undefined;
  return new RestoreError(
    'RESTORE_ERR_CONTAINER_NOT_RUNNING',
    `container ${container} ${now?.running ? 'was started again' : 'stopped'} while ${cmd[0]} ran in it (killed or crashed): what it was doing did not finish`,
    { container, wentAwayDuring: cmd[0] },
  );
}

async function execIn(podman: ExecHost, container: string, cmd: string[], io: StreamIo): Promise<StreamExecResult> {
  const input = typeof io.stdin === 'string' || Buffer.isBuffer(io.stdin) ? Readable.from([Buffer.from(io.stdin)]) : io.stdin;
  let sock: Duplex;
  let exec: Docker.Exec;
  try {
    exec = await podman.docker.getContainer(container).exec({
      Cmd: cmd,
      User: io.user,
      Env: io.env ? Object.entries(io.env).map(([k, v]) => `${k}=${v}`) : undefined,
      AttachStdin: input !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    sock = (await exec.start({ hijack: true, stdin: input !== undefined })) as unknown as Duplex;
  } catch (err) {
    throw podman.isConnError(err)
      ? podman.unreachable(err)
      : new RestoreError('RESTORE_ERR_EXEC_FAILED', `exec of ${cmd[0]} in ${container} failed: ${(err as Error).message}`, { container });
  }
  const demux = new ExecDemux(io.stdout);
  // The first failure of any stream ends the session. A process that exits before reading all of
  // its stdin (psql stopping at an error) breaks the connection under our writes: that is its exit
  // code's to report. A failure to read the input is always one: the process saw a truncated stdin.
  let failure: Error | undefined;
  let inputError: Error | undefined;
  const fail = (e: Error) => {
    failure ??= e;
    sock.destroy();
    demux.destroy();
  };
  sock.on('error', fail);
  io.stdout?.on('error', fail);
  input?.on('error', (e) => {
    inputError ??= e;
    fail(e);
  });
  const onAbort = () => fail(new RestoreError('RESTORE_ERR_CANCELLED', `${cmd[0]} in ${container} was interrupted`, { container }));
  if (io.signal?.aborted) onAbort();
  else io.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = io.timeoutMs
    ? setTimeout(
        () => fail(new RestoreError('RESTORE_ERR_EXEC_FAILED', `${cmd[0]} in ${container} did not finish within ${io.timeoutMs} ms`, { container })),
        io.timeoutMs,
      )
    : undefined;
  try {
    // pipe() waits for the socket to drain, and half-closes it at the end so the process sees EOF.
    input?.pipe(sock);
    sock.pipe(demux);
    // The server closes its side when the process has exited and all output is sent.
    await new Promise<void>((resolve) => {
      sock.once('end', resolve);
      sock.once('close', resolve);
    });
    if (!demux.writableEnded) demux.end();
    if (!failure) await finished(demux); // the last frames still on their way into stdout
    if (io.stdout && !failure) {
      io.stdout.end();
      await finished(io.stdout);
    }
  } catch (err) {
    failure ??= err as Error;
  } finally {
    clearTimeout(timer);
    io.signal?.removeEventListener('abort', onAbort);
    input?.unpipe(sock);
    sock.destroy();
  }
  // An input that failed for a reason of its own (an archive changed since it was verified), an
  // interruption or a timeout says so at once: the process may still be running.
  if (failure instanceof RestoreError) throw failure;
  if (inputError)
    throw new RestoreError(
      'RESTORE_ERR_EXEC_FAILED',
      `${cmd[0]} in ${container}: reading its input failed (${(inputError as NodeJS.ErrnoException).code ?? inputError.message})`,
      { container },
    );
  // All of the input handed to the socket (and the socket ended) before the session ended, or the
  // session ended under it: Podman's end of it went away (podman.service restarted), and the
  // process saw its input end early (a load that "succeeds" with half a dump).
  const inputCut = input !== undefined && !(input.readableEnded && sock.writableFinished);
  const name = io.label ?? cmd[0];
  let exitCode: number;
  try {
    exitCode = await exitCodeOf(exec);
  } catch (err) {
    throw podman.isConnError(err) ? podman.unreachable(err) : err;
  }
  // Exit 0 with its input cut, or no exit code at all (the session's state lost with the service):
  // either way what the process did is not known to be whole.
  if (exitCode === -1 || (inputCut && exitCode === 0))
    throw new RestoreError(
      'RESTORE_ERR_PODMAN_UNREACHABLE',
      inputCut
        ? `the connection to Podman ended before all of ${name}'s input was sent (was podman.service restarted?): what ${name} did in ${container} is incomplete`
        : `Podman did not report how ${name} in ${container} ended (was podman.service restarted?): what it did is not known to be whole`,
      { container },
    );
  if (failure && exitCode === 0) throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `${cmd[0]} in ${container}: ${failure.message}`, { container });
  return { exitCode, stderr: demux.stderr };
}
