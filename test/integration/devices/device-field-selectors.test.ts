import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDevices } from '../../../src/flightctl/devices/report.js';
import { CONFLICT_PAUSED_ANNOTATION, resumeInDatabase } from '../../../src/flightctl/devices/resume.js';
import { addDevice, type DeviceSeed } from '../../harness/seed.js';
import { freshDatabase, type TestDb } from '../context.js';

/**
 * metadata.nameOrAlias and status.capabilities.osMode against a real PostgreSQL, with Flight
 * Control's meaning: nameOrAlias holds when it holds for the name or for the alias (the `alias`
 * label, which Flight Control also keeps in the alias column), case-sensitively; osMode is the
 * capability the agent reports in its status, absent on devices that never reported it.
 */
const PAUSED = { [CONFLICT_PAUSED_ANNOTATION]: 'true' };

function device(name: string, alias: string | undefined, osMode: string | null | undefined, extra: Partial<DeviceSeed> = {}): DeviceSeed {
  return {
    name,
    labels: alias === undefined ? { site: 'hq' } : { site: 'hq', alias },
    alias: alias ?? null,
    // undefined: no status at all; null: a status without capabilities.
    status: osMode === undefined ? undefined : { summary: { status: 'Online' }, ...(osMode === null ? {} : { capabilities: { osMode } }) },
    annotations: PAUSED,
    ...extra,
  };
}

const FLEET: DeviceSeed[] = [
  device('kiosk-1', 'lobby', 'image'),
  device('lobby', undefined, 'package'),
  device('kiosk-2', 'Lobby-East', null),
  device('gate', undefined, undefined),
  device('twin', 'twin', 'image'),
  device('lobby-west', 'lobby-w', 'package'),
  device('lobby-old', 'lobby', 'image', { deleted: true }),
];
const LIVE = ['gate', 'kiosk-1', 'kiosk-2', 'lobby', 'lobby-west', 'twin'];

async function seed(db: TestDb): Promise<void> {
  for (const d of FLEET) await addDevice(db.client, d);
}

async function names(db: TestDb, fieldSelector: string, labelSelector?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const row of listDevices(db.client, { fieldSelector, labelSelector })) out.push(row.name);
  return out.sort();
}

describe('device field selectors: metadata.nameOrAlias', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshDatabase();
    await seed(db);
  });
  afterAll(async () => db.drop());

  it.each([
    ['metadata.nameOrAlias=lobby', ['kiosk-1', 'lobby']],
    ['metadata.nameOrAlias==kiosk-2', ['kiosk-2']],
    ['metadata.nameOrAlias=Lobby-East', ['kiosk-2']],
    // Case-sensitive, as in Flight Control.
    ['metadata.nameOrAlias=lobby-east', []],
    ['metadata.nameOrAlias in (gate,Lobby-East)', ['gate', 'kiosk-2']],
    ['metadata.nameOrAlias contains obby', ['kiosk-1', 'kiosk-2', 'lobby', 'lobby-west']],
    ['metadata.nameOrAlias contains LOBBY', []],
    ['metadata.nameOrAlias contains -w', ['lobby-west']],
    // A requirement holds when it holds for either name or alias: a device whose alias is absent
    // always passes !=, notin and notcontains, and one is excluded only when both fail.
    ['metadata.nameOrAlias!=twin', ['gate', 'kiosk-1', 'kiosk-2', 'lobby', 'lobby-west']],
    ['metadata.nameOrAlias!=lobby', LIVE],
    ['metadata.nameOrAlias notin (kiosk-1,lobby)', ['gate', 'kiosk-2', 'lobby', 'lobby-west', 'twin']],
    ['metadata.nameOrAlias notcontains lobby', ['gate', 'kiosk-1', 'kiosk-2', 'lobby', 'twin']],
    ['metadata.nameOrAlias', LIVE],
    ['!metadata.nameOrAlias', ['gate', 'lobby']],
    ['metadata.nameOrAlias=lobby,status.capabilities.osMode=image', ['kiosk-1']],
  ])('%s', async (selector, expected) => {
    expect(await names(db, selector)).toEqual(expected);
  });

  it('combines with a label selector', async () => {
    expect(await names(db, 'metadata.nameOrAlias contains kiosk', 'alias')).toEqual(['kiosk-1', 'kiosk-2']);
  });

  it('resume selects by it too, and touches only the devices it selects', async () => {
    const resumed = await resumeInDatabase(db.client, { fieldSelector: 'metadata.nameOrAlias=lobby' }, 'test');
    expect(resumed).toBe(2);
    const { rows } = await db.client.query<{ name: string }>(`SELECT name FROM devices WHERE NOT (annotations ? $1::text) ORDER BY name`, [
      CONFLICT_PAUSED_ANNOTATION,
    ]);
    expect(rows.map((r) => r.name)).toEqual(['kiosk-1', 'lobby']);
    const { rows: events } = await db.client.query<{ n: string }>(
      `SELECT involved_object_name AS n FROM events WHERE reason = 'DeviceConflictResolved' ORDER BY 1`,
    );
    expect(events.map((e) => e.n)).toEqual(['kiosk-1', 'lobby']);
  });
});

