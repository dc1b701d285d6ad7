import type { Duplex, Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { RestoreError } from '../../lib/errors.js';
import type { PodmanClient } from './podman.js';

/**
 * Splits a non-TTY exec stream (8-byte frame headers: type 1 stdout, 2 stderr, then the length)
 * straight into `out`, payloads as they arrive, and waits for `out` to drain before taking more:
 * a dump of many GB never sits in memory. Keeps the last 16 kB of stderr.
 */
class ExecDemux extends Writable {
  stderr = '';
  private head = Buffer.alloc(0);
  private type = 0;
  private left = 0;

  constructor(private readonly out?: Writable) {
    super();
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
      else if (this.type === 2) this.stderr = (this.stderr + part.toString('utf8')).slice(-16_384);
    }
    if (!this.out || parts.length === 0) return done();
    if (this.out.write(Buffer.concat(parts))) return done();
    this.out.once('drain', () => done());
  }
}

export interface StreamIo {
  stdin?: Readable;
  stdout?: Writable;
  user?: string;
  env?: Record<string, string>;
  /** 0: no limit (the default: a dump of a large database takes as long as it takes). */
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
}

export interface StreamExecResult {
  exitCode: number;
  stderr: string;
}

/**
 * Runs cmd in a running container with stdin piped from a stream and stdout piped into one, both
 * with backpressure. `stdout` is ended when the process is done. PodmanClient.exec collects output
 * in a string: right for SQL snippets, not for a dump.
 */
export async function execStream(podman: PodmanClient, container: string, cmd: string[], io: StreamIo = {}): Promise<StreamExecResult> {
  await podman.requireRunning(container);
  let sock: Duplex;
  let exec: Awaited<ReturnType<ReturnType<PodmanClient['docker']['getContainer']>['exec']>>;
  try {
    exec = await podman.docker.getContainer(container).exec({
      Cmd: cmd,
      User: io.user,
      Env: io.env ? Object.entries(io.env).map(([k, v]) => `${k}=${v}`) : undefined,
      AttachStdin: io.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    sock = (await exec.start({ hijack: true, stdin: io.stdin !== undefined })) as unknown as Duplex;
  } catch (err) {
    throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `exec of ${cmd[0]} in ${container} failed: ${(err as Error).message}`, { container });
  }
  const demux = new ExecDemux(io.stdout);
  // The first failure of any stream ends the session; what the process said and its exit code
  // still decide the outcome when it failed first (psql stopping early breaks our stdin pipe).
  let failure: Error | undefined;
  const fail = (e: Error) => {
    failure ??= e;
    sock.destroy();
    demux.destroy();
  };
  sock.on('error', fail);
  io.stdout?.on('error', fail);
  io.stdin?.on('error', fail);
  const onAbort = () => fail(new RestoreError('RESTORE_ERR_CANCELLED', `${cmd[0]} in ${container} was interrupted`));
  io.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = io.timeoutMs ? setTimeout(() => fail(new RestoreError('RESTORE_ERR_EXEC_FAILED', `${cmd[0]} in ${container} did not finish within ${io.timeoutMs} ms`)), io.timeoutMs) : undefined;
  try {
    // pipe() waits for the socket to drain, and half-closes it at the end so the process sees EOF.
    io.stdin?.pipe(sock);
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
    io.stdin?.unpipe(sock);
    sock.destroy();
  }
  // The exit code can lag the end of the stream by a moment.
  let exitCode = -1;
  for (let i = 0; i < 100; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
      exitCode = info.ExitCode;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (failure instanceof RestoreError) throw failure;
  if (failure && exitCode === 0) throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `${cmd[0]} in ${container}: ${failure.message}`, { container });
  if (failure && exitCode === -1) throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `${cmd[0]} in ${container}: ${failure.message}`, { container });
  return { exitCode, stderr: demux.stderr };
}
