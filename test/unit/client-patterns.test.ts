import { describe, expect, it } from 'vitest';
import { HostSelector, globToRegExp, orderPatterns, splitHostPattern } from '../../src/client/inventory/host-patterns.js';
import { parseIniInventory } from '../../src/client/inventory/ini-inventory.js';

const inv = parseIniInventory(
  ['lonely', '[web]', 'web1', 'web2', 'web3', '[db]', 'db1', 'db2', '[prod:children]', 'web', 'db', '[canary]', 'web2', 'db1', '[edge]', 'node[01:12]'].join(
    '\n',
  ),
);
const sel = (limit?: string) => new HostSelector(inv).select(limit).map((h) => h.name);

describe('Ansible host patterns for --limit', () => {
  it('splits on commas, else on colons outside brackets, keeping an address whole', () => {
    expect(splitHostPattern('web:&prod:!canary')).toEqual(['web', '&prod', '!canary']);
    expect(splitHostPattern('a, b ,c')).toEqual(['a', 'b', 'c']);
    expect(splitHostPattern('web[0:2]:db')).toEqual(['web[0:2]', 'db']);
    expect(splitHostPattern('web[0:2]')).toEqual(['web[0:2]']);
    expect(splitHostPattern('host:22')).toEqual(['host:22']);
    expect(orderPatterns(['!a', '&b', 'c'])).toEqual(['c', '&b', '!a']);
    expect(orderPatterns(['!a'])).toEqual(['all', '!a']);
  });

  it('translates globs like fnmatch', () => {
    expect(globToRegExp('web*').test('web12')).toBe(true);
    expect(globToRegExp('web?').test('web12')).toBe(false);
    expect(globToRegExp('n[!0]*').test('n1x')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('x[').test('x[')).toBe(true);
  });

  it('selects in inventory order whatever the order of the pattern', () => {
    // Ansible's order: the hosts of all's children level by level (canary and edge are one level
    // above web and db, which are under prod), so web2 and db1 come first.
    const nodes = Array.from({ length: 12 }, (_, i) => `node${String(i + 1).padStart(2, '0')}`);
    expect(sel()).toEqual(['lonely', 'web2', 'db1', ...nodes, 'web1', 'web3', 'db2']);
    expect(sel('db,web')).toEqual(['web2', 'db1', 'web1', 'web3', 'db2']);
    expect(sel('prod:!canary')).toEqual(['web1', 'web3', 'db2']);
    expect(sel('prod:&canary')).toEqual(['web2', 'db1']);
    expect(sel('!prod:!edge')).toEqual(['lonely']);
    expect(sel('web[0]')).toEqual(['web1']);
    expect(sel('web[-1]')).toEqual(['web3']);
    expect(sel('edge[1:3]')).toEqual(['node02', 'node03', 'node04']);
    expect(sel('edge[10:]')).toEqual(['node11', 'node12']);
    expect(sel('~node0[1-3]')).toEqual(['node01', 'node02', 'node03']);
    expect(sel('~(web|db)1')).toEqual(['db1', 'web1']);
    expect(sel('node1*')).toEqual(['node10', 'node11', 'node12']);
    expect(sel('lonely')).toEqual(['lonely']);
    expect(sel('nothing')).toEqual([]);
  });

  it('names what matched nothing, and refuses a subscript past the end or a broken regex', () => {
    const s = new HostSelector(inv);
    s.select('web,ghost');
    expect(s.unmatched).toEqual(['ghost']);
    expect(() => sel('web[7]')).toThrow(expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(/web\[7\]/) }));
    expect(() => sel('~web(')).toThrow(
      expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(/regular expression/) }),
    );
  });
});
