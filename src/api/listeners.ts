import { promises as fs, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import type { RequestListener } from 'node:http';
import { RestoreError } from '../lib/errors.js';
import { DEFAULT_LIMITS, guardConnections, TIMEOUT_CHECK_MS, type ConnectionLimits } from './connection-guard.js';

export type { ConnectionLimits } from './connection-guard.js';

export type ListenAddress =
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'https'; host: string; port: number; text: string }
  | { kind: 'http'; host: string; port: number; text: string };

const LOOPBACK = new Set(['127.0.0.1', '::1']);

function invalid(text: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_CONFIG_INVALID', `api.listen "${text}": ${why}`, { listen: text });
}

/**
 * unix:PATH, https://HOST:PORT, or http://127.0.0.1:PORT / http://[::1]:PORT. Plain HTTP anywhere
 * but loopback is refused: tokens would cross the network in the clear.
 */
export function parseListen(text: string): ListenAddress {
  if (text.startsWith('unix:')) {
    const p = text.slice('unix:'.length);
    if (!path.isAbsolute(p)) throw invalid(text, 'the socket path must be absolute');
    return { kind: 'unix', path: p, text };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(text, 'use unix:PATH, https://HOST:PORT or http://127.0.0.1:PORT');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // An explicit port (0 picks a free one, for tests); URL leaves the scheme's default port out.
  if (!/^[a-z]+:\/\/(\[[^\]]+\]|[^/:]+):\d+\/?$/i.test(text)) throw invalid(text, 'needs a port, e.g. :8443');
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (url.pathname !== '/' || url.search || url.username) throw invalid(text, 'only scheme, host and port');
  if (url.protocol === 'https:') return { kind: 'https', host, port, text };
  if (url.protocol === 'http:') {
    if (!LOOPBACK.has(host)) throw invalid(text, 'plain HTTP only on loopback (127.0.0.1 or [::1]); use https:// with --tls-cert and --tls-key elsewhere');
    return { kind: 'http', host, port, text };
  }
  throw invalid(text, `unknown scheme ${url.protocol}`);
}

/** A socket file left by a process that is gone can be replaced; one that answers cannot. */
async function clearStaleSocket(p: string): Promise<void> {
  const st = await fs.lstat(p).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new RestoreError('RESTORE_ERR_LISTEN_FAILED', `${p} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new RestoreError('RESTORE_ERR_LISTEN_FAILED', `${p} is in use by another process (another agent?)`);
  await fs.rm(p, { force: true });
}

export interface Listening {
  address: ListenAddress;
  server: http.Server | https.Server;
  /** Where it actually listens (the port chosen for :0). */
  bound: string;
}

export async function listen(
  address: ListenAddress,
  handler: RequestListener,
  tls: { cert: string; key: string },
  limits: ConnectionLimits = DEFAULT_LIMITS,
): Promise<Listening> {
  let server: http.Server | https.Server;
  if (address.kind === 'https') {
    if (!tls.cert || !tls.key) throw invalid(address.text, 'https needs --tls-cert and --tls-key');
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(tls.cert);
      key = readFileSync(tls.key);
    } catch (err) {
      throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `cannot read the TLS certificate or key (${(err as NodeJS.ErrnoException).code})`);
    }
    server = https.createServer({ cert, key, minVersion: 'TLSv1.2', connectionsCheckingInterval: TIMEOUT_CHECK_MS });
  } else {
    server = http.createServer({ connectionsCheckingInterval: TIMEOUT_CHECK_MS });
  }
  guardConnections(server, address.kind !== 'unix', handler, limits);
  if (address.kind === 'unix') {
    await fs.mkdir(path.dirname(address.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(address.path);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new RestoreError('RESTORE_ERR_LISTEN_FAILED', `cannot listen on ${address.text}: ${err.code ?? err.message}`));
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (address.kind === 'unix') {
      // Created with no access for anyone but root, then opened up to exactly 0600.
      const old = process.umask(0o177);
      try {
        server.listen(address.path, done);
      } finally {
        process.umask(old);
      }
    } else server.listen(address.port, address.host, done);
  });
  if (address.kind === 'unix') await fs.chmod(address.path, 0o600);
  const a = server.address();
  const bound = typeof a === 'string' || !a ? address.text : `${address.kind}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return { address, server, bound };
}
