import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepare } from '../../../src/flightctl/prepare/prepare.js';
import { isRestoreError } from '../../../src/lib/errors.js';
import { adminQuery, createFlightctlDatabase, dropDatabase } from '../../harness/database.js';
import { freePort } from '../../harness/free-port.js';
import { addDevice, addEnrollmentRequest, addOrganization, snapshotTables } from '../../harness/seed.js';
import { dumpKv, freshDatabase, prepareOptions, redisClient, servers, uniqueDbName, type TestDb } from '../context.js';

const ORG_B = '22222222-2222-3333-4444-555555555555';
const redis = redisClient();
afterAll(() => redis.disconnect());

async function seedMixedFleet(db: TestDb) {
  await addOrganization(db.client, ORG_B);
  await addDevice(db.client, { name: 'online', status: { summary: { status: 'Online' } }, resourceVersion: 2 });
  await addDevice(db.client, { name: 'nil' });
  await addDevice(db.client, { name: 'decom', status: { lifecycle: { status: 'Decommissioning' } } });
  await addDevice(db.client, { name: 'deleted', deleted: true });
  await addDevice(db.client, { name: 'b1', org: ORG_B, labels: { env: 'prod' } });
  await addEnrollmentRequest(db.client, { name: 'pending' });
  await addEnrollmentRequest(db.client, { name: 'ok', status: { approval: { approved: true } } });
}

async function expectCode(p: Promise<unknown>, code: string): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRestoreError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code, (err as Error).message).toBe(code);
  expect((err as { code: string }).code).toBe(code);
  return (err as Error).message;
}

