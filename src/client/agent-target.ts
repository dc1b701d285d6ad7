import { RestoreError } from '../lib/errors.js';

/**
 * Where one agent answers: its API over HTTPS (TLS always verified, optionally against a CA
 * bundle of the operator's), plain HTTP on loopback only (as serve itself allows), or the local
 * Unix socket.
 */
export type AgentAddress = { kind: 'unix'; socketPath: string } | { kind: 'https'; host: string; port: number } | { kind: 'http'; host: string; port: number };

export interface AgentTarget {
  /** What the operator calls it: the inventory host name, or the address given. */
  name: string;
  /** The address as written (unix:PATH or a URL), for messages and JSON output. */
  url: string;
  address: AgentAddress;
  /** CA bundle (PEM) for https; undefined: the system's trusted CAs. */
  caFile?: string | undefined;
  /** A token file for this host only (inventory variable), instead of the global token. */
  tokenFile?: string | undefined;
  /** What to restore on this host when the command line names nothing (inventory variables). */
  restoreFrom?: { dump?: string; archive?: string } | undefined;
}

export const DEFAULT_SOCKET = '/run/flightctl-restore-agent/api.sock';
export const DEFAULT_PORT = 8443;
const LOOPBACK = /^(127(?:\.\d{1,3}){3}|::1|localhost)$/i;

function usage(message: string): RestoreError {
  return new RestoreError('RESTORE_ERR_USAGE', message);
}

/** unix:/path, https://host[:port], or http://127.0.0.1:port; anything else is refused. */
export function parseAgentAddress(text: string, where: string): AgentAddress {
  if (text.startsWith('unix:')) {
    const p = text.slice('unix:'.length);
    if (!p.startsWith('/')) throw usage(`${where} "${text}": the socket path must be absolute (unix:/run/...)`);
    return { kind: 'unix', socketPath: p };
  }
  if (text.startsWith('/')) return { kind: 'unix', socketPath: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`${where} "${text}": use https://HOST:PORT, unix:/PATH, or http://127.0.0.1:PORT`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw usage(`${where} "${text}": give only scheme, host and port (the client adds /v1/...)`);
  if (url.username || url.password) throw usage(`${where} "${text}": no credentials in the URL; the token comes from --token-file or FLIGHTCTL_RESTORE_TOKEN`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'https:') return { kind: 'https', host, port: url.port ? Number(url.port) : 443 };
  if (url.protocol === 'http:') {
    // The token would cross the network in the clear; serve refuses plain HTTP off loopback too.
    if (!LOOPBACK.test(host)) throw usage(`${where} "${text}": plain http only to loopback (127.0.0.1, [::1]); use https:// for another host`);
    return { kind: 'http', host, port: url.port ? Number(url.port) : 80 };
  }
  throw usage(`${where} "${text}": unknown scheme ${url.protocol} (https:, http: on loopback, unix:)`);
}

/** --host [NAME=]URL */
export function targetFromHostFlag(text: string, caFile: string | undefined): AgentTarget {
  const m = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(text);
  const url = m ? m[2]! : text;
  const address = parseAgentAddress(url, '--host');
  const name = m
    ? m[1]!
    : address.kind === 'unix'
      ? `unix:${address.socketPath}`
      : `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  return { name, url, address, caFile };
}

export function targetFromSocket(socketPath: string): AgentTarget {
  const url = `unix:${socketPath}`;
  return { name: 'local', url, address: parseAgentAddress(url, '--socket') };
}
