import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { RestoreError } from '../../lib/errors.js';
import { isConnectionLoss } from '../datastores/postgres.js';
import { AWAITING_RECONNECT_ANNOTATION, AWAITING_RECONNECT_INFO, DEFAULT_ORG_ID, systemRestoredMessage } from './marks.js';
import type { FlightctlSchema } from './schema.js';

// A JSON null or a non-object in annotations/status would turn `||` into an array; treat it as {}.
const ANNOTATIONS = `CASE WHEN jsonb_typeof(annotations) = 'object' THEN annotations ELSE '{}'::jsonb END`;
const STATUS = `CASE WHEN jsonb_typeof(status) = 'object' THEN status ELSE '{}'::jsonb END`;

// $1 is always the annotation key; `t` is an optional table alias with its dot.
const deviceNeedsMark = (t = '') => `${t}deleted_at IS NULL
  AND COALESCE(${t}status->'lifecycle'->>'status', '') NOT IN ('Decommissioned', 'Decommissioning')
  AND (${t}annotations->>$1) IS DISTINCT FROM 'true'`;
const DEVICE_NEEDS_MARK = deviceNeedsMark();

const ENROLLMENT_NEEDS_MARK = `deleted_at IS NULL
  AND COALESCE(status->'approval'->>'approved', '') <> 'true'
  AND (annotations->>$1) IS DISTINCT FROM 'true'`;

function deviceSet(schema: FlightctlSchema, clearColumn: boolean): string {
  return `annotations = ${ANNOTATIONS} || jsonb_build_object($1::text, 'true'),
    status = ${STATUS} || jsonb_build_object(
      'summary', jsonb_build_object('status', 'AwaitingReconnect', 'info', $2::text),
      'updated', jsonb_build_object('status', 'Unknown')),
    resource_version = COALESCE(resource_version, 0) + 1${clearColumn || schema.alsoDevicesLastSeen ? ',\n    last_seen = NULL' : ''}`;
}

/**
 * One statement marks the devices and clears their last_seen. Timestamp rows that are already
 * NULL are not rewritten: the result is identical and each skipped row saves a tuple version.
 */
export function deviceStatement(schema: FlightctlSchema): string {
  if (schema.lastSeen === 'devices.last_seen') {
    return `UPDATE devices SET ${deviceSet(schema, true)} WHERE ${DEVICE_NEEDS_MARK}`;
  }
  return `WITH updated AS (
  UPDATE devices SET ${deviceSet(schema, false)}
   WHERE ${DEVICE_NEEDS_MARK}
  RETURNING org_id, name
), cleared AS (
  UPDATE device_timestamps dt SET last_seen = NULL
    FROM updated u
   WHERE dt.org_id = u.org_id AND dt.name = u.name AND dt.last_seen IS NOT NULL
)
SELECT count(*)::bigint AS n FROM updated`;
}

export const ENROLLMENT_STATEMENT = `UPDATE enrollment_requests
   SET annotations = ${ANNOTATIONS} || jsonb_build_object($1::text, 'true'),
       resource_version = COALESCE(resource_version, 0) + 1
 WHERE ${ENROLLMENT_NEEDS_MARK}`;

export interface SqlCounts {
  devicesUpdated: number;
  enrollmentRequestsUpdated: number;
  organizations: number;
  eventCreated: boolean;
}

export async function countOrganizations(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*)::bigint AS n FROM organizations');
  return Number(rows[0]!.n);
}

async function insertEvent(client: pg.Client, schema: FlightctlSchema, devicesUpdated: number): Promise<void> {
  const values: Record<string, unknown> = {
    org_id: DEFAULT_ORG_ID,
    name: randomUUID(),
    reason: 'SystemRestored',
    type: 'Normal',
    message: systemRestoredMessage(devicesUpdated),
    involved_object_kind: 'System',
    involved_object_name: 'database',
    source_component: '',
    actor: '',
    annotations: '{}',
    labels: '{}',
  };
  const columns = Object.keys(values).filter((c) => schema.eventColumns.has(c));
  const now = ['created_at', 'updated_at'].filter((c) => schema.eventColumns.has(c));
  const placeholders = columns.map((_, i) => `$${i + 1}`);
  await client.query(
    `INSERT INTO events (${[...columns, ...now].join(', ')}) VALUES (${[...placeholders, ...now.map(() => 'now()')].join(', ')})`,
    columns.map((c) => values[c]),
  );
}

