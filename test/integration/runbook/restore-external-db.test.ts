import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, stopPostgres, type PgServer } from '../../harness/pg-server.js';
import { connectSandboxKv } from '../../harness/restore-scenario.js';
import { caAndServerCertificate } from '../../harness/test-pki.js';
import { buildUpstreamArchive } from '../../harness/upstream-archive.js';
import { leaks } from '../cli/run-cli.js';
import { finishedRun, statuses, APPS, type RestoreEnv, spawnUntilWaiting, startRestoreEnv } from './restore-env.js';

const ANN = 'device-controller/awaitingReconnect';

/**
 * Flight Control on an external database, as its docs set it up: service-config.yaml says
 * `db.type: external` (sslmode verify-full, the CA at <etc>/pki/db/ca.crt), flightctl-db.service
 * is masked, the passwords stay in the Podman secrets. The external database is a real second
 * PostgreSQL outside the sandbox's containers, on 127.0.0.1 over TCP, that takes TLS connections
 * only (hostssl), with a server certificate from a CA of the test's own.
 */
describe('run against an external database (sandbox Quadlets host, flightctl-db masked)', () => {
  let env: RestoreEnv;
  let ext: PgServer;
  let etc: string;
  let appPassword: string;
  let tlsDir: string | undefined;
  const printed: string[] = [];

  const admin = async <T>(sql: string, database = 'flightctl', fn?: (r: pg.QueryResult) => T): Promise<T | undefined> => {
    const c = new pg.Client({ host: ext.host, port: ext.port, user: 'postgres', password: ext.adminPassword, database, ssl: { rejectUnauthorized: false } });
    await c.connect();
    try {
      const r = await c.query(sql);
      return fn?.(Array.isArray(r) ? (r.at(-1) as pg.QueryResult) : r);
    } finally {
      await c.end();
    }
  };

  async function agent(args: string[], extraEnv: Record<string, string> = {}) {
    const r = await env.agent([...args, '--flightctl-etc', etc], extraEnv);
    printed.push(r.all);
    return r;
  }

  function serviceConfig(sslmode: string): void {
    writeFileSync(
      path.join(etc, 'service-config.yaml'),
      `global:\n  baseDomain: external.example.com\ndb:\n  name: flightctl\n  type: "external"\n  external:\n    hostname: "127.0.0.1"\n    port: ${ext.port}\n    name: flightctl\n    sslmode: "${sslmode}"\n`,
    );
  }

  /** The external database as Flight Control left it before the restore: the backup's data, some devices marked nowhere. */
  async function resetExternal(): Promise<void> {
    await admin('DROP DATABASE IF EXISTS flightctl WITH (FORCE)', 'postgres');
    await admin('CREATE DATABASE flightctl', 'postgres');
    execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-h', ext.host, '-p', String(ext.port), '-U', 'postgres', '-d', 'flightctl', '-f', env.dumps.plain], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: ext.adminPassword, PGSSLMODE: 'require' },
      stdio: 'pipe',
    });
    // As upstream's guide grants them: the application's user reads and writes the tables, owns nothing.
    await admin(
      'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO flightctl_app; GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO flightctl_app',
    );
  }

  async function externalFacts() {
    const unmarked = await admin(
      `SELECT count(*)::int AS n FROM devices WHERE deleted_at IS NULL AND coalesce(status->'lifecycle'->>'status', '') NOT IN ('Decommissioned', 'Decommissioning') AND annotations->>'${ANN}' IS DISTINCT FROM 'true'`,
      'flightctl',
      (r) => (r.rows[0] as { n: number }).n,
    );
    const events = await admin(`SELECT count(*)::int AS n FROM events WHERE reason = 'SystemRestored'`, 'flightctl', (r) => (r.rows[0] as { n: number }).n);
    const databases = await admin(
      `SELECT string_agg(datname, ',' ORDER BY datname) AS d FROM pg_database WHERE datname LIKE 'flightctl%'`,
      'postgres',
      (r) => (r.rows[0] as { d: string }).d,
    );
    return { unmarked, events, databases };
  }

  async function unitState(unit: string): Promise<string> {
    const r = await env.sb.nsExec(['sh', '-c', `systemctl is-active ${unit}; true`]);
    return r.stdout.trim();
  }

  /** What must not change when a run is refused: the application units' containers, the KV store, the external databases. */
  async function hostState() {
    const apps: Record<string, string> = {};
    for (const a of APPS) apps[a] = await unitState(`${a}.service`);
    const kv = await connectSandboxKv(env.sb);
    try {
      return { apps, kvKeys: (await kv.keys('*')).sort(), external: await externalFacts(), db: await unitState('flightctl-db.service') };
    } finally {
      kv.disconnect();
    }
  }

  function archiveWithoutDatabase(name: string): string {
    const staging = path.join(env.dir, `staging-${name}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(path.join(staging, 'config'), { recursive: true });
    cpSync(path.join(etc, 'service-config.yaml'), path.join(staging, 'config', 'service-config.yaml'));
    cpSync(path.join(etc, 'pki'), path.join(staging, 'pki'), { recursive: true });
    const out = path.join(env.dir, `out-${name}`);
    mkdirSync(out, { recursive: true });
    return buildUpstreamArchive(staging, out, { timestamp: '2026-12-01T00:00:00Z', version: 'v1.2.0', deploymentType: 'podman', databaseIncluded: false });
  }

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 400 });
    appPassword = env.sb.secrets['flightctl-postgresql-user-password']!.trim();
    // The external server: TLS only, a certificate for 127.0.0.1 from the test's CA.
    // Where user postgres can read them (the sandbox's directory is root's only).
    tlsDir = mkdtempSync(path.join(tmpdir(), 'fcra-external-tls-'));
    chmodSync(tlsDir, 0o755);
    const pki = caAndServerCertificate(tlsDir, 'external-db-ca');
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    for (const f of [pki.certFile, pki.keyFile]) chownSync(f, uid, uid);
    writeFileSync(path.join(tlsDir, 'pg_hba.conf'), 'local all postgres scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n');
    chownSync(path.join(tlsDir, 'pg_hba.conf'), uid, uid);
    ext = await startPostgres({ ssl: 'on', ssl_cert_file: pki.certFile, ssl_key_file: pki.keyFile, hba_file: path.join(tlsDir, 'pg_hba.conf') });
    await admin(`CREATE ROLE flightctl_app LOGIN PASSWORD '${appPassword.replace(/'/g, "''")}'`, 'postgres');
    await resetExternal();
    // Flight Control's configuration directory, and its database's CA where upstream's docs put it.
    etc = path.join(env.dir, 'etc-flightctl');
    mkdirSync(path.join(etc, 'pki', 'db'), { recursive: true });
    cpSync(pki.caFile, path.join(etc, 'pki', 'db', 'ca.crt'));
    serviceConfig('verify-full');
    // As upstream's guide says: the built-in database stopped and masked.
    await env.sb.nsExec(['systemctl', 'stop', 'flightctl-db.service']);
    await env.sb.nsExec(['systemctl', 'mask', '--runtime', 'flightctl-db.service']);
  });
  afterAll(async () => {
    if (ext) await stopPostgres(ext);
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    await env?.stop();
  });

  it('an archive without the database: the run waits, the operator restores the external database, continue prepares it over TLS', async () => {
    const a = archiveWithoutDatabase('verify-full');
    const { running, id } = await spawnUntilWaiting(env, ['run', '--archive', a, '--flightctl-etc', etc, '--json']);
    for (const a of APPS) expect(await unitState(`${a}.service`)).not.toBe('active');
    // The operator restores the external database with their own tools.
    await resetExternal();
    expect((await externalFacts()).unmarked).toBeGreaterThan(0);
    const c = await agent(['continue', id, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const r = await running.done;
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toMatchObject({
      preflight: 'ok',
      'wait-for-database': 'changed',
      'prepare-kv': 'changed',
      'start-services': 'changed',
      verify: 'ok',
    });
    expect(run.steps.find((s) => s.name === 'preflight')?.msg).toMatch(
      /the external database 127\.0\.0\.1:\d+ \(sslmode verify-full, flightctl-db\.service masked\)/,
    );
    const facts = await externalFacts();
    expect(facts).toMatchObject({ unmarked: 0, events: 1, databases: 'flightctl' });
    for (const a of APPS) expect(await unitState(`${a}.service`)).toBe('active');
    // The built-in database was never started, let alone touched.
    expect(await unitState('flightctl-db.service')).toBe('inactive');
    const kv = await connectSandboxKv(env.sb);
    try {
      expect((await kv.keys('v1/*/awaiting-reconnect')).length).toBeGreaterThan(0);
    } finally {
      kv.disconnect();
    }
  });

  it('a CA that did not sign the server certificate: refused in preflight with RESTORE_ERR_DB_TLS, nothing changed, nothing left', async () => {
    await resetExternal();
    const other = path.join(env.dir, 'other-ca');
    mkdirSync(other, { recursive: true });
    const wrong = caAndServerCertificate(other, 'some-other-ca');
    const good = path.join(env.dir, 'good-ca.crt');
    cpSync(path.join(etc, 'pki', 'db', 'ca.crt'), good);
    cpSync(wrong.caFile, path.join(etc, 'pki', 'db', 'ca.crt'));
    try {
      const before = await hostState();
      const r = await agent(['run', '--json']);
      expect(r.code).toBe(45);
      const run = finishedRun(r.stdout);
      expect(statuses(run)).toEqual({ preflight: 'failed' });
      expect(run.error).toMatchObject({ code: 'RESTORE_ERR_DB_TLS', message: expect.stringMatching(/sslmode verify-full; CA .*pki\/db\/ca\.crt/) });
      expect(await hostState()).toEqual(before);
      expect(readdirSync(env.stateDir).filter((f) => f === 'active-run.json' || f.startsWith('extract-'))).toEqual([]);
    } finally {
      cpSync(good, path.join(etc, 'pki', 'db', 'ca.crt'));
    }
  });

  it('without TLS where the server takes only TLS: sslmode disable is refused as a TLS setting, naming the server and what to set', async () => {
    serviceConfig('disable');
    try {
      const r = await agent(['run', '--check', '--json']);
      expect(r.code).toBe(45);
      expect(finishedRun(r.stdout).error).toMatchObject({
        code: 'RESTORE_ERR_DB_TLS',
        message: expect.stringMatching(
          /PostgreSQL at 127\.0\.0\.1:\d+ \(database \w+, user flightctl_app\) takes only TLS connections from this host, and sslmode disable .* set db\.external\.sslmode to require/,
        ),
      });
    } finally {
      serviceConfig('verify-full');
    }
  });

  it('run --dump: refused before any change while the user may not create and rename databases, then loaded beside it once it may', async () => {
    await resetExternal();
    const before = await hostState();
    const refused = await agent(['run', '--dump', env.dumps.mutated, '--json']);
    expect(refused.code).toBe(46);
    const run = finishedRun(refused.stdout);
    expect(statuses(run)).toEqual({ preflight: 'failed' });
    expect(run.error).toMatchObject({
      code: 'RESTORE_ERR_EXTERNAL_DB_PRIVILEGE',
      message: expect.stringMatching(
        /lacks CREATEDB \(ALTER ROLE flightctl_app CREATEDB\) and ownership of database flightctl, owned by postgres .*run again without a dump/,
      ),
    });
    expect(await hostState()).toEqual(before);

    // Granted: the dump is loaded over TLS beside the live database, prepared, and swapped in.
    await admin('ALTER ROLE flightctl_app CREATEDB; ALTER DATABASE flightctl OWNER TO flightctl_app', 'postgres');
    const r = await agent(['run', '--dump', env.dumps.mutated, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const done = finishedRun(r.stdout);
    expect(statuses(done)).toMatchObject({
      'load-dump': 'changed',
      'prepare-database': 'changed',
      'swap-database': 'changed',
      verify: 'ok',
      'drop-old-database': 'changed',
    });
    expect((done.steps.find((s) => s.name === 'preflight') as { warnings?: string[] } | undefined)?.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/free space of the database's volume cannot be told/)]),
    );
    expect(await externalFacts()).toMatchObject({ unmarked: 0, databases: 'flightctl' });
    expect(await unitState('flightctl-db.service')).toBe('inactive');
  });

  it('nothing printed holds a secret', () => {
    expect(leaks(printed.join('\n'), [...env.secrets, ext.adminPassword])).toEqual([]);
  });
});
