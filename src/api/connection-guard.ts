import http, { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { CONFIG_DEFAULTS, type Config } from '../config/schema.js';
import { RestoreError } from '../lib/errors.js';
import { problemDocument } from './problem.js';

/** What bounds the connections of one listener (api.* keys). */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerPeer: number;
}

export function connectionLimits(api: Config['api']): ConnectionLimits {
  const { headersTimeoutMs, requestTimeoutMs, maxConnections, maxConnectionsPerPeer } = api;
  return { headersTimeoutMs, requestTimeoutMs, maxConnections, maxConnectionsPerPeer };
}

export const DEFAULT_LIMITS: ConnectionLimits = connectionLimits(CONFIG_DEFAULTS.api);

/**
 * Past maxConnections this many more are taken, for /healthz only: a saturated listener still
 * says whether the agent is alive. Past those, a connection is closed as soon as it is accepted.
 */
export const HEALTH_RESERVE = 8;

/** How often Node looks for requests past their header or request timeout. */
export const TIMEOUT_CHECK_MS = 1000;

/** How long a refused request's connection may still send (and have it discarded) before it is cut. */
const LINGER_MS = 2000;

/** A connection taken into the reserve that asks for nothing this long is let go for the next one. */
const RESERVE_IDLE_MS = 1000;

/**
 * Ends a connection after its answer without resetting it: what the client still sends is read and
 * discarded for a moment (closing with unread data would send a reset, and the client could lose
 * the answer with it), then it is cut.
 */
function closeGently(socket: Duplex): void {
  socket.end();
  socket.resume();
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  cut.unref();
  socket.once('close', () => clearTimeout(cut));
}

/** An answer written straight to the socket (no request object: Node could not parse one), then closed. */
function answerRaw(socket: Duplex, err: RestoreError): void {
  const status = err.httpStatus;
  const body = JSON.stringify(problemDocument(err, status, undefined));
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  );
  closeGently(socket);
}

/** What Node could not take as a request (headers too large or too slow, malformed), as problem+json. */
function clientErrorOf(err: NodeJS.ErrnoException, limits: ConnectionLimits): RestoreError | undefined {
  if (err.code === 'HPE_HEADER_OVERFLOW') return new RestoreError('RESTORE_ERR_HEADERS_TOO_LARGE', 'the request headers are larger than the server takes');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new RestoreError(
      'RESTORE_ERR_REQUEST_TIMEOUT',
      `the request did not arrive in time (headers ${limits.headersTimeoutMs} ms, whole request ${limits.requestTimeoutMs} ms)`,
    );
  if (err.code?.startsWith('HPE_')) return new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'the request is not valid HTTP/1.1');
  return undefined;
}

/**
 * Bounds what slow or many clients can hold (issue 17): the time to receive headers and a whole
 * request, connections per listener and (TCP) per remote address, with a reserve for /healthz;
 * the body of a request answered before it was read is not drained: the connection is closed after
 * the answer. Node's own answers to requests it cannot parse become problem+json.
 */
export function guardConnections(server: http.Server, tcp: boolean, handler: http.RequestListener, limits: ConnectionLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  let open = 0;
  const perPeer = new Map<string, number>();
  server.on('connection', (socket: net.Socket) => {
    const peer = tcp ? (socket.remoteAddress ?? '') : undefined;
    if (open >= limits.maxConnections + HEALTH_RESERVE || (peer !== undefined && (perPeer.get(peer) ?? 0) >= limits.maxConnectionsPerPeer)) {
      socket.destroy();
      return;
    }
    open++;
    if (open > limits.maxConnections) socket.setTimeout(RESERVE_IDLE_MS);
    if (peer !== undefined) perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
    socket.once('close', () => {
      open--;
      if (peer === undefined) return;
      const n = (perPeer.get(peer) ?? 1) - 1;
      if (n > 0) perPeer.set(peer, n);
      else perPeer.delete(peer);
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const problem = clientErrorOf(err, limits);
    const answered = (socket as { _httpMessage?: http.ServerResponse })._httpMessage?.headersSent === true;
    if (problem && socket.writable && !answered) answerRaw(socket, problem);
    else socket.destroy();
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    // Answered before its body was read (refused, too large): the rest is not waited for.
    res.on('finish', () => void (req.complete || closeGently(socket)));
    if (open <= limits.maxConnections) return handler(req, res);
    // In the reserve: /healthz only, and the connection is not kept for another request.
    res.setHeader('Connection', 'close');
    if (req.url?.split('?')[0] !== '/healthz') {
      const err = new RestoreError('RESTORE_ERR_BUSY', `this listener has more than ${limits.maxConnections} open connections (api.maxConnections)`);
      const body = JSON.stringify(problemDocument(err, err.httpStatus, req.url?.split('?')[0]));
      res.writeHead(err.httpStatus, { 'Content-Type': 'application/problem+json', 'Retry-After': '5', Connection: 'close' }).end(body);
      return;
    }
    handler(req, res);
  });
}
