import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { ERROR_CATALOGUE, RestoreError, type ErrorCode } from '../lib/errors.js';
import { packageVersion } from '../lib/version.js';
import type { AgentTarget } from './agent-target.js';

export interface ClientTimeouts {
  /** A call: from connect to the last byte of the answer. */
  callMs: number;
  /** An event stream with no byte for this long is dead (the agent sends a heartbeat every 15 s). */
  idleMs: number;
}

export const DEFAULT_TIMEOUTS: ClientTimeouts = { callMs: 30_000, idleMs: 45_000 };
/** The largest answer read (a devices list of 100 000 devices is about 40 MB). */
const MAX_BODY = 256 * 1024 * 1024;
const MAX_LINE = 16 * 1024 * 1024;

const TLS_VERIFY = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'RESTORE_ERR_REQUEST_INVALID',
  401: 'RESTORE_ERR_UNAUTHENTICATED',
  403: 'RESTORE_ERR_FORBIDDEN',
  404: 'RESTORE_ERR_NOT_FOUND',
  409: 'RESTORE_ERR_RUN_ACTIVE',
  413: 'RESTORE_ERR_BODY_TOO_LARGE',
  429: 'RESTORE_ERR_RATE_LIMITED',
  502: 'RESTORE_ERR_AGENT_UNREACHABLE',
  503: 'RESTORE_ERR_NOT_READY',
  504: 'RESTORE_ERR_AGENT_UNREACHABLE',
};

export class ApiError extends RestoreError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(code, message, { status });
  }
}

