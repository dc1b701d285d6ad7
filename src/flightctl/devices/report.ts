import type pg from 'pg';
import Cursor from 'pg-cursor';
import { RestoreError } from '../../lib/errors.js';
import { parseSelector } from '../../model/selector.js';
import { addFieldRequirements, addLabelRequirements, type SqlFilter } from './selector-sql.js';

export interface DeviceRow {
  orgId: string;
  name: string;
  alias: string | null;
  summaryStatus: string | null;
  updatedStatus: string | null;
  lifecycleStatus: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
}

/** Validates both selectors before any query runs, so a typo never reaches the database. */
export function buildDeviceFilter(opts: ListOptions, hasAlias: boolean): SqlFilter {
  const filter: SqlFilter = { where: ['d.deleted_at IS NULL'], params: [] };
  if (opts.labelSelector !== undefined) addLabelRequirements(filter, parseSelector('label', opts.labelSelector));
  if (opts.fieldSelector !== undefined) {
    const reqs = parseSelector('field', opts.fieldSelector);
    if (!hasAlias && reqs.some((r) => r.key === 'metadata.alias')) {
      throw new RestoreError('RESTORE_ERR_SELECTOR_INVALID', 'field metadata.alias does not exist in this database schema', { field: 'metadata.alias' });
    }
    addFieldRequirements(filter, reqs, { aliasColumn: hasAlias });
  }
  return filter;
}

/** Streams matching devices in batches so a million-device fleet never sits in memory at once. */
export async function* listDevices(db: pg.Client, opts: ListOptions): AsyncGenerator<DeviceRow> {
  const { rows: cols } = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'alias'`,
  );
  const hasAlias = cols.length > 0;
  const filter = buildDeviceFilter(opts, hasAlias);
  const limit = opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
  const sql = `SELECT d.org_id::text AS "orgId", d.name, ${hasAlias ? 'd.alias' : 'NULL::text'} AS alias,
      d.status->'summary'->>'status' AS "summaryStatus", d.status->'updated'->>'status' AS "updatedStatus",
      d.status->'lifecycle'->>'status' AS "lifecycleStatus",
      COALESCE(d.labels, '{}'::jsonb) AS labels, COALESCE(d.annotations, '{}'::jsonb) AS annotations
    FROM devices d WHERE ${filter.where.join(' AND ')} ORDER BY d.org_id, d.name${limit}`;
  const cursor = db.query(new Cursor<DeviceRow>(sql, filter.params));
  try {
    for (;;) {
      const rows = await cursor.read(1000);
      if (rows.length === 0) return;
      yield* rows;
    }
  } finally {
    await cursor.close().catch(() => undefined);
  }
}
