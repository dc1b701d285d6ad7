import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flightctlSchemaSql } from '../../harness/flightctl-schema.js';
import { startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';
import {
  adminSql,
  connectSandboxDb,
  connectSandboxKv,
  deviceSummary,
  fingerprint,
  loadDump,
  mutateAfterDump,
  seedScenario,
  SCENARIO_ORGS,
  SUMMARY_STATUSES,
  takeDump,
  type AfterDumpChanges,
  type DumpFormat,
  type Fingerprint,
  type ScenarioSummary,
} from '../../harness/restore-scenario.js';

function head(file: string, n: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0)).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

describe('restore scenario harness (sandbox Quadlets host)', () => {
  let sb: Sandbox;
  let db: pg.Client;
  let kv: Redis;
  let fixtureSchema: string;
  let seeded: ScenarioSummary;
  let before: Fingerprint;
  const dumps: Record<DumpFormat, string> = { plain: '', custom: '' };
  let changes: AfterDumpChanges;

  beforeAll(async () => {
    sb = await startSandbox();
    db = await connectSandboxDb(sb);
    kv = await connectSandboxKv(sb);
  });
  afterAll(async () => {
    await db?.end().catch(() => undefined);
    kv?.disconnect();
    await sb?.stop();
  });

  it('connects as flightctl_app to flightctl-db and with the requirepass secret to flightctl-kv', async () => {
    const { rows } = await db.query<{ u: string; d: string; owner: string }>(
      `SELECT current_user AS u, current_database() AS d, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()`,
    );
    expect(rows[0]).toEqual({ u: 'flightctl_app', d: 'flightctl', owner: 'flightctl_app' });
    expect(await kv.ping()).toBe('PONG');
    expect(await adminSql(sb, 'SELECT current_user')).toBe('postgres\n');
  });

  it('seeds a realistic fleet on the fixture schema, leaving the schema as the fixture made it', async () => {
    await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await db.query(flightctlSchemaSql('current'));
    fixtureSchema = (await fingerprint(db)).schema;

    seeded = await seedScenario(db, { devices: 2000 });
    expect((await fingerprint(db)).schema).toBe(fixtureSchema);
    expect(seeded.organizations).toEqual(SCENARIO_ORGS.map((o) => o.id).sort());
    expect(seeded.devices).toBe(2000);
    expect(seeded.deletedDevices).toBeGreaterThan(0);
    for (const s of SUMMARY_STATUSES) expect(seeded.byStatus[s], s).toBeGreaterThan(0);
    expect(Object.values(seeded.byStatus).reduce((a, b) => a + b, 0)).toBe(2000 - seeded.deletedDevices);
    expect(await deviceSummary(db)).toEqual(seeded.byStatus);
    expect(seeded.byLifecycle.Enrolled).toBeGreaterThan(seeded.byLifecycle.Decommissioned! + seeded.byLifecycle.Decommissioning!);
    expect(seeded.byLifecycle.Decommissioned).toBeGreaterThan(0);
    expect(seeded.byLifecycle.Decommissioning).toBeGreaterThan(0);
    expect(seeded.enrollmentRequests.approved).toBeGreaterThan(0);
    expect(seeded.enrollmentRequests.pending).toBeGreaterThan(0);
    expect(seeded.enrollmentRequests.deleted).toBeGreaterThan(0);
    expect(seeded.fleets).toBeGreaterThan(0);
    expect(seeded.events).toBeGreaterThan(0);

    // What the fixture's triggers would have written: one timestamp row per device, one label row per label.
    const { rows } = await db.query<{ ts: string; labels: string; want: string; seen: string; awaiting: string }>(
      `SELECT (SELECT count(*) FROM device_timestamps) AS ts, (SELECT count(*) FROM device_labels) AS labels,
              (SELECT count(*) FROM devices, jsonb_each(labels)) AS want,
              (SELECT count(*) FROM device_timestamps WHERE last_seen IS NOT NULL) AS seen,
              (SELECT count(*) FROM devices WHERE status->'summary'->>'status' = 'AwaitingReconnect') AS awaiting`,
    );
    expect(Number(rows[0]!.ts)).toBe(2000);
    expect(rows[0]!.labels).toBe(rows[0]!.want);
    expect(Number(rows[0]!.seen)).toBe(2000 - Number(rows[0]!.awaiting));
    const label = await db.query(
      `SELECT 1 FROM devices WHERE labels ? 'region' AND labels ? 'env' AND annotations ? 'device-controller/renderedVersion' LIMIT 1`,
    );
    expect(label.rowCount).toBe(1);
  });

  it('takes both dump formats inside flightctl-db into private host files', async () => {
    before = await fingerprint(db);
    for (const format of ['plain', 'custom'] as const) {
      const file = path.join(sb.dir, `flightctl.${format}.dump`);
      const r = await takeDump(sb, { format, file });
      expect(r.bytes).toBe(statSync(file).size);
      expect(r.bytes).toBeGreaterThan(100_000);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      dumps[format] = file;
    }
    expect(head(dumps.plain, 200)).toContain('PostgreSQL database dump');
    expect(head(dumps.custom, 5)).toBe('PGDMP');
  });

  it('fails a dump clearly and leaves no partial file', async () => {
    const file = path.join(sb.dir, 'missing.dump');
    await expect(takeDump(sb, { format: 'plain', file, database: 'no_such_db' })).rejects.toThrow(/pg_dump \(plain\) exited 1: .*no_such_db/s);
    expect(() => statSync(file)).toThrow();
  });

  it('mutates after the dump: the database no longer matches it, the KV store has the new keys', async () => {
    changes = await mutateAfterDump(db, kv);
    const after = await fingerprint(db);
    expect(after).not.toEqual(before);
    expect(after.schema).toBe(before.schema);
    expect(after.tables.organizations!.rows).toBe(before.tables.organizations!.rows + 1);
    expect(changes.addedDevices.length).toBeGreaterThan(0);
    expect(changes.softDeleted.length).toBeGreaterThan(0);
    expect(changes.hardDeleted.length).toBeGreaterThan(0);
    expect(changes.statusChanged.length).toBeGreaterThan(0);
    const added = await db.query(
      `SELECT d.name FROM devices d JOIN device_timestamps t USING (org_id, name) WHERE d.name LIKE 'after-dump-%' AND t.last_seen IS NOT NULL`,
    );
    expect(added.rowCount).toBe(changes.addedDevices.length);
    const hard = await db.query(`SELECT 1 FROM devices WHERE name = ANY ($1)`, [changes.hardDeleted.map((d) => d.name)]);
    expect(hard.rowCount).toBe(0);
    for (const key of changes.kvKeys) expect(await kv.exists(key), key).toBe(1);
    expect(changes.kvKeys.some((k) => /^v1\/[0-9a-f-]{36}\/device\/after-dump-[^/]+\/awaiting-reconnect$/.test(k))).toBe(true);
    expect(changes.kvKeys.some((k) => !k.startsWith('v1/'))).toBe(true);
  });

  for (const format of ['plain', 'custom'] as const) {
    it(`loads the ${format} dump into a fresh database: exactly the content before the changes`, async () => {
      const name = `restored_${format}`;
      await adminSql(sb, `CREATE DATABASE ${name} OWNER flightctl_app TEMPLATE template0`);
      await loadDump(sb, { format, file: dumps[format], database: name });
      expect((await adminSql(sb, 'SELECT datname FROM pg_database ORDER BY 1')).split('\n')).toContain(name);
      const copy = await connectSandboxDb(sb, name);
      try {
        expect(await fingerprint(copy)).toEqual(before);
        expect(await deviceSummary(copy)).toEqual(seeded.byStatus);
        const gone = await copy.query(`SELECT name FROM devices WHERE name LIKE 'after-dump-%' UNION ALL SELECT id::text FROM organizations WHERE id = $1`, [
          changes.addedOrganization,
        ]);
        expect(gone.rows).toEqual([]);
        const back = await copy.query(`SELECT 1 FROM devices WHERE name = ANY ($1) AND deleted_at IS NULL`, [
          [...changes.hardDeleted, ...changes.softDeleted].map((d) => d.name),
        ]);
        expect(back.rowCount).toBe(changes.hardDeleted.length + changes.softDeleted.length);
        // The restored copy works like the original: the fixture's triggers came back with it.
        await copy.query(`INSERT INTO devices (org_id, name, labels) VALUES ($1, 'probe', '{"a": "b"}')`, [SCENARIO_ORGS[0].id]);
        const probe = await copy.query(`SELECT 1 FROM device_timestamps t JOIN device_labels l ON l.device_name = t.name WHERE t.name = 'probe'`);
        expect(probe.rowCount).toBe(1);
      } finally {
        await copy.end();
      }
    });
  }

  it('fails a load clearly when the dump is cut short', async () => {
    const truncated = path.join(sb.dir, 'truncated.dump');
    writeFileSync(truncated, readFileSync(dumps.custom).subarray(0, 4096), { mode: 0o600 });
    await adminSql(sb, 'CREATE DATABASE restored_truncated OWNER flightctl_app TEMPLATE template0');
    await expect(loadDump(sb, { format: 'custom', file: truncated, database: 'restored_truncated' })).rejects.toThrow(
      /pg_restore into restored_truncated exited 1/,
    );
  });
});
