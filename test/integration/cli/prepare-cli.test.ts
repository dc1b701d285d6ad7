import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ERROR_CATALOGUE } from '../../../src/lib/errors.js';
import { freePort } from '../../harness/free-port.js';
import { addDevice, addEnrollmentRequest, snapshotTables } from '../../harness/seed.js';
import { dumpKv, freshDatabase, redisClient, servers, type TestDb } from '../context.js';
import { leaks, runAgent, spawnAgent } from './run-cli.js';

const redis = redisClient();
afterAll(() => redis.disconnect());

function connectionArgs(db: string): string[] {
  const s = servers();
  return ['--db-host', s.pg.host, '--db-port', String(s.pg.port), '--db-name', db, '--kv-host', s.redis.host, '--kv-port', String(s.redis.port)];
}

function passwords(): Record<string, string> {
  const s = servers();
  return { DB_PASSWORD: s.pg.appPassword, KV_PASSWORD: s.redis.password };
}

function secrets(): string[] {
  const s = servers();
  return [s.pg.appPassword, s.redis.password, s.pg.adminPassword];
}

describe('flightctl-restore-agent prepare (the binary)', () => {
  let db: TestDb;
  beforeEach(async () => {
    db = await freshDatabase();
    await redis.flushall();
    await addDevice(db.client, { name: 'edge-1', status: { summary: { status: 'Online' } } });
    await addDevice(db.client, { name: 'edge-2' });
    await addEnrollmentRequest(db.client, { name: 'er-1' });
  });
  afterEach(async () => db.drop());

  it('DB_PASSWORD=... KV_PASSWORD=... prepare --json prints the documented object and leaks nothing', async () => {
    const r = await runAgent(['prepare', '--json', ...connectionArgs(db.name)], passwords());
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ devicesUpdated: 2, enrollmentRequestsUpdated: 1, kvKeysWritten: 2, organizations: 1, eventCreated: true, checkMode: false });
    expect(typeof out.durationMs).toBe('number');
    expect(leaks(r.all, secrets())).toEqual([]);
    expect((await dumpKv(redis)).size).toBe(2);
  });

  it('even at debug level nothing printed holds a secret or the word password', async () => {
    const r = await runAgent(['--log-level', 'debug', 'prepare', '--json', ...connectionArgs(db.name)], passwords());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('schema detected');
    expect(leaks(r.all, secrets())).toEqual([]);
  });

  it('prints a readable summary without --json, and logs JSON lines to stderr', async () => {
    const r = await runAgent(['prepare', '-o', 'text', ...connectionArgs(db.name)], passwords());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/devices marked AwaitingReconnect\s+2/);
    expect(r.stdout).toMatch(/awaiting-reconnect keys written\s+2/);
    for (const line of r.stderr.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('msg');
    expect(leaks(r.all, secrets())).toEqual([]);
  });

  it('SIGTERM during the SQL part lets the transaction commit, skips the KV part and says how to finish', async () => {
    // A slow event insert holds the transaction open long enough to interrupt it deterministically.
    await db.client.query(`CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$`);
    await db.client.query('CREATE TRIGGER slow BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION slow()');
    await redis.set('kept', '1');
    const child = spawnAgent(['prepare', ...connectionArgs(db.name)], passwords());
    await child.waitForStderr('marking devices');
    child.process.kill('SIGTERM');
    const r = await child.done;
    expect(r.code).toBe(ERROR_CATALOGUE.RESTORE_ERR_CANCELLED.exit);
    expect(r.stderr).toContain('SIGTERM received');
    expect(r.stderr).toContain('RESTORE_ERR_CANCELLED');
    expect(r.stderr).toContain('prepare --kv-only');
    const { rows } = await db.client.query(`SELECT count(*)::int AS n FROM devices WHERE annotations->>'device-controller/awaitingReconnect' = 'true'`);
    expect(rows[0].n).toBe(2);
    expect([...(await dumpKv(redis)).keys()]).toEqual(['kept']);
    expect(leaks(r.all, secrets())).toEqual([]);
  });

  it('--check changes nothing and says so', async () => {
    await redis.set('kept', '1');
    const before = await snapshotTables(db.client);
    const r = await runAgent(['prepare', '--check', '-o', 'text', ...connectionArgs(db.name)], passwords());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing was changed');
    expect(r.stdout).toMatch(/devices to mark AwaitingReconnect\s+2/);
    expect(await snapshotTables(db.client)).toEqual(before);
    expect([...(await dumpKv(redis)).keys()]).toEqual(['kept']);
  });

  it('reads settings from a YAML file, overridden by environment and flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fcra-cfg-'));
    try {
      const s = servers();
      const file = join(dir, 'agent.yaml');
      writeFileSync(file, `db:\n  host: ${s.pg.host}\n  port: 1\n  name: ${db.name}\nkv:\n  host: ${s.redis.host}\n  port: ${s.redis.port}\n`);
      // The file's wrong port is overridden by the environment.
      const r = await runAgent(['--config', file, 'prepare', '--json'], { ...passwords(), FLIGHTCTL_RESTORE_DB_PORT: String(s.pg.port) });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).devicesUpdated).toBe(2);
      // And a flag beats the environment.
      const bad = await runAgent(['--config', file, 'prepare', '--json', '--db-port', String(await freePort())], {
        ...passwords(),
        FLIGHTCTL_RESTORE_DB_PORT: String(s.pg.port),
      });
      expect(bad.code).toBe(ERROR_CATALOGUE.RESTORE_ERR_DB_UNREACHABLE.exit);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong DB password exits with the documented code and never prints the password', async () => {
    const wrong = 'Wr0ngButSecretValue';
    const r = await runAgent(['prepare', '--json', ...connectionArgs(db.name)], { ...passwords(), DB_PASSWORD: wrong });
    expect(r.code).toBe(ERROR_CATALOGUE.RESTORE_ERR_DB_AUTH.exit);
    expect(JSON.parse(r.stdout).error.code).toBe('RESTORE_ERR_DB_AUTH');
    expect(r.stderr).toContain('RESTORE_ERR_DB_AUTH');
    expect(leaks(r.all, [...secrets(), wrong], { allowPasswordWord: true })).toEqual([]);
    expect(r.all).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('a wrong KV password exits with its code, leaves the database untouched and leaks nothing', async () => {
    const before = await snapshotTables(db.client);
    const wrong = 'AnotherWrongSecret';
    const r = await runAgent(['prepare', ...connectionArgs(db.name)], { ...passwords(), KV_PASSWORD: wrong });
    expect(r.code).toBe(ERROR_CATALOGUE.RESTORE_ERR_KV_AUTH.exit);
    expect(await snapshotTables(db.client)).toEqual(before);
    expect(leaks(r.all, [...secrets(), wrong], { allowPasswordWord: true })).toEqual([]);
  });

  it('a KV store without credentials works when KV_PASSWORD is given anyway, and nothing says "password"', async () => {
    const password = servers().redis.password;
    await redis.config('SET', 'requirepass', '');
    try {
      const r = await runAgent(['prepare', ...connectionArgs(db.name)], passwords());
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('requires no credentials');
      expect(leaks(r.all, secrets())).toEqual([]);
      const none = await runAgent(['prepare', '--kv-only', ...connectionArgs(db.name)], { DB_PASSWORD: servers().pg.appPassword });
      expect(none.code, none.stderr).toBe(0);
    } finally {
      const admin = new Redis({ host: servers().redis.host, port: servers().redis.port });
      await admin.config('SET', 'requirepass', password);
      admin.disconnect();
    }
    const missing = await runAgent(['prepare', ...connectionArgs(db.name)], { DB_PASSWORD: servers().pg.appPassword });
    expect(missing.code).toBe(ERROR_CATALOGUE.RESTORE_ERR_KV_AUTH.exit);
    expect(missing.stderr).toContain('KV_PASSWORD is not set');
  });

  it('an invalid flag value names the key and what is allowed, exit 2', async () => {
    const r = await runAgent(['prepare', '--db-port', 'seventy'], passwords());
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RESTORE_ERR_CONFIG_INVALID');
    expect(r.stderr).toContain('db.port');
    expect(r.stderr).toContain('1-65535');
    const lvl = await runAgent(['--log-level', 'loud', 'prepare']);
    expect(lvl.code).toBe(2);
    expect(lvl.stderr).toContain('allowed: error, warn, info, debug');
  });

  it('an unknown option is a usage error with exit 2', async () => {
    const r = await runAgent(['prepare', '--db-hots', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RESTORE_ERR_USAGE');
  });
});
