import type { DeviceSummary } from './report.js';

/**
 * The device summary as one JSON value, for callers that run SQL as text through psql inside the
 * database's container (no network, no credential): the same counts summarizeDevices reads.
 */
export const DEVICE_SUMMARY_JSON_SQL = `SELECT COALESCE(json_object_agg(s, n ORDER BY s), '{}'::json)
  FROM (SELECT COALESCE(status->'summary'->>'status', 'Unknown') AS s, count(*) AS n
          FROM devices WHERE deleted_at IS NULL GROUP BY 1) AS counts;
`;

export function parseSummaryJson(text: string): DeviceSummary {
  const byStatus = JSON.parse(text.trim() || '{}') as Record<string, number>;
  return { total: Object.values(byStatus).reduce((a, b) => a + Number(b), 0), byStatus };
}