describe('device field selectors: status.capabilities.osMode', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshDatabase();
    await seed(db);
  });
  afterAll(async () => db.drop());

  it.each([
    ['status.capabilities.osMode=package', ['lobby', 'lobby-west']],
    ['status.capabilities.osMode==image', ['kiosk-1', 'twin']],
    ['status.capabilities.osMode=Image', []],
    ['status.capabilities.osMode in (image,package)', ['kiosk-1', 'lobby', 'lobby-west', 'twin']],
    // Devices that never reported the capability (or any status) pass != and notin.
    ['status.capabilities.osMode!=image', ['gate', 'kiosk-2', 'lobby', 'lobby-west']],
    ['status.capabilities.osMode notin (package)', ['gate', 'kiosk-1', 'kiosk-2', 'twin']],
    ['status.capabilities.osMode', ['kiosk-1', 'lobby', 'lobby-west', 'twin']],
    ['!status.capabilities.osMode', ['gate', 'kiosk-2']],
  ])('%s', async (selector, expected) => {
    expect(await names(db, selector)).toEqual(expected);
  });

  it('resume selects by it, within the devices that are paused', async () => {
    expect(await resumeInDatabase(db.client, { fieldSelector: '!status.capabilities.osMode' }, 'test')).toBe(2);
    expect(await resumeInDatabase(db.client, { fieldSelector: 'status.capabilities.osMode=package' }, 'test')).toBe(2);
    const { rows } = await db.client.query<{ name: string }>(`SELECT name FROM devices WHERE deleted_at IS NULL AND annotations ? $1::text ORDER BY name`, [
      CONFLICT_PAUSED_ANNOTATION,
    ]);
    expect(rows.map((r) => r.name)).toEqual(['kiosk-1', 'twin']);
  });

  it('refuses a partial match on it before touching the database', async () => {
    const before = await db.client.query(`SELECT name, annotations, resource_version FROM devices ORDER BY name`);
    await expect(resumeInDatabase(db.client, { fieldSelector: 'status.capabilities.osMode contains pack' }, 'test')).rejects.toMatchObject({
      code: 'RESTORE_ERR_SELECTOR_INVALID',
      message: expect.stringContaining('operator "contains" is not supported for field "status.capabilities.osMode"; allowed: =, ==, !=, in, notin, exists, !'),
    });
    await expect(names(db, 'status.capabilities.osMode>image')).rejects.toMatchObject({ code: 'RESTORE_ERR_SELECTOR_INVALID' });
    expect((await db.client.query(`SELECT name, annotations, resource_version FROM devices ORDER BY name`)).rows).toEqual(before.rows);
  });
});

describe('device field selectors: a schema without the alias column', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await freshDatabase();
    await db.client.query('ALTER TABLE devices DROP COLUMN alias');
    for (const { alias: _alias, ...d } of FLEET) await addDeviceWithoutAlias(db, d);
  });
  afterAll(async () => db.drop());

  async function addDeviceWithoutAlias(target: TestDb, d: DeviceSeed): Promise<void> {
    await target.client.query(`INSERT INTO devices (org_id, name, status, annotations, labels, deleted_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
      '00000000-0000-0000-0000-000000000000',
      d.name,
      d.status === undefined ? null : JSON.stringify(d.status),
      JSON.stringify(d.annotations ?? {}),
      JSON.stringify(d.labels ?? {}),
      d.deleted ? new Date() : null,
    ]);
  }

  it('metadata.nameOrAlias reads the alias label', async () => {
    expect(await names(db, 'metadata.nameOrAlias=lobby')).toEqual(['kiosk-1', 'lobby']);
    expect(await names(db, 'metadata.nameOrAlias contains East')).toEqual(['kiosk-2']);
    expect(await names(db, '!metadata.nameOrAlias')).toEqual(['gate', 'lobby']);
  });

  it('metadata.alias is still refused there', async () => {
    await expect(names(db, 'metadata.alias=lobby')).rejects.toMatchObject({ code: 'RESTORE_ERR_SELECTOR_INVALID' });
  });
});
