/**
 * The RPM's unit and bundle installed on the sandbox Quadlets host, as the RPM installs them,
 * and run by the sandbox's own systemd. Only what the sandbox cannot give changes, in a drop-in:
 * ExecStart= points at the payload (the sandbox sees the host's /usr, where nothing is
 * installed) and --config at a test configuration, and Flight Control's configuration directory
 * is one under the sandbox's /run; every hardening option stays as shipped.
 */
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { stringify } from 'yaml';
import type { Sandbox } from '../../harness/quadlet-host/sandbox.js';
import { NAME, UNIT, type BuiltPackage } from './package-env.js';

/** Inside the sandbox: the test's files, in its private /run (the unit's PrivateTmp hides /tmp). */
export const TEST_DIR = '/run/fra-test';
export const SOCKET = `/run/${NAME}/api.sock`;
export const STATE_DIR = `/var/lib/${NAME}`;
/** Flight Control's configuration (/etc/flightctl in production: the sandbox shares the host's /etc). */
export const ETC_DIR = `${TEST_DIR}/etc-flightctl`;

/** A path inside the sandbox's mount namespace, as the host sees it. */
export function hostPath(sb: Sandbox, inside: string): string {
  if (inside.startsWith('/run/')) return path.join(sb.dir, 'run', inside.slice(5));
  if (inside.startsWith('/var/lib/')) return path.join(sb.dir, 'var-lib', inside.slice(9));
  throw new Error(`no host path for ${inside} in this sandbox`);
}

/**
 * The sandbox shares the host's /var/lib, where StateDirectory= would create the agent's state
 * directory on this machine. Give its mount namespace a /var/lib of its own (DIR/var-lib), with
 * the sandbox's Podman storage and CNI mounts moved over whole (container mounts included).
 */
async function privateVarLib(sb: Sandbox): Promise<void> {
  const own = path.join(sb.dir, 'var-lib');
  const hold = path.join(sb.dir, 'var-lib-hold');
  for (const d of ['containers', 'cni']) {
    mkdirSync(path.join(own, d), { recursive: true });
    mkdirSync(path.join(hold, d), { recursive: true });
  }
  await sb.nsExec([
    '/bin/sh',
    '-c',
    'set -e; for d in containers cni; do mount --move /var/lib/$d "$2/$d"; done; mount --bind "$1" /var/lib; for d in containers cni; do mount --move "$2/$d" /var/lib/$d; done',
    'var-lib',
    own,
    hold,
  ]);
}

export interface Installed {
  /** The drop-in that adds test-only settings (Environment=); rewritten by setTestEnvironment. */
  setTestEnvironment(env: Record<string, string>): void;
}

/** Payload, unit, the ExecStart drop-in and the agent's configuration (keys: a JWKS file). */
export async function installOnSandbox(sb: Sandbox, pkg: BuiltPackage, api: { jwks: string; issuer: string; audience: string }): Promise<Installed> {
  await privateVarLib(sb);
  const test = hostPath(sb, TEST_DIR);
  mkdirSync(test, { recursive: true, mode: 0o700 });
  cpSync(pkg.payload, path.join(test, 'payload'), { recursive: true, verbatimSymlinks: true });
  writeFileSync(path.join(test, 'jwks.json'), api.jwks, { mode: 0o600 });
  mkdirSync(hostPath(sb, ETC_DIR), { mode: 0o755 });
  const config = {
    api: { listen: [`unix:${SOCKET}`], jwksFile: `${TEST_DIR}/jwks.json`, jwtIssuers: [api.issuer], jwtAudience: api.audience },
    flightctl: { etcDir: ETC_DIR },
    host: { unitTimeoutMs: 60_000 },
  };
  writeFileSync(path.join(test, 'config.yaml'), stringify(config), { mode: 0o600 });
  // /etc/systemd/system of the sandbox: the unit as shipped, plus drop-ins.
  cpSync(path.join(pkg.payload, 'usr/lib/systemd/system', UNIT), path.join(sb.unitDir, UNIT));
  const dropins = path.join(sb.unitDir, `${UNIT}.d`);
  mkdirSync(dropins, { recursive: true });
  writeFileSync(
    path.join(dropins, '50-sandbox-paths.conf'),
    `[Service]\nExecStart=\nExecStart=${TEST_DIR}/payload/usr/bin/${NAME} serve --config ${TEST_DIR}/config.yaml\nReadWritePaths=${ETC_DIR}\n`,
  );
  const testEnv = path.join(dropins, '60-test-environment.conf');
  const setTestEnvironment = (env: Record<string, string>) =>
    writeFileSync(
      testEnv,
      `[Service]\n${Object.entries(env)
        .map(([k, v]) => `Environment=${k}=${v}\n`)
        .join('')}`,
    );
  setTestEnvironment({});
  chmodSync(test, 0o700);
  return { setTestEnvironment };
}

export interface Answer {
  status: number;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One call to the agent's API over its Unix socket, bounded by timeoutMs. */
export function callSocket(socket: string, method: string, p: string, opts: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      {
        socketPath: socket,
        method,
        path: p,
        headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: <T>() => JSON.parse(text) as T }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} over ${socket}: no answer in time`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** `systemctl show` properties of a unit, read inside the sandbox. */
export async function unitProperties(sb: Sandbox, unit: string, names: string[]): Promise<Record<string, string>> {
  const { stdout } = await sb.nsExec(['systemctl', 'show', `--property=${names.join(',')}`, '--', unit]);
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}
