import type pg from 'pg';
import { detectSchema } from '../prepare/schema.js';
import { buildDeviceFilter } from './report.js';

/** Annotations Flight Control sets on a device paused after a restore (FLIGHTCTL.md §5). */
export const CONFLICT_PAUSED_ANNOTATION = 'device-controller/conflictPaused';
export const RENDERED_SPEC_HASH_ANNOTATION = 'device-controller/renderedSpecHash';
const RESOLVED_MESSAGE = 'Device conflict has been resolved and device has been resumed.';

export interface ResumeSelection {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Only this organization; every organization when absent. */
  orgId?: string | undefined;
}

/** One device: Flight Control's own form of "this name", `metadata.name=<n>`. */
export function selectionForName(name: string): { fieldSelector: string } {
  return { fieldSelector: `metadata.name=${name}` };
}

/** Every device: never an empty selector, which Flight Control refuses. */
export const ALL_DEVICES = { fieldSelector: "metadata.name!=''" } as const;

/**
 * What Flight Control's resume does, in the database directly (when no API URL and token are
 * configured): in one transaction, the conflictPaused and renderedSpecHash annotations removed from
 * the matching devices that carry conflictPaused, their resource_version bumped, and one
 * DeviceConflictResolved event each. The selectors are validated before anything runs.
 */
export async function resumeInDatabase(db: pg.Client, sel: ResumeSelection, actor: string): Promise<number> {
  const { rows: cols } = await db.query(
    `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'alias'`,
  );
  const filter = buildDeviceFilter({ labelSelector: sel.labelSelector, fieldSelector: sel.fieldSelector }, cols.length > 0);
  const p = (v: unknown) => {
    filter.params.push(v);
    return `$${filter.params.length}`;
  };
  const paused = p(CONFLICT_PAUSED_ANNOTATION);
  const hash = p(RENDERED_SPEC_HASH_ANNOTATION);
  filter.where.push(`d.annotations ? ${paused}::text`);
  if (sel.orgId) filter.where.push(`d.org_id = ${p(sel.orgId)}::uuid`);
  await db.query('BEGIN');
  try {
    const { rows } = await db.query<{ org_id: string; name: string }>(
      `UPDATE devices d SET annotations = d.annotations - ${paused}::text - ${hash}::text, resource_version = COALESCE(d.resource_version, 0) + 1
        WHERE ${filter.where.join(' AND ')} RETURNING d.org_id::text AS org_id, d.name`,
      filter.params,
    );
    if (rows.length) {
      // Only the columns this schema generation has (as the SystemRestored event does).
      const have = (await detectSchema(db, 'the live database')).eventColumns;
      const values: [string, string][] = [
        ['org_id', 'x.o::uuid'],
        ['name', 'gen_random_uuid()::text'],
        ['reason', "'DeviceConflictResolved'"],
        ['type', "'Normal'"],
        ['message', '$3'],
        ['involved_object_kind', "'Device'"],
        ['involved_object_name', 'x.n'],
        ['source_component', "'flightctl-restore-agent'"],
        ['actor', '$4'],
        ['created_at', 'now()'],
        ['updated_at', 'now()'],
      ];
      const cols = values.filter(([c]) => have.has(c));
      await db.query(
        `INSERT INTO events (${cols.map(([c]) => c).join(', ')}) SELECT ${cols.map(([, v]) => v).join(', ')} FROM unnest($1::text[], $2::text[]) AS x(o, n)`,
        [rows.map((r) => r.org_id), rows.map((r) => r.name), RESOLVED_MESSAGE, actor],
      );
    }
    await db.query('COMMIT');
    return rows.length;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
