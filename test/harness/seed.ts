import type pg from 'pg';

export const DEFAULT_ORG = '00000000-0000-0000-0000-000000000000';

export interface DeviceSeed {
  org?: string;
  name: string;
  status?: unknown;
  annotations?: Record<string, string> | null;
  labels?: Record<string, string> | null;
  resourceVersion?: number | null;
  deleted?: boolean;
  lastSeen?: Date | null;
  alias?: string | null;
  owner?: string | null;
}

export async function addOrganization(db: pg.Client, id: string, name = id): Promise<void> {
  await db.query('INSERT INTO organizations (id, display_name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [id, name]);
}

/** Inserts one device; its last_seen goes where the schema keeps it. */
export async function addDevice(db: pg.Client, d: DeviceSeed, legacy = false): Promise<void> {
  const org = d.org ?? DEFAULT_ORG;
  const lastSeen = d.lastSeen === undefined ? new Date('2026-01-01T00:00:00Z') : d.lastSeen;
  await db.query(
    `INSERT INTO devices (org_id, name, status, annotations, labels, resource_version, deleted_at, alias, owner${legacy ? ', last_seen' : ''})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9${legacy ? ', $10' : ''})`,
    [
      org,
      d.name,
      d.status === undefined ? null : JSON.stringify(d.status),
      d.annotations === undefined ? null : JSON.stringify(d.annotations),
      d.labels === undefined ? null : JSON.stringify(d.labels),
      d.resourceVersion ?? null,
      d.deleted ? new Date() : null,
      d.alias ?? null,
      d.owner ?? null,
      ...(legacy ? [lastSeen] : []),
    ],
  );
  if (!legacy) await db.query('UPDATE device_timestamps SET last_seen = $3 WHERE org_id = $1 AND name = $2', [org, d.name, lastSeen]);
}

export interface EnrollmentSeed {
  org?: string;
  name: string;
  status?: unknown;
  annotations?: Record<string, string> | null;
  resourceVersion?: number | null;
  deleted?: boolean;
}

export async function addEnrollmentRequest(db: pg.Client, e: EnrollmentSeed): Promise<void> {
  await db.query(`INSERT INTO enrollment_requests (org_id, name, status, annotations, resource_version, deleted_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
    e.org ?? DEFAULT_ORG,
    e.name,
    e.status === undefined ? null : JSON.stringify(e.status),
    e.annotations === undefined ? null : JSON.stringify(e.annotations),
    e.resourceVersion ?? null,
    e.deleted ? new Date() : null,
  ]);
}

/** Every row of the tables the preparation may touch, for before/after comparisons. */
export async function snapshotTables(db: pg.Client): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const { rows: tables } = await db.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`,
  );
  for (const { t } of tables) out[t] = (await db.query(`SELECT * FROM "${t}" ORDER BY 1, 2`)).rows;
  return out;
}

/**
 * Bulk seeding for benchmarks and the sandbox: n devices spread over the given organizations,
 * inserted server-side with generate_series so a million rows take seconds, not minutes.
 */
export async function seedFleet(db: pg.Client, n: number, orgs: string[]): Promise<void> {
  for (const org of orgs) await addOrganization(db, org);
  await db.query(
    `INSERT INTO devices (org_id, name, alias, labels, annotations, status, resource_version, spec, deleted_at)
     SELECT ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))],
            'device-' || lpad(i::text, 8, '0'),
            'alias-' || i,
            jsonb_build_object('region', 'region-' || (i % 20), 'fleet', 'fleet-' || (i % 50)),
            jsonb_build_object('device-controller/renderedVersion', (i % 7)::text),
            jsonb_build_object(
              'summary', jsonb_build_object('status', CASE WHEN i % 10 = 0 THEN 'Degraded' ELSE 'Online' END, 'info', ''),
              'updated', jsonb_build_object('status', 'UpToDate'),
              'lifecycle', jsonb_build_object('status', CASE WHEN i % 100 = 0 THEN 'Decommissioned' ELSE 'Enrolled' END),
              'applicationsSummary', jsonb_build_object('status', 'Healthy'),
              'config', jsonb_build_object('renderedVersion', (i % 7)::text)),
            (i % 13) + 1,
            '{"os":{"image":"quay.io/example/os:1"}}'::jsonb,
            CASE WHEN i % 200 = 1 THEN now() END
       FROM generate_series(1, $1::int) AS i`,
    [n, orgs],
  );
  await db.query("UPDATE device_timestamps SET last_seen = now() - interval '1 minute'").catch(async () => {
    await db.query("UPDATE devices SET last_seen = now() - interval '1 minute'");
  });
  await db.query(
    `INSERT INTO enrollment_requests (org_id, name, status)
     SELECT ($2::uuid[])[1 + (i % array_length($2::uuid[], 1))], 'er-' || i,
            CASE WHEN i % 2 = 0 THEN '{"approval":{"approved":true}}'::jsonb END
       FROM generate_series(1, GREATEST($1::int / 100, 1)) AS i`,
    [n, orgs],
  );
  await db.query('ANALYZE');
}
