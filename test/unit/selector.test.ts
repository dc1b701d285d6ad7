import { describe, expect, it } from 'vitest';
import { deviceFieldOperators, parseSelector } from '../../src/model/selector.js';
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

  it('accepts metadata.nameOrAlias with every text operator, partial matches included', () => {
    expect(
      parseSelector(
        'field',
        'metadata.nameOrAlias=lobby,metadata.nameOrAlias==x,metadata.nameOrAlias!=y,metadata.nameOrAlias in (a,b),metadata.nameOrAlias notin (c)',
      ).map((r) => r.op),
    ).toEqual(['=', '=', '!=', 'in', 'notin']);
    expect(
      parseSelector('field', 'metadata.nameOrAlias contains obby, metadata.nameOrAlias notcontains kiosk,metadata.nameOrAlias,!metadata.nameOrAlias'),
    ).toEqual([
      { key: 'metadata.nameOrAlias', op: 'contains', values: ['obby'] },
      { key: 'metadata.nameOrAlias', op: 'notcontains', values: ['kiosk'] },
      { key: 'metadata.nameOrAlias', op: 'exists', values: [] },
      { key: 'metadata.nameOrAlias', op: '!', values: [] },
    ]);
    expect(parseSelector('field', 'metadata.nameOrAlias contains')).toEqual([{ key: 'metadata.nameOrAlias', op: 'contains', values: [''] }]);
  });

  it('accepts status.capabilities.osMode with the operators of a status text', () => {
    expect(parseSelector('field', 'status.capabilities.osMode=package,status.capabilities.osMode in (image,package),!status.capabilities.osMode')).toEqual([
      { key: 'status.capabilities.osMode', op: '=', values: ['package'] },
      { key: 'status.capabilities.osMode', op: 'in', values: ['image', 'package'] },
      { key: 'status.capabilities.osMode', op: '!', values: [] },
    ]);
    expect(deviceFieldOperators('status.capabilities.osMode')).toEqual(['=', '==', '!=', 'in', 'notin', 'exists', '!']);
    expect(deviceFieldOperators('metadata.nameOrAlias')).toEqual(['=', '==', '!=', 'in', 'notin', 'contains', 'notcontains', 'exists', '!']);
  });

  it.each([
    [
      'status.capabilities.osMode contains pack',
      'operator "contains" is not supported for field "status.capabilities.osMode"; allowed: =, ==, !=, in, notin, exists, !',
    ],
    ['status.capabilities.osMode notcontains pack', 'operator "notcontains" is not supported for field "status.capabilities.osMode"'],
    ['status.summary.status contains Onl', 'operator "contains" is not supported for field "status.summary.status"'],
    ['metadata.creationTimestamp contains 2026', 'operator "contains" is not supported for field "metadata.creationTimestamp"'],
    ['status.capabilities.osMode>image', 'operator ">" is not supported for field "status.capabilities.osMode"'],
    [
      'metadata.nameOrAlias>=a',
      'operator ">=" is not supported for field "metadata.nameOrAlias"; allowed: =, ==, !=, in, notin, contains, notcontains, exists, !',
    ],
    ['metadata.creationTimestamp < 2026-01-01T00:00:00Z', 'operator "<" is not supported for field "metadata.creationTimestamp"'],
    ['metadata.nameOrAlias contains 50%', "cannot contain '%'"],
    ['metadata.nameoralias=x', 'unknown field "metadata.nameoralias"'],
    ['status.capabilities.osmode=image', 'unknown field "status.capabilities.osmode"'],
    ['spec.os.image contains x', 'unknown field "spec.os.image"'],
  ])('refuses %j', (input, fragment) => {
    let err: unknown;
    try {
      parseSelector('field', input);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'RESTORE_ERR_SELECTOR_INVALID' });
    expect((err as Error).message).toContain(fragment);
    expect((err as Error).message).toContain(`invalid field selector "${input}"`);
  });

  it('lists the new fields among the allowed ones', () => {
    expect(() => parseSelector('field', 'x=1')).toThrow(/allowed: .*metadata\.nameOrAlias.*status\.capabilities\.osMode/);
  });

  it('keeps partial matches out of label selectors', () => {
    expect(() => parseSelector('label', 'env contains prod')).toThrow('cannot parse');
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

  it('metadata.nameOrAlias holds when it holds for the name or the alias, one parameter for both', () => {
    const sql = (selector: string, aliasColumn = true) => {
      const filter: SqlFilter = { where: [], params: [] };
      addFieldRequirements(filter, parseSelector('field', selector), { aliasColumn });
      return filter;
    };
    expect(sql('metadata.nameOrAlias=lobby')).toEqual({ where: ['(d.name = $1::text OR d.alias = $1::text)'], params: ['lobby'] });
    expect(sql('metadata.nameOrAlias!=lobby').where).toEqual(['(d.name IS DISTINCT FROM $1::text OR d.alias IS DISTINCT FROM $1::text)']);
    expect(sql('metadata.nameOrAlias in (a,b)')).toEqual({ where: ['(d.name = ANY($1::text[]) OR d.alias = ANY($1::text[]))'], params: [['a', 'b']] });
    expect(sql('metadata.nameOrAlias notin (a)').where).toEqual([
      '(NOT COALESCE(d.name = ANY($1::text[]), false) OR NOT COALESCE(d.alias = ANY($1::text[]), false))',
    ]);
    expect(sql('metadata.nameOrAlias contains ob_y')).toEqual({ where: ['(d.name LIKE $1::text OR d.alias LIKE $1::text)'], params: ['%ob_y%'] });
    expect(sql('metadata.nameOrAlias notcontains kiosk')).toEqual({
      where: ['((d.name IS NULL OR d.name NOT LIKE $1::text) OR (d.alias IS NULL OR d.alias NOT LIKE $1::text))'],
      params: ['%kiosk%'],
    });
    expect(sql('metadata.nameOrAlias').where).toEqual(['(d.name IS NOT NULL OR d.alias IS NOT NULL)']);
    expect(sql('!metadata.nameOrAlias').where).toEqual(['(d.name IS NULL OR d.alias IS NULL)']);
    // A schema without the alias column: the alias label, which Flight Control copies into it.
    expect(sql('metadata.nameOrAlias=lobby', false).where).toEqual(["(d.name = $1::text OR (d.labels->>'alias') = $1::text)"]);
    expect(sql('metadata.name contains kiosk')).toEqual({ where: ['d.name LIKE $1::text'], params: ['%kiosk%'] });
  });

  it('status.capabilities.osMode reads the capability out of the status JSON', () => {
    const filter: SqlFilter = { where: [], params: [] };
    addFieldRequirements(
      filter,
      parseSelector('field', 'status.capabilities.osMode=package,status.capabilities.osMode notin (image),!status.capabilities.osMode'),
    );
    expect(filter).toEqual({
      where: [
        "d.status->'capabilities'->>'osMode' = $1::text",
        "NOT COALESCE(d.status->'capabilities'->>'osMode' = ANY($2::text[]), false)",
        "d.status->'capabilities'->>'osMode' IS NULL",
      ],
      params: ['package', ['image']],
    });
  });
});
