import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepare } from '../../../src/flightctl/prepare/prepare.js';
import { addDevice, addEnrollmentRequest, addOrganization, DEFAULT_ORG } from '../../harness/seed.js';
import { dumpKv, freshDatabase, prepareOptions, redisClient, type TestDb } from '../context.js';

const ANN = 'device-controller/awaitingReconnect';
const SUMMARY = { status: 'AwaitingReconnect', info: 'Device has not reconnected since restore to confirm its current state.' };
const ORG_B = '11111111-2222-3333-4444-555555555555';
const redis = redisClient();
afterAll(() => redis.disconnect());

async function device(db: TestDb, name: string, org = DEFAULT_ORG) {
  const { rows } = await db.client.query(
    `SELECT d.annotations, d.status, d.resource_version, t.last_seen FROM devices d
       LEFT JOIN device_timestamps t ON t.org_id = d.org_id AND t.name = d.name WHERE d.org_id = $1 AND d.name = $2`,
    [org, name],
  );
  return rows[0] as {
    annotations: Record<string, string> | null;
    status: Record<string, unknown> | null;
    resource_version: string | null;
    last_seen: Date | null;
  };
}

describe('prepare: every rule of FLIGHTCTL.md §3 (current schema)', () => {
  let db: TestDb;
  beforeEach(async () => {
    db = await freshDatabase('current');
    await redis.flushall();
  });
  afterEach(async () => db.drop());

  it('marks a device: annotation merged, summary and updated set, other keys kept, version bumped, last_seen cleared', async () => {
    await addDevice(db.client, {
      name: 'd1',
      annotations: { 'device-controller/renderedVersion': '7', team: 'edge' },
      status: { summary: { status: 'Online', info: '' }, updated: { status: 'UpToDate' }, config: { renderedVersion: '7' }, lifecycle: { status: 'Enrolled' } },
      resourceVersion: 5,
    });
    const result = await prepare(prepareOptions(db.name));
    expect(result).toMatchObject({ devicesUpdated: 1, enrollmentRequestsUpdated: 0, kvKeysWritten: 1, organizations: 1, eventCreated: true, checkMode: false });
    const d = await device(db, 'd1');
    expect(d.annotations).toEqual({ 'device-controller/renderedVersion': '7', team: 'edge', [ANN]: 'true' });
    expect(d.status).toEqual({ summary: SUMMARY, updated: { status: 'Unknown' }, config: { renderedVersion: '7' }, lifecycle: { status: 'Enrolled' } });
    expect(d.resource_version).toBe('6');
    expect(d.last_seen).toBeNull();
  });

  it('turns a NULL status into an object with just summary and updated, and a NULL resource_version into 1', async () => {
    await addDevice(db.client, { name: 'nil', status: null, annotations: null });
    await prepare(prepareOptions(db.name));
    const d = await device(db, 'nil');
    expect(d.status).toEqual({ summary: SUMMARY, updated: { status: 'Unknown' } });
    expect(d.annotations).toEqual({ [ANN]: 'true' });
    expect(d.resource_version).toBe('1');
  });

  it('treats a JSON null status and annotations like NULL instead of producing an array', async () => {
    await addDevice(db.client, { name: 'jsonnull' });
    await db.client.query(`UPDATE devices SET status = 'null'::jsonb, annotations = 'null'::jsonb WHERE name = 'jsonnull'`);
    await prepare(prepareOptions(db.name));
    const d = await device(db, 'jsonnull');
    expect(d.status).toEqual({ summary: SUMMARY, updated: { status: 'Unknown' } });
    expect(d.annotations).toEqual({ [ANN]: 'true' });
  });

  it('leaves Decommissioned and Decommissioning devices alone but still writes their keys; other lifecycles are marked', async () => {
    for (const lc of ['Decommissioned', 'Decommissioning', 'Enrolled', 'Unknown']) {
      await addDevice(db.client, { name: `lc-${lc}`, status: { lifecycle: { status: lc } }, resourceVersion: 3 });
    }
    const result = await prepare(prepareOptions(db.name));
    expect(result.devicesUpdated).toBe(2);
    for (const lc of ['Decommissioned', 'Decommissioning']) {
      const d = await device(db, `lc-${lc}`);
      expect(d.status).toEqual({ lifecycle: { status: lc } });
      expect(d.resource_version).toBe('3');
      expect(d.last_seen).not.toBeNull();
    }
    for (const lc of ['Enrolled', 'Unknown']) expect((await device(db, `lc-${lc}`)).status?.summary).toEqual(SUMMARY);
    expect([...(await dumpKv(redis)).keys()].sort()).toEqual(
      ['Decommissioned', 'Decommissioning', 'Enrolled', 'Unknown'].map((lc) => `v1/${DEFAULT_ORG}/device/lc-${lc}/awaiting-reconnect`).sort(),
    );
  });

  it('skips soft-deleted devices entirely (no update, no key)', async () => {
    await addDevice(db.client, { name: 'gone', deleted: true, resourceVersion: 9, status: { summary: { status: 'Online' } } });
    const result = await prepare(prepareOptions(db.name));
    expect(result).toMatchObject({ devicesUpdated: 0, kvKeysWritten: 0, eventCreated: false });
    expect((await device(db, 'gone')).resource_version).toBe('9');
    expect((await dumpKv(redis)).size).toBe(0);
  });

  it('skips devices already marked but writes their key', async () => {
    await addDevice(db.client, { name: 'marked', annotations: { [ANN]: 'true' }, status: { summary: { status: 'Online' } }, resourceVersion: 4 });
    const result = await prepare(prepareOptions(db.name));
    expect(result.devicesUpdated).toBe(0);
    const d = await device(db, 'marked');
    expect(d.resource_version).toBe('4');
    expect(d.status).toEqual({ summary: { status: 'Online' } });
    expect(d.last_seen).not.toBeNull();
    expect((await dumpKv(redis)).has(`v1/${DEFAULT_ORG}/device/marked/awaiting-reconnect`)).toBe(true);
  });

  it('marks a device whose annotation has another value than "true"', async () => {
    await addDevice(db.client, { name: 'half', annotations: { [ANN]: 'false' } });
    expect((await prepare(prepareOptions(db.name))).devicesUpdated).toBe(1);
    expect((await device(db, 'half')).annotations).toEqual({ [ANN]: 'true' });
  });

  it('writes exactly one key per non-deleted device of every organization, value "true", no TTL, after flushing', async () => {
    await addOrganization(db.client, ORG_B);
    await addDevice(db.client, { name: 'a1' });
    await addDevice(db.client, { name: 'a2' });
    await addDevice(db.client, { name: 'shared', org: ORG_B });
    await addDevice(db.client, { name: 'a1', org: ORG_B });
    await addDevice(db.client, { name: 'deleted', org: ORG_B, deleted: true });
    await redis.set('v1/stale/device/old/awaiting-reconnect', 'true');
    await redis.set('unrelated', 'x');
    const result = await prepare(prepareOptions(db.name));
    expect(result).toMatchObject({ devicesUpdated: 4, kvKeysWritten: 4, organizations: 2 });
    const kv = await dumpKv(redis);
    expect([...kv.keys()].sort()).toEqual(
      [
        `v1/${DEFAULT_ORG}/device/a1/awaiting-reconnect`,
        `v1/${DEFAULT_ORG}/device/a2/awaiting-reconnect`,
        `v1/${ORG_B}/device/a1/awaiting-reconnect`,
        `v1/${ORG_B}/device/shared/awaiting-reconnect`,
      ].sort(),
    );
    for (const v of kv.values()) expect(v).toEqual({ value: 'true', ttl: -1 });
  });

  it('marks unapproved and nil-approval enrollment requests, not approved, deleted or already marked ones', async () => {
    await addEnrollmentRequest(db.client, { name: 'approved', status: { approval: { approved: true, approvedBy: 'admin' } }, resourceVersion: 2 });
    await addEnrollmentRequest(db.client, { name: 'denied', status: { approval: { approved: false } }, resourceVersion: 2, annotations: { x: 'y' } });
    await addEnrollmentRequest(db.client, { name: 'no-approval', status: { conditions: [] } });
    await addEnrollmentRequest(db.client, { name: 'nil-status', status: null });
    await addEnrollmentRequest(db.client, { name: 'deleted', deleted: true, resourceVersion: 2 });
    await addEnrollmentRequest(db.client, { name: 'marked', annotations: { [ANN]: 'true' }, resourceVersion: 2 });
    const result = await prepare(prepareOptions(db.name));
    expect(result.enrollmentRequestsUpdated).toBe(3);
    const { rows } = await db.client.query('SELECT name, annotations, resource_version, status FROM enrollment_requests ORDER BY name');
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(byName.approved).toMatchObject({ annotations: null, resource_version: '2' });
    expect(byName.denied).toMatchObject({ annotations: { x: 'y', [ANN]: 'true' }, resource_version: '3', status: { approval: { approved: false } } });
    expect(byName['no-approval']).toMatchObject({ annotations: { [ANN]: 'true' }, resource_version: '1' });
    expect(byName['nil-status']).toMatchObject({ annotations: { [ANN]: 'true' }, resource_version: '1' });
    expect(byName.deleted).toMatchObject({ annotations: null, resource_version: '2' });
    expect(byName.marked).toMatchObject({ resource_version: '2' });
  });

  it('records one SystemRestored event in the default organization', async () => {
    await addOrganization(db.client, ORG_B);
    await addDevice(db.client, { name: 'x' });
    await addDevice(db.client, { name: 'y', org: ORG_B });
    await prepare(prepareOptions(db.name));
    const { rows } = await db.client.query('SELECT * FROM events');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      org_id: DEFAULT_ORG,
      reason: 'SystemRestored',
      type: 'Normal',
      involved_object_kind: 'System',
      involved_object_name: 'database',
      message: 'System restored successfully. Updated 2 devices for post-restoration preparation.',
      annotations: {},
    });
    expect(rows[0].name).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('prepare: older schema with devices.last_seen', () => {
  let db: TestDb;
  beforeEach(async () => {
    db = await freshDatabase('legacy');
    await redis.flushall();
  });
  afterEach(async () => db.drop());

  it('detects the generation and clears devices.last_seen for marked devices only', async () => {
    await addDevice(db.client, { name: 'live', status: { summary: { status: 'Online' } } }, true);
    await addDevice(db.client, { name: 'decom', status: { lifecycle: { status: 'Decommissioned' } } }, true);
    const result = await prepare(prepareOptions(db.name));
    expect(result).toMatchObject({ devicesUpdated: 1, kvKeysWritten: 2, schema: 'devices.last_seen', eventCreated: true });
    const { rows } = await db.client.query('SELECT name, last_seen, status FROM devices ORDER BY name');
    expect(rows[0]).toMatchObject({ name: 'decom' });
    expect(rows[0].last_seen).not.toBeNull();
    expect(rows[1]).toMatchObject({ name: 'live', last_seen: null, status: { summary: SUMMARY, updated: { status: 'Unknown' } } });
  });
});
