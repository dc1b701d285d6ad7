/**
 * `serve` of the built binary on a sandbox Quadlets host, on a loopback port, with a JWKS of a
 * key the test holds: how the API tests and the archive tests call the agent as production does.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { onTestFinished } from 'vitest';
import { generateTestKey, jwksOf, mintToken } from '../../harness/tokens.js';
import type { RunningAgent } from '../cli/run-cli.js';
import type { RestoreEnv } from '../runbook/restore-env.js';

const ISS = 'https://issuer.sandbox.test';
const AUD = 'restore-agent.sandbox';

export interface Served {
  agent: RunningAgent;
  base: string;
  call(
    method: string,
    p: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; text: string; json: () => Record<string, unknown> }>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number; all: string }>;
}

export interface ServeKit {
  token: string;
  /**
   * Starts serve (stopped with SIGKILL at the end of the test if still running); resolves once it
   * is ready, or (`until: 'listening'`) as soon as it listens.
   */
  serve(extraArgs?: string[], extraEnv?: Record<string, string>, opts?: { until?: 'ready' | 'listening' }): Promise<Served>;
}

export async function serveKit(env: RestoreEnv, printed: string[]): Promise<ServeKit> {
  const key = await generateTestKey('rsa');
  const jwks = path.join(env.dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify(jwksOf(key)));
  const token = await mintToken({ key, iss: ISS, aud: AUD, sub: 'ops@example', scope: 'restore:read restore:run devices:resume', expiresIn: 3600 });
  return {
    token,
    async serve(extraArgs = [], extraEnv = {}, opts = {}) {
      const agent = env.spawn(
        ['serve', '--listen', 'http://127.0.0.1:0', '--jwks-file', jwks, '--jwt-issuer', ISS, '--jwt-audience', AUD, '--json', ...extraArgs],
        extraEnv,
      );
      onTestFinished(() => {
        if (agent.process.exitCode === null && agent.process.signalCode === null) agent.process.kill('SIGKILL');
      });
      let out = '';
      agent.process.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      for (const deadline = Date.now() + 60_000; !out.includes('listening');) {
        if (Date.now() > deadline || agent.process.exitCode !== null) throw new Error(`serve did not start: ${(await agent.done).stderr.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const base = (JSON.parse(out.split('\n')[0]!) as { listening: string[] }).listening[0]!;
      for (const deadline = Date.now() + 60_000; opts.until !== 'listening';) {
        const h = await fetch(`${base}/healthz`).then((r) => r.json() as Promise<{ status: string }>);
        if (h.status === 'ready') break;
        if (Date.now() > deadline) throw new Error('serve never became ready');
        await new Promise((r) => setTimeout(r, 50));
      }
      return {
        agent,
        base,
        async call(method, p, body, headers = {}) {
          const r = await fetch(`${base}${p}`, {
            method,
            headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          const text = await r.text();
          printed.push(text);
          return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
        },
        async stop(signal = 'SIGTERM') {
          agent.process.kill(signal);
          const r = await agent.done;
          printed.push(r.all);
          return r;
        },
      };
    },
  };
}
