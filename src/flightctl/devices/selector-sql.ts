import type { DeviceField, Requirement } from '../../model/selector.js';

/** SQL expressions of the device fields; `d` is the devices table alias. */
const FIELD_SQL: Record<Exclude<DeviceField, 'metadata.nameOrAlias'>, string> = {
  'metadata.name': 'd.name',
  'metadata.owner': 'd.owner',
  'metadata.alias': 'd.alias',
  'metadata.creationTimestamp': 'd.created_at',
  'status.summary.status': "d.status->'summary'->>'status'",
  'status.updated.status': "d.status->'updated'->>'status'",
  'status.lifecycle.status': "d.status->'lifecycle'->>'status'",
  'status.applicationsSummary.status': "d.status->'applicationsSummary'->>'status'",
  'status.capabilities.osMode': "d.status->'capabilities'->>'osMode'",
};

export interface FieldSqlOptions {
  /**
   * Whether the devices table has Flight Control's `alias` column (a copy of the `alias` label).
   * Without it, `metadata.nameOrAlias` reads the label itself.
   */
  aliasColumn?: boolean;
}

/**
 * The expressions a field stands for. `metadata.nameOrAlias` is two, name and alias, and a
 * requirement on it holds when it holds for either one, as in Flight Control, for every operator:
 * so `!=`, `notin` and `notcontains` exclude only a device whose name and alias both fail them.
 */
function fieldExpressions(field: DeviceField, opts: FieldSqlOptions): string[] {
  if (field === 'metadata.nameOrAlias') return ['d.name', opts.aliasColumn === false ? "(d.labels->>'alias')" : 'd.alias'];
  return [FIELD_SQL[field]];
}

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

export function addFieldRequirements(filter: SqlFilter, reqs: Requirement[], opts: FieldSqlOptions = {}): void {
  for (const r of reqs) {
    const field = r.key as DeviceField;
    const exprs = fieldExpressions(field, opts);
    const cast = field === 'metadata.creationTimestamp' ? '::timestamptz' : '::text';
    // One parameter per requirement, shared by every expression of the field.
    let bound: string | undefined;
    const value = (v: unknown, c: string) => (bound ??= param(filter, v, c));
    const each = (clause: (expr: string) => string) => {
      const clauses = exprs.map(clause);
      filter.where.push(clauses.length === 1 ? clauses[0]! : `(${clauses.join(' OR ')})`);
    };
    switch (r.op) {
      case 'exists':
        each((e) => `${e} IS NOT NULL`);
        break;
      case '!':
        each((e) => `${e} IS NULL`);
        break;
      case '=':
        each((e) => `${e} = ${value(r.values[0], cast)}`);
        break;
      case '!=':
        each((e) => `${e} IS DISTINCT FROM ${value(r.values[0], cast)}`);
        break;
      case 'in':
        each((e) => `${e} = ANY(${value(r.values, `${cast}[]`)})`);
        break;
      case 'notin':
        each((e) => `NOT COALESCE(${e} = ANY(${value(r.values, `${cast}[]`)}), false)`);
        break;
      // Flight Control's partial match: SQL LIKE '%value%', case-sensitive, on text columns only.
      case 'contains':
        each((e) => `${e} LIKE ${value(`%${r.values[0]}%`, '::text')}`);
        break;
      case 'notcontains':
        each((e) => `(${e} IS NULL OR ${e} NOT LIKE ${value(`%${r.values[0]}%`, '::text')})`);
        break;
    }
  }
}
