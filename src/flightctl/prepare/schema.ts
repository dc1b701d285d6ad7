import type pg from 'pg';
import { RestoreError } from '../../lib/errors.js';

/**
 * The two generations of Flight Control's schema this engine knows. Before 1.0 a device's
 * last_seen was a column of `devices`; since then it lives in `device_timestamps`.
 */
export type LastSeenLocation = 'device_timestamps' | 'devices.last_seen';

export interface FlightctlSchema {
  lastSeen: LastSeenLocation;
  /** Set when an old devices.last_seen column survived next to device_timestamps; cleared too. */
  alsoDevicesLastSeen: boolean;
  /** Columns of `events`, so the SystemRestored row only names columns that exist. */
  eventColumns: ReadonlySet<string>;
}

const REQUIRED: Record<string, readonly string[]> = {
  devices: ['org_id', 'name', 'annotations', 'status', 'resource_version', 'deleted_at'],
  enrollment_requests: ['org_id', 'name', 'annotations', 'status', 'resource_version', 'deleted_at'],
  events: ['org_id', 'name', 'reason', 'type', 'message', 'involved_object_name', 'involved_object_kind'],
  organizations: ['id'],
};

/** Reads the catalogue (no locks, no changes) and decides how to prepare this database. */
export async function detectSchema(client: pg.Client, database: string): Promise<FlightctlSchema> {
  const { rows } = await client.query<{ table_name: string; column_name: string }>(
    `SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema()
        AND table_name IN ('devices', 'device_timestamps', 'enrollment_requests', 'events', 'organizations')`,
  );
  const tables = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!tables.has(r.table_name)) tables.set(r.table_name, new Set());
    tables.get(r.table_name)!.add(r.column_name);
  }
  if (!tables.has('devices') || (!tables.has('enrollment_requests') && !tables.has('events'))) {
    const missing = Object.keys(REQUIRED).filter((t) => !tables.has(t));
    throw new RestoreError('RESTORE_ERR_DB_NOT_FLIGHTCTL', `database ${database} is not a Flight Control database: table(s) ${missing.join(', ')} missing`, {
      database,
      missing,
    });
  }
  const missing: string[] = [];
  for (const [table, columns] of Object.entries(REQUIRED)) {
    const have = tables.get(table);
    if (!have) missing.push(table);
    else for (const c of columns) if (!have.has(c)) missing.push(`${table}.${c}`);
  }
  const timestamps = tables.get('device_timestamps');
  const hasTimestamps = !!timestamps && ['org_id', 'name', 'last_seen'].every((c) => timestamps.has(c));
  const hasDevicesColumn = tables.get('devices')!.has('last_seen');
  if (!hasTimestamps && !hasDevicesColumn) missing.push('device_timestamps.last_seen or devices.last_seen');
  if (missing.length) {
    throw new RestoreError('RESTORE_ERR_DB_SCHEMA_UNKNOWN', `database ${database} has an unknown Flight Control schema: missing ${missing.join(', ')}`, {
      database,
      missing,
    });
  }
  return {
    lastSeen: hasTimestamps ? 'device_timestamps' : 'devices.last_seen',
    alsoDevicesLastSeen: hasTimestamps && hasDevicesColumn,
    eventColumns: tables.get('events')!,
  };
}
