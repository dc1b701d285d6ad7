import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RestoreError } from '../../../src/lib/errors.js';
import { redactText } from '../../../src/lib/secrets.js';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { readPodmanSecret } from '../../../src/targets/quadlet/podman-secrets.js';

/**
 * The libpod secret-inspect answers of Podman 4.7+/5.x (with SecretData when showsecret=true) and
 * of 4.3 (which ignores showsecret), served on a Unix socket by this test: the machines here run
 * Podman 4.3, so the newer path cannot be exercised against a real Podman. The shapes follow
 * containers/podman: entities SecretInfoReport {ID, CreatedAt, UpdatedAt, Spec{Name, Driver{Name,
 * Options}, Labels}, SecretData omitempty}; a missing secret is 404 with the ErrorModel
 * {cause, message, response}. No sandbox Quadlets host is started.
 */
type Version = '5.x' | '4.3';

interface Secret {
  id: string;
  value: string;
}

const dir = mkdtempSync(path.join(tmpdir(), 'fcra-podman-api-'));
const socketPath = path.join(dir, 'podman.sock');
const podmanRoot = path.join(dir, 'storage');
const secrets = new Map<string, Secret>();
const requests: string[] = [];
let version: Version = '5.x';
let server: http.Server;

function secretId(): string {
  // Podman's secret IDs: 25 hex characters.
  return randomBytes(13).toString('hex').slice(0, 25);
}

/** A fresh value each time, so a match in the redactor can only come from the read under test. */
function freshValue(): string {
  return `v-${randomBytes(16).toString('hex')}`;
}

function inspectAnswer(name: string, s: Secret, showSecret: boolean): Record<string, unknown> {
  const created = '2025-03-04T10:11:12.123456789Z';
  const body: Record<string, unknown> = {
    ID: s.id,
    CreatedAt: created,
    UpdatedAt: created,
    Spec: { Name: name, Driver: { Name: 'file', Options: { path: path.join(podmanRoot, 'secrets', 'filedriver') } }, Labels: {} },
  };
  // Podman >= 4.7 adds the value when asked; 4.3 has no such field and ignores the parameter.
  if (version === '5.x' && showSecret) body.SecretData = s.value;
  return body;
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  requests.push(req.url ?? '');
  const url = new URL(req.url ?? '/', 'http://d');
  const m = /^\/v4\.0\.0\/libpod\/secrets\/([^/]+)\/json$/.exec(url.pathname);
  res.setHeader('Content-Type', 'application/json');
  if (req.method !== 'GET' || !m) {
    res.writeHead(404).end(JSON.stringify({ cause: 'not found', message: `no route ${url.pathname}`, response: 404 }));
    return;
  }
  const name = decodeURIComponent(m[1]!);
  const s = secrets.get(name);
  if (!s) {
    res.writeHead(404).end(JSON.stringify({ cause: 'no such secret', message: `${name}: no such secret`, response: 404 }));
    return;
  }
  res.writeHead(200).end(JSON.stringify(inspectAnswer(name, s, url.searchParams.get('showsecret') === 'true')));
}

/** The file driver's store as Podman writes it: secrets.json (names, IDs) and filedriver/secretsdata.json (base64 by ID). */
function writeFileDriverStore(entries: Map<string, Secret>, opts: { withData: boolean }): void {
  const base = path.join(podmanRoot, 'secrets');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(path.join(base, 'filedriver'), { recursive: true });
  const index = { secrets: {} as Record<string, unknown>, nameToID: {} as Record<string, string>, idToName: {} as Record<string, string> };
  const data: Record<string, string> = {};
  for (const [name, s] of entries) {
    index.secrets[s.id] = {
      name,
      id: s.id,
      createdAt: '2025-03-04T10:11:12Z',
      updatedAt: '2025-03-04T10:11:12Z',
      driver: 'file',
      driverOptions: { path: path.join(base, 'filedriver') },
    };
    index.nameToID[name] = s.id;
    index.idToName[s.id] = name;
    if (opts.withData) data[s.id] = Buffer.from(s.value, 'utf8').toString('base64');
  }
  writeFileSync(path.join(base, 'secrets.json'), JSON.stringify(index), { mode: 0o600 });
  writeFileSync(path.join(base, 'filedriver', 'secretsdata.json'), JSON.stringify(data), { mode: 0o600 });
}

beforeAll(async () => {
  server = http.createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  secrets.clear();
  requests.length = 0;
  rmSync(podmanRoot, { recursive: true, force: true });
});

describe('Podman secrets over the libpod API', () => {
  const podman = () => new PodmanClient(socketPath);

  it('Podman >= 4.7: the value comes from SecretData, asked for with showsecret=true, and is registered for redaction', async () => {
    version = '5.x';
    const s = { id: secretId(), value: freshValue() };
    secrets.set('flightctl-kv-password', s);
    expect(redactText(`kv ${s.value}`)).toBe(`kv ${s.value}`);
    // No file driver store on disk: the value can only come from the API.
    const read = await readPodmanSecret(podman(), podmanRoot, 'flightctl-kv-password');
    expect(read).toEqual({ name: 'flightctl-kv-password', source: 'api', value: s.value });
    expect(requests).toEqual(['/v4.0.0/libpod/secrets/flightctl-kv-password/json?showsecret=true']);
    expect(redactText(`kv ${s.value} end`)).toBe('kv [REDACTED] end');
  });

  it('Podman 4.3 (no SecretData): falls back to the file driver store under podmanRoot', async () => {
    version = '4.3';
    const s = { id: secretId(), value: freshValue() };
    secrets.set('flightctl-postgresql-user-password', s);
    writeFileDriverStore(secrets, { withData: true });
    expect(redactText(s.value)).toBe(s.value);
    const read = await readPodmanSecret(podman(), podmanRoot, 'flightctl-postgresql-user-password');
    expect(read).toEqual({ name: 'flightctl-postgresql-user-password', source: 'file-driver', value: s.value });
    expect(requests).toHaveLength(1);
    expect(redactText(`db ${s.value}`)).toBe('db [REDACTED]');
  });

  it('Podman 4.3 with a store that has no data for the secret: unreadable, with a hint about --podman-root', async () => {
    version = '4.3';
    const s = { id: secretId(), value: freshValue() };
    secrets.set('flightctl-kv-password', s);
    writeFileDriverStore(secrets, { withData: false });
    const err = (await readPodmanSecret(podman(), podmanRoot, 'flightctl-kv-password').catch((e: unknown) => e)) as RestoreError;
    expect(err).toBeInstanceOf(RestoreError);
    expect(err.code).toBe('RESTORE_ERR_SECRET_UNREADABLE');
    expect(err.message).toContain(podmanRoot);
    expect(err.hint).toContain('--podman-root');
    expect(err.message).not.toContain(s.value);
  });

  it('a 404 from the API is RESTORE_ERR_SECRET_NOT_FOUND naming the secret, even when a store on disk lists it', async () => {
    for (const v of ['5.x', '4.3'] as const) {
      version = v;
      // The API is the authority when it answers: a stale store on disk must not resurrect a deleted secret.
      writeFileDriverStore(new Map([['flightctl-kv-password', { id: secretId(), value: freshValue() }]]), { withData: true });
      const err = (await readPodmanSecret(podman(), podmanRoot, 'flightctl-kv-password').catch((e: unknown) => e)) as RestoreError;
      expect(err, v).toBeInstanceOf(RestoreError);
      expect(err.code, v).toBe('RESTORE_ERR_SECRET_NOT_FOUND');
      expect(err.message, v).toContain('flightctl-kv-password');
    }
  });
});
