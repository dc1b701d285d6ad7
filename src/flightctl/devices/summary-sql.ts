import type pg from 'pg';

export interface DeviceSummary {
  total: number;
  /** Count of non-deleted devices by status.summary.status ("Unknown" when absent). */
  byStatus: Record<string, number>;
}

/**
 * The device summary as one JSON value: run by psql inside the database's container (no network,
 * no credential) and over a connection alike, so both read the same counts.
 */
export const DEVICE_SUMMARY_JSON_SQL = `SELECT COALESCE(json_object_agg(s, n ORDER BY s), '{}'::json) AS summary
  FROM (SELECT COALESCE(status->'summary'->>'status', 'Unknown') AS s, count(*) AS n
          FROM devices WHERE deleted_at IS NULL GROUP BY 1) AS counts;
`;

export function parseSummaryJson(text: string): DeviceSummary {
  const byStatus = JSON.parse(text.trim() || '{}') as Record<string, number>;
  return { total: Object.values(byStatus).reduce((a, b) => a + Number(b), 0), byStatus };
}

/** The same summary over a connection. */
export async function summarizeDevices(db: pg.Client): Promise<DeviceSummary> {
  const { rows } = await db.query<{ summary: Record<string, number> }>(DEVICE_SUMMARY_JSON_SQL);
  return parseSummaryJson(JSON.stringify(rows[0]?.summary ?? {}));
}
