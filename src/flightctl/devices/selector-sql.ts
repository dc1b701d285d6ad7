import type { DeviceField, Requirement } from '../../model/selector.js';

/** SQL expressions of the device fields; `d` is the devices table alias. */
const FIELD_SQL: Record<DeviceField, string> = {
  'metadata.name': 'd.name',
  'metadata.owner': 'd.owner',
  'metadata.alias': 'd.alias',
  'metadata.creationTimestamp': 'd.created_at',
  'status.summary.status': "d.status->'summary'->>'status'",
  'status.updated.status': "d.status->'updated'->>'status'",
  'status.lifecycle.status': "d.status->'lifecycle'->>'status'",
  'status.applicationsSummary.status': "d.status->'applicationsSummary'->>'status'",
};

export interface SqlFilter {
  where: string[];
  params: unknown[];
}

function param(filter: SqlFilter, value: unknown, cast = ''): string {
  filter.params.push(value);
  return `$${filter.params.length}${cast}`;
}

/** Label requirements, written so `=` and `exists` can use the GIN index on labels. */
export function addLabelRequirements(filter: SqlFilter, reqs: Requirement[]): void {
  for (const r of reqs) {
    const key = () => param(filter, r.key, '::text');
    switch (r.op) {
      case 'exists':
        filter.where.push(`d.labels ? ${key()}`);
        break;
      case '!':
        filter.where.push(`NOT (COALESCE(d.labels ? ${key()}, false))`);
        break;
      case '=':
        filter.where.push(`d.labels @> jsonb_build_object(${key()}, ${param(filter, r.values[0], '::text')})`);
        break;
      case '!=':
        // Kubernetes semantics: objects without the key match too.
        filter.where.push(`NOT COALESCE(d.labels @> jsonb_build_object(${key()}, ${param(filter, r.values[0], '::text')}), false)`);
        break;
      case 'in':
        filter.where.push(`(d.labels->>${key()}) = ANY(${param(filter, r.values, '::text[]')})`);
        break;
      case 'notin':
        filter.where.push(`NOT COALESCE((d.labels->>${key()}) = ANY(${param(filter, r.values, '::text[]')}), false)`);
        break;
    }
  }
}

export function addFieldRequirements(filter: SqlFilter, reqs: Requirement[]): void {
  for (const r of reqs) {
    const field = r.key as DeviceField;
    const expr = FIELD_SQL[field];
    const cast = field === 'metadata.creationTimestamp' ? '::timestamptz' : '::text';
    switch (r.op) {
      case 'exists':
        filter.where.push(`${expr} IS NOT NULL`);
        break;
      case '!':
        filter.where.push(`${expr} IS NULL`);
        break;
      case '=':
        filter.where.push(`${expr} = ${param(filter, r.values[0], cast)}`);
        break;
      case '!=':
        filter.where.push(`${expr} IS DISTINCT FROM ${param(filter, r.values[0], cast)}`);
        break;
      case 'in':
        filter.where.push(`${expr} = ANY(${param(filter, r.values, `${cast}[]`)})`);
        break;
      case 'notin':
        filter.where.push(`NOT COALESCE(${expr} = ANY(${param(filter, r.values, `${cast}[]`)}), false)`);
        break;
    }
  }
}
