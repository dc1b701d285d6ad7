import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Redis } from 'ioredis';

/**
 * The baseline: the algorithm of Flight Control's own restore preparation, written down from
 * reading it (not copied): KV flush, the device and enrollment-request statements, an event,
 * then for each organization its full list of device names in memory and one SETNX round trip
 * per device.
 */
const UPSTREAM_DEVICES = `WITH updated_devices AS (
  UPDATE devices SET
    annotations = COALESCE(annotations, '{}'::jsonb) || jsonb_build_object($1::text, 'true'),
    status = CASE WHEN status IS NOT NULL
      THEN status || jsonb_build_object('summary', jsonb_build_object('status', 'AwaitingReconnect', 'info', $2::text))
                  || jsonb_build_object('updated', jsonb_build_object('status', 'Unknown'))
      ELSE jsonb_build_object('summary', jsonb_build_object('status', 'AwaitingReconnect', 'info', $2::text),
                              'updated', jsonb_build_object('status', 'Unknown')) END,
    resource_version = COALESCE(resource_version, 0) + 1
  WHERE deleted_at IS NULL
    AND COALESCE(status->'lifecycle'->>'status', '') NOT IN ('Decommissioned', 'Decommissioning')
    AND (annotations->>$1) IS DISTINCT FROM 'true'
  RETURNING name, org_id)
UPDATE device_timestamps dt SET last_seen = NULL FROM updated_devices ud
 WHERE dt.org_id = ud.org_id AND dt.name = ud.name`;

const UPSTREAM_ENROLLMENTS = `UPDATE enrollment_requests
   SET annotations = COALESCE(annotations, '{}'::jsonb) || jsonb_build_object($1::text, 'true'),
       resource_version = COALESCE(resource_version, 0) + 1
 WHERE deleted_at IS NULL
   AND (status->'approval'->>'approved' IS NULL OR status->'approval'->>'approved' != 'true')
   AND (annotations->>$1) IS DISTINCT FROM 'true'`;

const KEY = 'device-controller/awaitingReconnect';
const INFO = 'Device has not reconnected since restore to confirm its current state.';

export async function runUpstreamBaseline(db: pg.Client, redis: Redis): Promise<{ devicesUpdated: number; keys: number }> {
  await redis.flushall();
  await db.query('BEGIN');
  const dev = await db.query(UPSTREAM_DEVICES, [KEY, INFO]);
  await db.query(UPSTREAM_ENROLLMENTS, [KEY]);
  await db.query('COMMIT');
  await db.query(
    `INSERT INTO events (org_id, name, reason, type, message, involved_object_kind, involved_object_name, source_component, actor, annotations, created_at, updated_at)
     VALUES ('00000000-0000-0000-0000-000000000000', $1, 'SystemRestored', 'Normal', $2, 'System', 'database', '', '', '{}', now(), now())`,
    [randomUUID(), `System restored successfully. Updated ${dev.rowCount} devices for post-restoration preparation.`],
  );
  const { rows: orgs } = await db.query<{ id: string }>('SELECT id::text AS id FROM organizations');
  let keys = 0;
  for (const org of orgs) {
    const { rows } = await db.query<{ name: string }>('SELECT name FROM devices WHERE org_id = $1 AND deleted_at IS NULL', [org.id]);
    for (const { name } of rows) {
      await redis.setnx(`v1/${org.id}/device/${name}/awaiting-reconnect`, 'true');
      keys++;
    }
  }
  return { devicesUpdated: dev.rowCount ?? 0, keys };
}
