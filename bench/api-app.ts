/**
 * The API the benchmark loads, built the way serve builds it: the real authenticator on real keys
 * (a JWKS file), a RunManager on a temp state dir whose journal holds one finished run, serve's
 * own listen() on http://127.0.0.1:0, and a host that is not there (no bus, no Podman socket:
 * GET /v1/restores/{id} never touches the host). Two apps share that state: one verifies tokens,
 * the other is the no-auth baseline (createApp's `auth: undefined`).
 *
 * withBenchApi stops everything on every path, like bench-servers.ts: at the end or on failure
 * (a finally), on SIGINT/SIGTERM (then exit 130), and by PID when the process exits another way.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createApp } from '../src/api/app.js';
import { createAuthenticator } from '../src/api/auth.js';
import { connectionLimits } from '../src/api/connection-guard.js';
import { listen, parseListen, type Listening } from '../src/api/listeners.js';
import { ApiMetrics } from '../src/api/metrics.js';
import { RunManager } from '../src/api/run-manager.js';
import { configSchema } from '../src/config/schema.js';
import { createLogger } from '../src/lib/logger.js';
import { QuadletTarget } from '../src/targets/quadlet/quadlet-target.js';
import { FileRunStore } from '../src/runbook/store/file/file-run-store.js';
import { generateTestKey, jwksOf, mintToken, type KeyKind } from '../test/harness/tokens.js';
import { saveFinishedRun } from './api-run.js';
import { withLifecycle } from './bench-lifecycle.js';

export const ALGS = { ES256: 'ec', RS256: 'rsa', EdDSA: 'ed25519' } as const satisfies Record<string, KeyKind>;
export type Alg = keyof typeof ALGS;
export type Variant = 'auth' | 'no-auth';

const ISSUER = 'https://issuer.bench';
const AUDIENCE = 'restore-agent.bench';

export interface BenchApi {
  runId: string;
  /** Base URL of each variant, e.g. http://127.0.0.1:40123. */
  url: Record<Variant, string>;
  /** A valid read token, good for `seconds`. */
  token(seconds: number): Promise<string>;
  /** Same claims and kid, signed by another key: must be refused. */
  wrongToken(): Promise<string>;
  /** Error-level lines the apps logged (a few): a bench with server errors measured the wrong thing. */
  errors(): string[];
  /** A child process to end (SIGTERM) when the benchmark stops early. */
  track(child: ChildProcess): void;
}

/** Keeps the first error lines and drops the rest: the apps log nothing for a 200 GET, audit lines for 401s. */
function errorSink(errors: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (errors.length < 5 && line.includes('"level":"error"')) errors.push(line.slice(0, 400));
      cb();
    },
  });
}

async function close(l: Listening): Promise<void> {
  const closed = new Promise<void>((resolve) => l.server.close(() => resolve()));
  // autocannon's keep-alive connections would hold close() until their timeout.
  l.server.closeAllConnections();
  await closed;
}

export async function withBenchApi<T>(alg: Alg, fn: (api: BenchApi) => Promise<T>, log: (msg: string) => void): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'api-bench-'));
  const listening: Listening[] = [];
  let target: QuadletTarget | undefined;
  const teardown = {
    onSignal: 'stopping the load generator and the servers this benchmark started',
    async stop() {
      await Promise.allSettled(listening.map(close));
      target?.close();
      await rm(dir, { recursive: true, force: true });
    },
    // The servers die with the process; the files go by path.
    atExit: () => rmSync(dir, { recursive: true, force: true }),
  };
  return withLifecycle(teardown, log, async ({ track, checkNotStopping }) => {
    const key = await generateTestKey(ALGS[alg]);
    const otherKey = await generateTestKey(ALGS[alg], key.kid); // same kid, another pair
    const jwksFile = path.join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(jwksOf(key)));
    const config = configSchema.parse({
      host: { dbusAddress: `unix:path=${dir}/no-bus`, podmanSocket: `${dir}/no-podman.sock`, stateDir: path.join(dir, 'state') },
      // The load generator is one peer with many connections: the door's bounds would measure themselves.
      api: { jwksFile, jwtIssuers: [ISSUER], jwtAudience: AUDIENCE, maxConnections: 100_000, maxConnectionsPerPeer: 100_000 },
    });
    const run = await saveFinishedRun(config.host.stateDir);
    const errors: string[] = [];
    const logger = createLogger(config.log.level, errorSink(errors));
    target = new QuadletTarget(config.host, config.db.user, config.flightctl.etcDir);
    const auth = await createAuthenticator({ ...config.api, jwtAudience: config.api.jwtAudience });
    const url = {} as Record<Variant, string>;
    for (const variant of ['auth', 'no-auth'] as const) {
      const metrics = new ApiMetrics();
      const store = new FileRunStore(config.host.stateDir);
      const runs = new RunManager({ config, logger, target, store, onFinished: (r) => metrics.observeRun(r) });
      const app = createApp({ config, logger, target, store, runs, metrics, auth: variant === 'auth' ? auth : undefined, readiness: () => 'ready' });
      const l = await listen(parseListen('http://127.0.0.1:0'), app, { cert: '', key: '' }, connectionLimits(config.api));
      listening.push(l);
      url[variant] = l.bound;
    }
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'bench@example', scope: 'restore:read' };
    // A signal that came while the servers started must not be followed by the load.
    checkNotStopping('starting the servers');
    return fn({
      runId: run.id,
      url,
      token: (seconds) => mintToken({ key, ...claims, expiresIn: seconds }),
      wrongToken: () => mintToken({ key: otherKey, ...claims }),
      errors: () => errors,
      track,
    });
  });
}
