/**
 * `serve` of the built binary with no host behind it, on loopback TCP and a Unix socket, for the
 * tests of what the API door bounds (connections, slow clients, refused calls): raw sockets from
 * several loopback addresses (127.0.0.0/8 only), so that one test can be many peers.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { generateTestKey, jwksOf, mintToken, type MintOptions, type TestKey } from '../../harness/tokens.js';
import { AGENT } from '../cli/run-cli.js';

const ISS = 'https://issuer.door.test';
const AUD = 'restore-agent.door';

export interface Door {
  host: string;
  port: number;
  sock: string;
  /** serve's stderr so far (its log, the audit lines among it). */
  log(): string;
  token(over?: Partial<MintOptions>): Promise<string>;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Starts serve (killed when the test ends); `fileLimit` runs it under prlimit --nofile. */
export async function openDoor(env: Record<string, string> = {}, opts: { fileLimit?: number } = {}): Promise<Door> {
  const dir = mkdtempSync(path.join(tmpdir(), 'door-'));
  const key: TestKey = await generateTestKey('ec');
  const jwks = path.join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify(jwksOf(key)));
  const sock = path.join(dir, 'api.sock');
  const args = [
    ...['--state-dir', path.join(dir, 'state'), '--dbus-address', `unix:path=${dir}/no-bus`, '--podman-socket', `${dir}/no-podman.sock`],
    ...['serve', '--json', '--listen', 'http://127.0.0.1:0', '--listen', `unix:${sock}`, '--jwks-file', jwks, '--jwt-issuer', ISS, '--jwt-audience', AUD],
  ];
  const argv = opts.fileLimit
    ? ['prlimit', `--nofile=${opts.fileLimit}:${opts.fileLimit}`, process.execPath, AGENT, ...args]
    : [process.execPath, AGENT, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (const deadline = Date.now() + 30_000; !err.includes('"msg":"ready"');) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not become ready: ${err.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const tcp = (JSON.parse(out.split('\n')[0]!) as { listening: string[] }).listening.find((l) => l.startsWith('http://'))!;
  const url = new URL(tcp);
  return {
    host: url.hostname,
    port: Number(url.port),
    sock,
    log: () => err,
    token: (over = {}) => mintToken({ key, iss: ISS, aud: AUD, sub: 'door@example', scope: 'restore:read restore:run devices:resume', ...over }),
  };
}

/** One HTTP request over TCP from `from` (a loopback address), or over the Unix socket. */
export function request(
  door: Door,
  o: { path: string; method?: string; from?: string; unix?: boolean; headers?: Record<string, string>; body?: string | Buffer },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const where = o.unix ? { socketPath: door.sock } : { host: door.host, port: door.port, localAddress: o.from ?? '127.0.0.1' };
    const req = http.request({ ...where, path: o.path, method: o.method ?? 'GET', headers: o.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A raw connection from a loopback address: what it received, and whether the server closed it. */
export interface RawConnection {
  socket: net.Socket;
  received(): string;
  closed(): boolean;
  /** Resolves once the server has closed the connection (or the bound runs out: false). */
  waitClosed(boundMs: number): Promise<boolean>;
}

export function connect(door: Door, from = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: door.host, port: door.port, localAddress: from });
    let data = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => undefined); // a reset is one way of being closed
    socket.on('close', () => (closed = true));
    onTestFinished(() => void socket.destroy());
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => data,
        closed: () => closed,
        waitClosed: async (boundMs) => {
          for (const deadline = Date.now() + boundMs; !closed && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
          return closed;
        },
      }),
    );
    socket.once('error', reject);
  });
}
