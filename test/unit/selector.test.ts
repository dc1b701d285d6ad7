import { describe, expect, it } from 'vitest';
import { parseSelector } from '../../src/model/selector.js';
import { addFieldRequirements, addLabelRequirements, type SqlFilter } from '../../src/flightctl/devices/selector-sql.js';

describe('parseSelector (labels)', () => {
  it('parses every Kubernetes form', () => {
    expect(parseSelector('label', 'env=prod, tier==web,region in (a, b),zone notin (x),!canary,gpu,app!=db')).toEqual([
      { key: 'env', op: '=', values: ['prod'] },
      { key: 'tier', op: '=', values: ['web'] },
      { key: 'region', op: 'in', values: ['a', 'b'] },
      { key: 'zone', op: 'notin', values: ['x'] },
      { key: 'canary', op: '!', values: [] },
      { key: 'gpu', op: 'exists', values: [] },
      { key: 'app', op: '!=', values: ['db'] },
    ]);
  });

  it('accepts prefixed keys and empty values', () => {
    expect(parseSelector('label', 'example.com/role=,a.b-c_d=x.y')).toEqual([
      { key: 'example.com/role', op: '=', values: [''] },
      { key: 'a.b-c_d', op: '=', values: ['x.y'] },
    ]);
  });

  it.each([
    ['', 'empty'],
    ['env=prod,', 'empty requirement'],
    ['env in (a,b', 'unbalanced'],
    ['env in ()', 'needs at least one value'],
    ['env=pr od', 'label value'],
    ['-env=x', 'label key'],
    ['Bad_Prefix/x=1', 'DNS subdomain'],
    ['env===x', 'unexpected operator'],
    ['a b', 'cannot parse'],
  ])('rejects %j (%s)', (input, fragment) => {
    expect(() => parseSelector('label', input)).toThrow(fragment);
  });
});

describe('parseSelector (device fields)', () => {
  it('accepts the documented fields and operators', () => {
    expect(parseSelector('field', "status.summary.status in (Online,Degraded),metadata.name!='',status.lifecycle.status")).toEqual([
      { key: 'status.summary.status', op: 'in', values: ['Online', 'Degraded'] },
      { key: 'metadata.name', op: '!=', values: [''] },
      { key: 'status.lifecycle.status', op: 'exists', values: [] },
    ]);
  });

  it('rejects unknown fields with the list of allowed ones', () => {
    expect(() => parseSelector('field', 'spec.os.image=x')).toThrow(/unknown field "spec.os.image"; allowed: metadata.name/);
  });

  it('checks timestamps', () => {
    expect(() => parseSelector('field', 'metadata.creationTimestamp=soon')).toThrow('not a timestamp');
    expect(parseSelector('field', 'metadata.creationTimestamp=2026-01-31T12:00:00Z')).toHaveLength(1);
  });
});

describe('selector to SQL', () => {
  it('binds every key and value as a parameter, never into the SQL text', () => {
    const filter: SqlFilter = { where: [], params: [] };
    addLabelRequirements(filter, parseSelector('label', 'env=prod,region in (a,b),!canary'));
    addFieldRequirements(filter, parseSelector('field', "metadata.owner=Fleet/o'brien"));
    expect(filter.params).toEqual(['env', 'prod', 'region', ['a', 'b'], 'canary', "Fleet/o'brien"]);
    expect(filter.where).toEqual([
      'd.labels @> jsonb_build_object($1::text, $2::text)',
      '(d.labels->>$3::text) = ANY($4::text[])',
      'NOT (COALESCE(d.labels ? $5::text, false))',
      'd.owner = $6::text',
    ]);
  });
});
