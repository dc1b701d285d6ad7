import Docker from 'dockerode';
import http from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { RestoreError } from '../../lib/errors.js';

/** Libpod API version prefix; podman 4.x and 5.x answer it. */
const LIBPOD = '/v4.0.0/libpod';

export interface ContainerInfo {
  name: string;
  running: boolean;
  /** created | running | exited | ... */
  status: string;
  /** IP on the given network, '' when the container is not attached (or not running). */
  ip: string;
}

export interface ExecOptions {
  cmd: string[];
  /** Streamed to the process's stdin; the only way (with env) a secret may reach it. */
  stdin?: Readable | string | Buffer | undefined;
  /** Environment of the exec'd process; goes over the API, never into any argv. */
  env?: Record<string, string>;
  user?: string;
  /** 0: no time limit (a dump load of many GB); the signal still ends it. Default 600 000. */
  timeoutMs?: number;
  /** Ends the exec: the connection is closed, so the process sees EOF on stdin. */
  signal?: AbortSignal | undefined;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LibpodResponse {
  status: number;
  body: string;
}

/**
 * The Podman REST socket: dockerode for what the Docker-compatible API covers (inspect, exec),
 * plain HTTP over the socket for libpod endpoints it lacks (secrets).
 */
export class PodmanClient {
  readonly docker: Docker;

  constructor(readonly socketPath: string) {
    this.docker = new Docker({ socketPath });
  }

  private unreachable(err: unknown): RestoreError {
    const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
    return new RestoreError('RESTORE_ERR_PODMAN_UNREACHABLE', `cannot talk to Podman on ${this.socketPath}: ${code}`, { socket: this.socketPath });
  }

  private isConnError(err: unknown): boolean {
    const code = (err as NodeJS.ErrnoException)?.code ?? '';
    return ['ENOENT', 'ECONNREFUSED', 'EACCES', 'ECONNRESET', 'EPIPE'].includes(code);
  }

  /** A libpod call; answers status and body, throws only when the socket cannot be used. */
  private libpodRequest(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 15_000): Promise<LibpodResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, method, path: `${LIBPOD}${path}`, timeout: timeoutMs, headers: payload ? { 'content-type': 'application/json' } : {} },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (err) => reject(this.unreachable(err)));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(this.unreachable(err)));
      req.end(payload);
    });
  }

  libpodGet(path: string, timeoutMs = 15_000): Promise<LibpodResponse> {
    return this.libpodRequest('GET', path, undefined, timeoutMs);
  }

  libpodPost(path: string, body: unknown, timeoutMs = 15_000): Promise<LibpodResponse> {
    return this.libpodRequest('POST', path, body, timeoutMs);
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  /** The container's inspect document; undefined when it does not exist. */
  private async inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.isConnError(err) ? this.unreachable(err) : err;
    }
  }

  /** State and IP on `network` (only Networks[network].IPAddress is set on a named network). */
  async inspectContainer(name: string, network = 'flightctl'): Promise<ContainerInfo | undefined> {
    const info = await this.inspect(name);
    if (!info) return undefined;
    const nets = (info.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>;
    return {
      name,
      running: info.State?.Running === true,
      status: info.State?.Status ?? 'unknown',
      ip: nets[network]?.IPAddress ?? '',
    };
  }

  /** The image a container runs and its labels (undefined when the container does not exist). */
  async containerImage(name: string): Promise<{ image: string; labels: Record<string, string> } | undefined> {
    const info = await this.inspect(name);
    if (!info) return undefined;
    const image = (info as unknown as { ImageName?: string }).ImageName || info.Config?.Image || '';
    return { image, labels: { ...(info.Config?.Labels ?? {}) } };
  }

  /** Like inspectContainer, but a missing or stopped container is a clear error. */
  async requireRunning(name: string, network = 'flightctl'): Promise<ContainerInfo> {
    const info = await this.inspectContainer(name, network);
    if (!info) throw new RestoreError('RESTORE_ERR_CONTAINER_NOT_RUNNING', `container ${name} does not exist`, { container: name });
    if (!info.running) {
      throw new RestoreError('RESTORE_ERR_CONTAINER_NOT_RUNNING', `container ${name} is not running (state ${info.status})`, { container: name, state: info.status });
    }
    return info;
  }

  /**
   * Runs a command in a running container, streams stdin into it, collects stdout, stderr and the
   * exit code. Secrets go through stdin or env only; cmd is visible in the process table.
   */
  async exec(container: string, opts: ExecOptions): Promise<ExecResult> {
    await this.requireRunning(container);
    const withStdin = opts.stdin !== undefined;
    let stream: NodeJS.ReadWriteStream;
    let exec: Docker.Exec;
    try {
      exec = await this.docker.getContainer(container).exec({
        Cmd: opts.cmd,
        AttachStdin: withStdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        Env: opts.env ? Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) : undefined,
        User: opts.user,
      });
      stream = (await exec.start({ hijack: true, stdin: withStdin })) as unknown as NodeJS.ReadWriteStream;
    } catch (err) {
      if (this.isConnError(err)) throw this.unreachable(err);
      throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `exec in ${container} failed: ${(err as Error).message}`, { container });
    }
    const out = new PassThrough();
    const errOut = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    errOut.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    this.docker.modem.demuxStream(stream, out, errOut);
    // A process that exits before reading all of its stdin (psql stopping at an error) breaks the
    // connection under our writes: that is its exit code's to report, not a failure of the exec.
    // A failure to read the input is always one: the process would have seen a truncated stdin.
    let inputError: Error | undefined;
    const ended = new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
    });
    if (withStdin) {
      const input = opts.stdin;
      if (typeof input === 'string' || Buffer.isBuffer(input)) {
        stream.write(input);
        halfClose(stream);
      } else if (input) {
        // pipe() waits for the socket to drain: a dump of many GB never piles up in memory.
        input.pipe(stream as unknown as NodeJS.WritableStream, { end: false });
        input.on('end', () => halfClose(stream));
        input.on('error', (e) => {
          inputError = e;
          (stream as unknown as { destroy: () => void }).destroy();
        });
      }
    }
    const timeoutMs = opts.timeoutMs ?? 600_000;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        ended,
        new Promise<never>((_, reject) => {
          if (timeoutMs > 0) {
            timer = setTimeout(() => reject(new RestoreError('RESTORE_ERR_EXEC_FAILED', `exec in ${container} did not finish within ${timeoutMs} ms`, { container })), timeoutMs);
          }
          onAbort = () => reject(new RestoreError('RESTORE_ERR_CANCELLED', `exec in ${container} was interrupted`, { container }));
          if (opts.signal?.aborted) onAbort();
          else opts.signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      if (opts.stdin && typeof opts.stdin === 'object' && 'unpipe' in opts.stdin) (opts.stdin as Readable).unpipe();
      (stream as unknown as { destroy?: () => void }).destroy?.();
    }
    // The exit code can lag the end of the stream by a moment.
    let exitCode: number | null = null;
    for (let i = 0; i < 50; i++) {
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
        exitCode = info.ExitCode;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // An input that failed for a reason of its own (an archive changed since it was verified) says so.
    if (inputError instanceof RestoreError) throw inputError;
    if (inputError) {
      throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `exec in ${container}: reading its input failed (${(inputError as NodeJS.ErrnoException).code ?? inputError.message})`, { container });
    }
    return { exitCode: exitCode ?? -1, stdout, stderr };
  }
}

/** Ends our side of the hijacked connection so the process sees EOF on stdin. */
function halfClose(stream: NodeJS.ReadWriteStream): void {
  const sock = stream as unknown as { end: () => void };
  sock.end();
}
