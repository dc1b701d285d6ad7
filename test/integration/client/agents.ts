/**
 * Real agents for the fleet client's tests: `flightctl-restore-agent serve` from the built binary,
 * each with its own state directory and listeners (loopback HTTP, a Unix socket, HTTPS with a
 * certificate from a CA the test makes), on the sandbox Quadlets host or on a host that is not
 * there (no D-Bus, no Podman: every restore there fails in its first step, a real failure of a
 * real run). Every agent is stopped by PID when its test ends.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateTestKey, jwksOf, mintToken, type TestKey } from '../../harness/tokens.js';
import { spawnAgent, type CliResult, type RunningAgent } from '../cli/run-cli.js';
import type { RestoreEnv } from '../runbook/restore-env.js';
import { caAndServerCertificate } from '../../harness/test-pki.js';

export const ISS = 'https://issuer.fleet.test';
export const AUD = 'restore-agents.test';

export interface Agent {
  name: string;
  /** The first listener: http://127.0.0.1:PORT, https://127.0.0.1:PORT or unix:/PATH. */
  url: string;
  listening: string[];
  stateDir: string;
  importDir: string;
  agent: RunningAgent;
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

export interface Fleet {
  dir: string;
  key: TestKey;
  jwks: string;
  /** A token every agent of the fleet accepts, and a file holding it. */
  token: string;
  tokenFile: string;
  ca: { caFile: string; cert: string; key: string };
  agents: Agent[];
  start(name: string, o?: StartOptions): Promise<Agent>;
  stopAll(): Promise<string>;
}

export interface StartOptions {
  listen?: Array<'http' | 'unix' | 'https'>;
  /** Run on the sandbox host (else on a host that is not there). */
  sandbox?: RestoreEnv;
  env?: Record<string, string>;
  jwks?: string;
}

/** A CA and a certificate for 127.0.0.1 it signed (openssl, as an operator would). */
function makeCa(dir: string): Fleet['ca'] {
  const made = caAndServerCertificate(dir, 'fleet test CA');
  return { caFile: made.caFile, cert: made.certFile, key: made.keyFile };
}

export async function healthy(url: string, ca?: string, timeoutMs = 60_000): Promise<void> {
  const get = () =>
    new Promise<string>((resolve, reject) => {
      const opts: https.RequestOptions = url.startsWith('unix:')
        ? { socketPath: url.slice(5), path: '/healthz' }
        : { host: '127.0.0.1', port: Number(url.split(':').at(-1)), path: '/healthz', ca: ca ? readFileSync(ca) : undefined };
      (url.startsWith('https') ? https : http)
        .get(opts, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  for (const deadline = Date.now() + timeoutMs; ;) {
    const body = await get().catch(() => '');
    if (body.includes('ready')) return;
    if (Date.now() > deadline) throw new Error(`agent at ${url} never became ready`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startFleet(): Promise<Fleet> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fleet-'));
  const key = await generateTestKey('ec');
  const jwks = path.join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify(jwksOf(key)));
  const token = await mintToken({ key, iss: ISS, aud: AUD, sub: 'fleet-operator@example', scope: 'restore:read restore:run devices:resume', expiresIn: 3600 });
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const ca = makeCa(dir);
  const agents: Agent[] = [];
  const printed: string[] = [];

  async function start(name: string, o: StartOptions = {}): Promise<Agent> {
    const stateDir = path.join(dir, name, 'state');
    const importDir = path.join(stateDir, 'imports');
    mkdirSync(importDir, { recursive: true });
    const listen = (o.listen ?? ['http']).flatMap((l) => ['--listen', l === 'unix' ? `unix:${path.join(dir, name, 'api.sock')}` : `${l}://127.0.0.1:0`]);
    const tls = o.listen?.includes('https') ? ['--tls-cert', ca.cert, '--tls-key', ca.key] : [];
    const common = ['serve', ...listen, ...tls, '--jwks-file', o.jwks ?? jwks, '--jwt-issuer', ISS, '--jwt-audience', AUD, '--json', '--state-dir', stateDir];
    const agent = o.sandbox
      ? o.sandbox.spawn(common, o.env)
      : spawnAgent(
          [...common, '--dbus-address', `unix:path=${path.join(dir, name, 'no-bus')}`, '--podman-socket', path.join(dir, name, 'no-podman.sock')],
          o.env,
        );
    let out = '';
    agent.process.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (const deadline = Date.now() + 60_000; !out.includes('listening');) {
      if (Date.now() > deadline || agent.process.exitCode !== null) throw new Error(`serve ${name} did not start: ${(await agent.done).stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const listening = (JSON.parse(out.split('\n')[0]!) as { listening: string[] }).listening;
    await healthy(listening[0]!, ca.caFile);
    const a: Agent = {
      name,
      url: listening[0]!,
      listening,
      stateDir,
      importDir,
      agent,
      async stop(signal = 'SIGTERM') {
        if (agent.process.exitCode === null && agent.process.signalCode === null) agent.process.kill(signal);
        const r = await agent.done;
        printed.push(r.all);
        return r;
      },
    };
    agents.push(a);
    return a;
  }

  return {
    dir,
    key,
    jwks,
    token,
    tokenFile,
    ca,
    agents,
    start,
    async stopAll() {
      await Promise.all(agents.splice(0).map((a) => a.stop()));
      return printed.join('\n');
    },
  };
}

/** A loopback port nothing listens on (bound, then closed): a host that is down. */
export async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