describe('prepare: idempotence, check mode and partial runs', () => {
  let db: TestDb;
  beforeEach(async () => {
    db = await freshDatabase();
    await redis.flushall();
    await seedMixedFleet(db);
  });
  afterEach(async () => db.drop());

  it('a second run updates no row, writes no event and leaves the same key set', async () => {
    const first = await prepare(prepareOptions(db.name));
    expect(first).toMatchObject({ devicesUpdated: 3, enrollmentRequestsUpdated: 1, kvKeysWritten: 4, organizations: 2, eventCreated: true });
    const tablesAfterFirst = await snapshotTables(db.client);
    const keysAfterFirst = await dumpKv(redis);
    const second = await prepare(prepareOptions(db.name));
    expect(second).toMatchObject({ devicesUpdated: 0, enrollmentRequestsUpdated: 0, kvKeysWritten: 4, eventCreated: false });
    expect(await snapshotTables(db.client)).toEqual(tablesAfterFirst);
    expect(await dumpKv(redis)).toEqual(keysAfterFirst);
  });

  it('check mode reports exactly what a real run then does and changes nothing', async () => {
    await redis.set('pre-existing', 'kept');
    const before = await snapshotTables(db.client);
    const check = await prepare(prepareOptions(db.name, { check: true }));
    expect(check).toMatchObject({
      checkMode: true,
      devicesUpdated: 3,
      enrollmentRequestsUpdated: 1,
      kvKeysWritten: 4,
      organizations: 2,
      eventCreated: true,
      lastSeenCleared: 3,
    });
    expect(await snapshotTables(db.client)).toEqual(before);
    expect([...(await dumpKv(redis)).keys()]).toEqual(['pre-existing']);
    const real = await prepare(prepareOptions(db.name));
    expect(real).toMatchObject({
      devicesUpdated: check.devicesUpdated,
      enrollmentRequestsUpdated: check.enrollmentRequestsUpdated,
      kvKeysWritten: check.kvKeysWritten,
    });
  });

  it('the SQL part runs alone on any database name and leaves the KV store alone', async () => {
    await redis.set('pre-existing', 'kept');
    const result = await prepare(prepareOptions(db.name, { parts: { sql: true, kv: false } }));
    expect(result).toMatchObject({ devicesUpdated: 3, kvKeysWritten: 0 });
    expect([...(await dumpKv(redis)).keys()]).toEqual(['pre-existing']);
  });

  it('the KV part runs alone and changes no row', async () => {
    const before = await snapshotTables(db.client);
    const result = await prepare(prepareOptions(db.name, { parts: { sql: false, kv: true } }));
    expect(result).toMatchObject({ devicesUpdated: 0, kvKeysWritten: 4, eventCreated: false, organizations: 2 });
    expect(await snapshotTables(db.client)).toEqual(before);
    expect((await dumpKv(redis)).size).toBe(4);
  });

  it('an interrupt after the SQL part stops before the KV part and says how to finish', async () => {
    await redis.set('pre-existing', 'kept');
    const controller = new AbortController();
    controller.abort();
    const msg = await expectCode(prepare(prepareOptions(db.name, { signal: controller.signal })), 'RESTORE_ERR_CANCELLED');
    expect(msg).toContain('--kv-only');
    expect([...(await dumpKv(redis)).keys()]).toEqual(['pre-existing']);
    const rest = await prepare(prepareOptions(db.name, { parts: { sql: false, kv: true } }));
    expect(rest.kvKeysWritten).toBe(4);
  });

  it("a PostgreSQL failure while the keys are written is reported as the database's, not the KV store's", async () => {
    // Reading device names fails from inside the server: a policy that raises on every row read.
    await db.client.query(`CREATE FUNCTION refuse_read() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'device names are off limits'; END $$`);
    await db.client.query('CREATE POLICY refuse ON devices USING (refuse_read())');
    await db.client.query('ALTER TABLE devices ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY');
    const msg = await expectCode(prepare(prepareOptions(db.name, { parts: { sql: false, kv: true } })), 'RESTORE_ERR_DB_QUERY');
    expect(msg).toContain('PostgreSQL');
    expect(msg).toContain('P0001');
    expect(msg).toContain('device names are off limits');
  });

  it('a failure in the middle of the transaction leaves the database and the KV store unchanged', async () => {
    // A real failure inside the transaction: the event insert is refused by the database.
    await db.client.query(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'events are read-only today'; END $$`);
    await db.client.query('CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()');
    await redis.set('pre-existing', 'kept');
    const before = await snapshotTables(db.client);
    const message = await expectCode(prepare(prepareOptions(db.name)), 'RESTORE_ERR_PREPARE_SQL');
    expect(message).toContain('rolled back');
    expect(await snapshotTables(db.client)).toEqual(before);
    expect([...(await dumpKv(redis)).keys()]).toEqual(['pre-existing']);
  });

  async function withMemoryLimit(policy: string, headroom: number, fn: () => Promise<void>) {
    const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
    await redis.config('SET', 'maxmemory-policy', policy);
    await redis.config('SET', 'maxmemory', String(used + headroom));
    try {
      await fn();
    } finally {
      await redis.config('SET', 'maxmemory', '0');
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
    }
  }

  it('a shortfall of keys after writing is an error (keys evicted under memory pressure)', async () => {
    await db.client.query(`INSERT INTO devices (org_id, name) SELECT '00000000-0000-0000-0000-000000000000', 'bulk-' || i FROM generate_series(1, 3000) i`);
    await withMemoryLimit('allkeys-random', 200_000, async () => {
      const msg = await expectCode(prepare(prepareOptions(db.name, { kvBatchSize: 50 })), 'RESTORE_ERR_KV_VERIFY');
      expect(msg).toMatch(/expected 3004 awaiting-reconnect keys/);
    });
  });

  it('a KV store that refuses writes is a clear error after the committed SQL part', async () => {
    await db.client.query(`INSERT INTO devices (org_id, name) SELECT '00000000-0000-0000-0000-000000000000', 'bulk-' || i FROM generate_series(1, 3000) i`);
    await withMemoryLimit('noeviction', 20_000, async () => {
      await expectCode(prepare(prepareOptions(db.name, { kvBatchSize: 50 })), 'RESTORE_ERR_KV_WRITE');
    });
    // The SQL part committed; running again completes the KV part.
    const again = await prepare(prepareOptions(db.name, { kvBatchSize: 500 }));
    expect(again).toMatchObject({ devicesUpdated: 0, kvKeysWritten: 3004 });
  });
});

describe('prepare: bad input is a clear error and changes nothing', () => {
  let db: TestDb;
  beforeEach(async () => {
    db = await freshDatabase();
    await seedMixedFleet(db);
    await redis.flushall();
    await redis.set('pre-existing', 'kept');
  });
  afterEach(async () => db.drop());

  async function expectUnchanged(before: Record<string, unknown[]>) {
    expect(await snapshotTables(db.client)).toEqual(before);
    expect([...(await dumpKv(redis)).keys()]).toEqual(['pre-existing']);
  }

  it('wrong database credentials', async () => {
    const before = await snapshotTables(db.client);
    const opts = prepareOptions(db.name);
    const msg = await expectCode(prepare({ ...opts, db: { ...opts.db, password: 'not-the-right-one' } }), 'RESTORE_ERR_DB_AUTH');
    expect(msg).not.toMatch(/password/i);
    await expectUnchanged(before);
  });

  it('database unreachable', async () => {
    const before = await snapshotTables(db.client);
    const opts = prepareOptions(db.name);
    await expectCode(prepare({ ...opts, db: { ...opts.db, port: await freePort() } }), 'RESTORE_ERR_DB_UNREACHABLE');
    await expectUnchanged(before);
  });

  it('KV store unreachable: the database is not touched', async () => {
    const before = await snapshotTables(db.client);
    const opts = prepareOptions(db.name);
    await expectCode(prepare({ ...opts, kv: { ...opts.kv!, port: await freePort() } }), 'RESTORE_ERR_KV_UNREACHABLE');
    await expectUnchanged(before);
  });

  it('wrong KV credentials: the database is not touched', async () => {
    const before = await snapshotTables(db.client);
    const opts = prepareOptions(db.name);
    await expectCode(prepare({ ...opts, kv: { ...opts.kv!, password: 'wrong-wrong' } }), 'RESTORE_ERR_KV_AUTH');
    await expectCode(prepare({ ...opts, kv: { ...opts.kv!, password: undefined } }), 'RESTORE_ERR_KV_AUTH');
    await expectUnchanged(before);
  });

  it('a database that is not Flight Control', async () => {
    const name = uniqueDbName('other');
    await adminQuery(servers().pg, 'postgres', `CREATE DATABASE ${name} OWNER flightctl_app`);
    try {
      const msg = await expectCode(prepare(prepareOptions(name)), 'RESTORE_ERR_DB_NOT_FLIGHTCTL');
      expect(msg).toContain('devices');
      await expectCode(prepare(prepareOptions(`${name}_missing`)), 'RESTORE_ERR_DB_NOT_FLIGHTCTL');
    } finally {
      await dropDatabase(servers().pg, name);
    }
  });

  it('an unknown schema generation (no last_seen anywhere)', async () => {
    const name = uniqueDbName('odd');
    await createFlightctlDatabase(servers().pg, name, 'current');
    try {
      await adminQuery(servers().pg, name, 'DROP TABLE device_timestamps CASCADE');
      const msg = await expectCode(prepare(prepareOptions(name)), 'RESTORE_ERR_DB_SCHEMA_UNKNOWN');
      expect(msg).toContain('last_seen');
    } finally {
      await dropDatabase(servers().pg, name);
    }
  });
});
