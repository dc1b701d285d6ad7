import Docker from 'dockerode';
import http from 'node:http';
import { Writable, type Readable } from 'node:stream';
import { RestoreError } from '../../lib/errors.js';
import { retrying } from '../../lib/retrying.js';
import type { ConnectionLossListener } from '../connection-loss.js';
import { execStream } from './exec-stream.js';

/** Libpod API version prefix; podman 4.x and 5.x answer it. */
const LIBPOD = '/v4.0.0/libpod';

export interface ContainerInfo {
  name: string;
  /** The container's id: a container started again (quadlet runs them with --rm) has a new one. */
  id: string;
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
  /** What messages call the command (default: its program). */
  label?: string;
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
  /** Once Podman answered, a socket that stops answering is a loss (podman.service restarted), worth waiting out. */
  private reached = false;

  constructor(
    readonly socketPath: string,
    private readonly reconnect: { reconnectWaitMs?: number; onLoss?: ConnectionLossListener } = {},
  ) {
    this.docker = new Docker({ socketPath });
  }

  /**
   * A read, made again while the API that answered before does not (podman.service restarted:
   * the call under way is cut, the socket may refuse a moment), bounded by reconnectWaitMs.
   * Only for calls that are safe to repeat. A Podman that never answered fails at once.
   */
  private async read<T>(what: string, call: () => Promise<T>): Promise<T> {
    let lost: RestoreError | undefined;
    const waitMs = this.reconnect.reconnectWaitMs ?? 60_000;
    try {
      const out = await retrying(call, {
        maxWaitMs: waitMs,
        firstDelayMs: 200,
        maxDelayMs: 5_000,
        retryIf: (e) => this.reached && e.code === 'RESTORE_ERR_PODMAN_UNREACHABLE',
        onWait: (e) => void (lost ??= e),
      });
      this.reached = true;
      if (lost) this.reconnect.onLoss?.({ code: lost.code, message: lost.message, action: `Podman answered again; the call (${what}) was made again` });
      return out;
    } catch (err) {
      if (lost) this.reconnect.onLoss?.({ code: lost.code, message: lost.message, action: `gave up waiting for Podman after ${Math.round(waitMs / 1000)} s` });
      throw err;
    }
  }

  unreachable(err: unknown): RestoreError {
    const code = (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? String(err);
    return new RestoreError('RESTORE_ERR_PODMAN_UNREACHABLE', `cannot talk to Podman on ${this.socketPath}: ${code}`, { socket: this.socketPath });
  }

  isConnError(err: unknown): boolean {
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
    return this.read(`GET ${path.replace(/\?.*/, '')}`, () => this.libpodRequest('GET', path, undefined, timeoutMs));
  }

  libpodPost(path: string, body: unknown, timeoutMs = 15_000): Promise<LibpodResponse> {
    return this.libpodRequest('POST', path, body, timeoutMs);
  }

  async ping(): Promise<void> {
    await this.read('ping', async () => {
      try {
        await this.docker.ping();
      } catch (err) {
        throw this.unreachable(err);
      }
    });
  }

  /** The container's inspect document; undefined when it does not exist. */
  private inspect(name: string): Promise<Docker.ContainerInspectInfo | undefined> {
    return this.read(`inspect ${name}`, async () => {
      try {
        return await this.docker.getContainer(name).inspect();
      } catch (err) {
        // A container being removed (quadlet's --rm after a kill) can answer 500 "no such container".
        if ((err as { statusCode?: number }).statusCode === 404 || /no such container/i.test(String((err as Error)?.message))) return undefined;
        throw this.isConnError(err) ? this.unreachable(err) : err;
      }
    });
  }

  /** State and IP on `network` (only Networks[network].IPAddress is set on a named network). */
  async inspectContainer(name: string, network = 'flightctl'): Promise<ContainerInfo | undefined> {
    const info = await this.inspect(name);
    if (!info) return undefined;
    const nets = (info.NetworkSettings?.Networks ?? {}) as Record<string, { IPAddress?: string }>;
    return {
      name,
      id: info.Id,
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
      throw new RestoreError('RESTORE_ERR_CONTAINER_NOT_RUNNING', `container ${name} is not running (state ${info.status})`, {
        container: name,
        state: info.status,
      });
    }
    return info;
  }

  /**
   * Runs a command in a running container, streams stdin into it, collects stdout, stderr and the
   * exit code: execStream with stdout kept in a string (right for SQL snippets, not for a dump).
   */
  async exec(container: string, opts: ExecOptions): Promise<ExecResult> {
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
    const r = await execStream(this, container, opts.cmd, {
      stdin: opts.stdin,
      env: opts.env,
      user: opts.user,
      signal: opts.signal,
      label: opts.label,
      stdout: out,
      timeoutMs: opts.timeoutMs ?? 600_000,
    });
    return { exitCode: r.exitCode, stdout: Buffer.concat(chunks).toString('utf8'), stderr: r.stderr };
  }
}
