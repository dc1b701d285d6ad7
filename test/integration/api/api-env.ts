/**
 * The API app as serve builds it, with real keys and a real authenticator, for HTTP-level tests
 * (supertest) and the API benchmark. The host behind it is one that is not there (a bus and a
 * Podman socket that do not exist): every call these tests make is answered before the host is
 * touched, or names the host as unreachable.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createApp, type Readiness } from '../../../src/api/app.js';
import { createAuthenticator } from '../../../src/api/auth.js';
import { ApiMetrics } from '../../../src/api/metrics.js';
import { RunManager } from '../../../src/api/run-manager.js';
import { configSchema, type ConfigInput } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/lib/logger.js';
import { QuadletTarget } from '../../../src/targets/quadlet/quadlet-target.js';
import { FileRunStore } from '../../../src/runbook/store/file/file-run-store.js';
import { generateTestKey, jwksOf, mintToken, spkiPem, type MintOptions, type TestKey } from '../../harness/tokens.js';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'restore-agent.test';

export interface ApiEnv {
  app: ReturnType<typeof createApp>;
  key: TestKey;
  otherKey: TestKey;
  publicPem: string;
  dir: string;
  importDir: string;
  /** Everything the app logged (JSON lines), for leak and audit checks. */
  log(): string;
  token(over?: Partial<MintOptions>): Promise<string>;
  setReadiness(r: Readiness): void;
}

export async function startApiEnv(config: ConfigInput = {}): Promise<ApiEnv> {
  const dir = mkdtempSync(path.join(tmpdir(), 'api-'));
  const key = await generateTestKey('ec');
  const otherKey = await generateTestKey('ec', key.kid); // same kid, another pair
  const jwksFile = path.join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwksOf(key)));
  const importDir = path.join(dir, 'imports');
  mkdirSync(importDir);
  writeFileSync(path.join(importDir, 'backup.sql'), '--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n');
  mkdirSync(path.join(importDir, 'sub'));
  symlinkSync('/etc/passwd', path.join(importDir, 'escape.sql'));
  writeFileSync(path.join(dir, 'outside.sql'), 'SELECT 1;\n');
  // The default backup directory (<state-dir>/backups), where archives may also be named.
  const backupDir = path.join(dir, 'state', 'backups');
  mkdirSync(backupDir, { recursive: true });
  symlinkSync('/etc/passwd', path.join(backupDir, 'escape.tar.gz'));
  writeFileSync(path.join(backupDir, 'only-backup.sql'), 'SELECT 1;\n');
  const cfg = configSchema.parse({
    ...config,
    host: { dbusAddress: `unix:path=${dir}/no-bus`, podmanSocket: `${dir}/no-podman.sock`, stateDir: path.join(dir, 'state'), ...config.host },
    api: { jwksFile, jwtIssuers: [ISSUER], jwtAudience: AUDIENCE, importDir, ...config.api },
  });
  const logStream = new PassThrough();
  let logged = '';
  logStream.on('data', (d: Buffer) => (logged += d.toString()));
  const logger = createLogger('debug', logStream);
  const target = new QuadletTarget(cfg.host, cfg.db.user, cfg.flightctl.etcDir);
  const metrics = new ApiMetrics();
  const store = new FileRunStore(cfg.host.stateDir);
  const runs = new RunManager({ config: cfg, logger, target, store, onFinished: (r) => metrics.observeRun(r) });
  const auth = await createAuthenticator({ ...cfg.api, jwtAudience: cfg.api.jwtAudience });
  let readiness: Readiness = 'ready';
  const app = createApp({ config: cfg, logger, target, store, runs, metrics, auth, readiness: () => readiness });
  return {
    app,
    key,
    otherKey,
    publicPem: await spkiPem(key),
    dir,
    importDir,
    log: () => logged,
    token: (over = {}) => mintToken({ key, iss: ISSUER, aud: AUDIENCE, sub: 'operator@example', scope: 'restore:read restore:run devices:resume', ...over }),
    setReadiness: (r) => (readiness = r),
  };
}