/**
 * The SQL part of the preparation, in one transaction on the given connection (any database,
 * e.g. a freshly restored one before it is swapped in). Either everything is committed or
 * nothing is: any failure rolls back.
 *
 * The SystemRestored event is written only when the run changed a row, so running the
 * preparation again leaves the database exactly as it was.
 */
export async function prepareDatabase(client: pg.Client, schema: FlightctlSchema): Promise<SqlCounts> {
  await client.query('BEGIN');
  try {
    const params = [AWAITING_RECONNECT_ANNOTATION, AWAITING_RECONNECT_INFO];
    const dev = await client.query<{ n: string }>(deviceStatement(schema), params);
    const devicesUpdated = schema.lastSeen === 'devices.last_seen' ? (dev.rowCount ?? 0) : Number(dev.rows[0]!.n);
    const er = await client.query(ENROLLMENT_STATEMENT, [AWAITING_RECONNECT_ANNOTATION]);
    const enrollmentRequestsUpdated = er.rowCount ?? 0;
    const eventCreated = devicesUpdated + enrollmentRequestsUpdated > 0;
    if (eventCreated) await insertEvent(client, schema, devicesUpdated);
    const organizations = await countOrganizations(client);
    await client.query('COMMIT');
    return { devicesUpdated, enrollmentRequestsUpdated, organizations, eventCreated };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof RestoreError) throw err;
    const e = err as { code?: string; message?: string };
    if (isConnectionLoss(err))
      throw new RestoreError(
        'RESTORE_ERR_DB_UNREACHABLE',
        `the database went away while it was being prepared (nothing was committed): ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`,
        { sqlState: e.code },
      );
    throw new RestoreError(
      'RESTORE_ERR_PREPARE_SQL',
      `preparing the database failed and was rolled back: ${e.code ? `${e.code} ` : ''}${e.message ?? String(err)}`,
      {
        sqlState: e.code,
      },
    );
  }
}

/** What prepareDatabase would change, read in a read-only transaction. */
export async function checkDatabase(client: pg.Client, schema: FlightctlSchema): Promise<SqlCounts & { lastSeenToClear: number }> {
  await client.query('BEGIN TRANSACTION READ ONLY');
  try {
    const key = [AWAITING_RECONNECT_ANNOTATION];
    const dev = await client.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM devices WHERE ${DEVICE_NEEDS_MARK}`, key);
    const lastSeen =
      schema.lastSeen === 'devices.last_seen'
        ? `SELECT count(*)::bigint AS n FROM devices WHERE ${DEVICE_NEEDS_MARK} AND last_seen IS NOT NULL`
        : `SELECT count(*)::bigint AS n FROM device_timestamps dt JOIN devices d ON d.org_id = dt.org_id AND d.name = dt.name
            WHERE dt.last_seen IS NOT NULL AND ${deviceNeedsMark('d.')}`;
    const ls = await client.query<{ n: string }>(lastSeen, key);
    const er = await client.query<{ n: string }>(`SELECT count(*)::bigint AS n FROM enrollment_requests WHERE ${ENROLLMENT_NEEDS_MARK}`, key);
    const organizations = await countOrganizations(client);
    const devicesUpdated = Number(dev.rows[0]!.n);
    const enrollmentRequestsUpdated = Number(er.rows[0]!.n);
    return {
      devicesUpdated,
      enrollmentRequestsUpdated,
      organizations,
      eventCreated: devicesUpdated + enrollmentRequestsUpdated > 0,
      lastSeenToClear: Number(ls.rows[0]!.n),
    };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