/** A failure to talk to the agent at all, in words that say what to check. */
function unreachable(t: AgentTarget, err: NodeJS.ErrnoException, timeoutSec: number): RestoreError {
  const code = err.code ?? '';
  const where = t.address.kind === 'unix' ? t.address.socketPath : t.url;
  let why: string;
  if (TLS_VERIFY.has(code))
    why = `its TLS certificate cannot be verified (${code}); give the CA bundle that signed it with --ca-file (or restore_agent_ca_file in the inventory)`;
  else if (code === 'ECONNREFUSED') why = `nothing listens at ${where} (connection refused)`;
  else if (code === 'ENOENT' && t.address.kind === 'unix') why = `there is no socket ${where}; is flightctl-restore-agent serve running on this host?`;
  else if (code === 'EACCES') why = `permission denied on ${where} (the socket is root's; run as root)`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') why = `cannot resolve ${t.address.kind === 'unix' ? where : t.address.host}`;
  else if (code === 'TIMEOUT') why = `no answer from ${where} within ${timeoutSec} s`;
  else if (code === 'EPROTO' || /wrong version number|ssl/i.test(err.message)) why = `the TLS handshake with ${where} failed (is it plain http?)`;
  else if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(err.message)) why = `${where} closed the connection`;
  else why = `${where}: ${code || err.message}`;
  return new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${t.name}: ${why}`, { host: t.name, cause: code });
}

function problem(t: AgentTarget, status: number, text: string, what: string): ApiError {
  let body: { code?: unknown; detail?: unknown } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* not problem+json: a proxy, or not an agent */
  }
  const known = typeof body.code === 'string' && body.code in ERROR_CATALOGUE ? (body.code as ErrorCode) : undefined;
  const code = known ?? BY_STATUS[status] ?? (status >= 500 ? 'RESTORE_ERR_INTERNAL' : 'RESTORE_ERR_REQUEST_INVALID');
  let detail = typeof body.detail === 'string' ? body.detail : `HTTP ${status} for ${what}${known ? '' : ' (is this a flightctl-restore-agent?)'}`;
  if (status === 401)
    detail += ': check the token (--token-file or FLIGHTCTL_RESTORE_TOKEN): signed by a key this agent trusts, its issuer and audience, not expired';
  return new ApiError(code, `${t.name}: ${detail}`, status);
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/**
 * One agent's API. Node's http and https directly, because fetch cannot reach a Unix socket.
 * TLS is always verified: rejectUnauthorized is set explicitly, so even
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not turn it off. The token is sent as
 * a header and appears in no message.
 */
export class AgentClient {
  private readonly ca: Buffer | undefined;

  constructor(
    readonly target: AgentTarget,
    private readonly token: string,
    private readonly timeouts: ClientTimeouts = DEFAULT_TIMEOUTS,
  ) {
    if (target.caFile) {
      try {
        this.ca = readFileSync(target.caFile);
      } catch (err) {
        throw new RestoreError(
          'RESTORE_ERR_USAGE',
          `cannot read the CA bundle ${target.caFile} for ${target.name} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
        );
      }
    }
  }

  private open(method: string, path: string, headers: Record<string, string>, signal?: AbortSignal): http.ClientRequest {
    const a = this.target.address;
    const common: http.RequestOptions = {
      method,
      path,
      headers: { authorization: `Bearer ${this.token}`, 'user-agent': `flightctl-restorectl/${packageVersion()}`, ...headers },
      agent: false,
      signal,
    };
    if (a.kind === 'unix') return http.request({ ...common, socketPath: a.socketPath });
    if (a.kind === 'http') return http.request({ ...common, host: a.host, port: a.port });
    return https.request({ ...common, host: a.host, port: a.port, ca: this.ca, rejectUnauthorized: true, servername: isIP(a.host) ? undefined : a.host });
  }

  /** A call with a JSON body (or none); the answer whatever its status. */
  call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Answer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
    return new Promise<Answer>((resolve, reject) => {
      const req = this.open(method, path, headers, signal);
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), this.timeouts.callMs);
      const fail = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(signal?.aborted ? cancelled(this.target) : unreachable(this.target, err, this.timeouts.callMs / 1000));
      };
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(Object.assign(new Error(`answer larger than ${MAX_BODY} bytes`), { code: 'ETOOBIG' }));
          else chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(payload);
    });
  }

  /** A call whose 2xx answer is JSON; anything else becomes the agent's error with its code. */
  async json(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
    const a = await this.call(method, path, body, signal);
    if (a.status < 200 || a.status > 299) throw problem(this.target, a.status, a.text, `${method} ${path}`);
    try {
      return JSON.parse(a.text) as unknown;
    } catch {
      throw new RestoreError(
        'RESTORE_ERR_AGENT_UNREACHABLE',
        `${this.target.name}: ${method} ${path} answered something that is not JSON; is this a flightctl-restore-agent?`,
      );
    }
  }

  /**
   * The run's events as NDJSON lines, from the one after `lastSeq` (Last-Event-ID). Ends when
   * the agent ends the stream; throws when the connection breaks or stays silent too long.
   */
  async *eventLines(runId: string, lastSeq: number, signal?: AbortSignal): AsyncGenerator<string> {
    const headers: Record<string, string> = { accept: 'application/x-ndjson' };
    if (lastSeq > 0) headers['last-event-id'] = String(lastSeq);
    const path = `/v1/restores/${encodeURIComponent(runId)}/events`;
    const req = this.open('GET', path, headers, signal);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), this.timeouts.callMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(signal?.aborted ? cancelled(this.target) : unreachable(this.target, err, this.timeouts.callMs / 1000));
      });
      req.on('response', (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      req.end();
    });
    if (res.statusCode !== 200) {
      let text = '';
      for await (const c of res) if (text.length < 65_536) text += (c as Buffer).toString();
      throw problem(this.target, res.statusCode ?? 0, text, `GET ${path}`);
    }
    // A silent stream is a dead one: the agent writes a heartbeat line every 15 s.
    let idle = setTimeout(() => res.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), this.timeouts.idleMs);
    let buf = '';
    try {
      for await (const chunk of res) {
        clearTimeout(idle);
        idle = setTimeout(() => res.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), this.timeouts.idleMs);
        buf += (chunk as Buffer).toString('utf8');
        if (buf.length > MAX_LINE) throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${this.target.name}: an event line longer than ${MAX_LINE} bytes`);
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (line) yield line;
        }
      }
    } catch (err) {
      if (err instanceof RestoreError) throw err;
      throw signal?.aborted ? cancelled(this.target) : unreachable(this.target, err as NodeJS.ErrnoException, this.timeouts.idleMs / 1000);
    } finally {
      clearTimeout(idle);
      res.destroy();
    }
    // The agent always ends a stream with a complete line; a clean end that is not also the
    // end of an aborted response is the end of the run's events.
    if (!res.complete) throw unreachable(this.target, Object.assign(new Error('closed'), { code: 'ECONNRESET' }), 0);
  }
}

export function cancelled(t: AgentTarget): RestoreError {
  return new RestoreError('RESTORE_ERR_CANCELLED', `${t.name}: interrupted`);
}

export function isRetryable(err: unknown): boolean {
  return (
    err instanceof RestoreError &&
    (err.code === 'RESTORE_ERR_AGENT_UNREACHABLE' || err.code === 'RESTORE_ERR_NOT_READY' || err.code === 'RESTORE_ERR_RATE_LIMITED')
  );
}
