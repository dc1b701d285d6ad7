import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandHostEntry, expandHostRange } from '../../src/client/inventory/host-expand.js';
import { parseIniInventory } from '../../src/client/inventory/ini-inventory.js';
import { parseIniValue } from '../../src/client/inventory/literal.js';
import { loadInventory } from '../../src/client/inventory/load-inventory.js';
import { shlexSplit } from '../../src/client/inventory/shlex.js';
import { parseYamlInventory } from '../../src/client/inventory/yaml-inventory.js';

const dir = mkdtempSync(path.join(tmpdir(), 'inv-unit-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('inventory host names, words and values', () => {
  it('expands ranges as Ansible does: padding, letters, steps, several ranges', () => {
    expect(expandHostRange('node[01:03]')).toEqual(['node01', 'node02', 'node03']);
    expect(expandHostRange('db-[a:c].example')).toEqual(['db-a.example', 'db-b.example', 'db-c.example']);
    expect(expandHostRange('w[0:10:5]')).toEqual(['w0', 'w5', 'w10']);
    expect(expandHostRange('r[1:2]c[a:b]')).toEqual(['r1ca', 'r1cb', 'r2ca', 'r2cb']);
    expect(expandHostRange('n[:2]')).toEqual(['n0', 'n1', 'n2']);
    expect(() => expandHostRange('n[01:100]')).toThrow(/equal-length/);
    expect(() => expandHostRange('n[1:]')).toThrow(/end value/);
    expect(() => expandHostRange('n[c:a]')).toThrow(/begin <= end/);
    expect(() => expandHostRange('n[1:2:0]')).toThrow(/zero/);
  });

  it('takes a port off host:port and [v6]:port, not off anything else', () => {
    expect(expandHostEntry('web1.example.com:2222')).toEqual({ names: ['web1.example.com'], port: 2222 });
    expect(expandHostEntry('10.1.2.3:22')).toEqual({ names: ['10.1.2.3'], port: 22 });
    expect(expandHostEntry('node[1:2]:22')).toEqual({ names: ['node1', 'node2'], port: 22 });
    expect(expandHostEntry('plain')).toEqual({ names: ['plain'], port: undefined });
  });

  it('splits host lines like shlex: quotes, escapes, comments', () => {
    expect(shlexSplit(`web1 a="x y" b='p q' c=d\\ e  # comment`)).toEqual(['web1', 'a=x y', 'b=p q', 'c=d e']);
    expect(shlexSplit(`h u=http://x#frag`)).toEqual(['h', 'u=http://x']);
    expect(shlexSplit(`h a="q\\"q"`)).toEqual(['h', 'a=q"q']);
    expect(() => shlexSplit(`h a="open`)).toThrow(/No closing quotation/);
  });

  it('types INI values as Python literals would, else keeps the text', () => {
    expect(parseIniValue('8443')).toBe(8443);
    expect(parseIniValue('-5')).toBe(-5);
    expect(parseIniValue('1.5')).toBe(1.5);
    expect(parseIniValue('0x1F')).toBe(31);
    expect(parseIniValue('True')).toBe(true);
    expect(parseIniValue('None')).toBe(null);
    expect(parseIniValue('"quoted"')).toBe('quoted');
    expect(parseIniValue('true')).toBe('true');
    expect(parseIniValue('0777')).toBe('0777');
    expect(parseIniValue('https://a:8443')).toBe('https://a:8443');
    expect(parseIniValue('1 # port')).toBe(1);
    expect(parseIniValue('x # c')).toBe('x # c');
  });
});

describe('INI inventories', () => {
  it('reads groups, children declared before their groups, vars, and puts groupless hosts in ungrouped', () => {
    const inv = parseIniInventory(
      [
        'lonely',
        '[prod:children]',
        'web',
        '[web]',
        'w1 restore_agent_url=https://w1:8443',
        'w2',
        '[web:vars]',
        'x=1',
        '[prod:vars]',
        'x=0',
        'y=2',
        '[all:vars]',
        'z=3',
      ].join('\n'),
    );
    expect([...inv.groups.keys()]).toEqual(['all', 'ungrouped', 'prod', 'web']);
    expect(inv.group('ungrouped').hosts.map((h) => h.name)).toEqual(['lonely']);
    expect(inv.group('prod').children.map((g) => g.name)).toEqual(['web']);
    expect(inv.varsOf(inv.hosts.get('w1')!)).toEqual({ z: 3, x: 1, y: 2, restore_agent_url: 'https://w1:8443' });
    expect(inv.hostsOf(inv.group('all')).map((h) => h.name)).toEqual(['lonely', 'w1', 'w2']);
  });

  const bad: Array<[string, string[], number, RegExp]> = [
    ['a word that is not key=value on a host line', ['[web]', 'w1', 'w2 oops'], 3, /expected key=value.*oops/],
    ['an unknown section type', ['[web]', 'w1', '', '[web:others]'], 4, /unknown type others/],
    ['a section with a space', ['[web servers]'], 1, /invalid section/],
    ['vars for a group never declared', ['w0', '[ghost:vars]', 'a=1'], 2, /never declared: ghost/],
    ['children naming a group never declared', ['[p:children]', 'web', 'ghost', '[web]', 'w'], 3, /\[p:children\] names a group that is never declared: ghost/],
    ['a vars line without =', ['[web]', 'w', '[web:vars]', 'justaword'], 4, /expected key=value in \[web:vars\]/],
    ['an unclosed quote', ['[web]', 'w a="open'], 2, /No closing quotation/],
    ['a bad range', ['[web]', 'n[01:100]'], 2, /equal-length/],
    ['a group loop', ['[a:children]', 'b', '[b:children]', 'a'], 4, /loop/],
    ['a host ending in :', ['[web]', 'w1:'], 2, /ends in ":"/],
  ];
  for (const [what, lines, line, re] of bad) {
    it(`refuses ${what}, naming line ${line}`, () => {
      const f = file(`bad-${line}-${what.replace(/\W+/g, '-')}.ini`, lines.join('\n'));
      expect(() => loadInventory(f)).toThrow(
        expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(new RegExp(`line ${line}: .*${re.source}`)) }),
      );
    });
  }
});

describe('YAML inventories', () => {
  it('reads all/children/hosts/vars with YAML 1.1 values, a host given as one string, ranges in keys', () => {
    const { inventory: inv, warnings } = parseYamlInventory(
      [
        'all:',
        '  vars: {z: 3}',
        '  hosts:',
        '    solo:',
        '  children:',
        '    web:',
        '      hosts:',
        '        w[1:2]:',
        '          flag: yes',
        '      vars:',
        '        x: 1',
        '    db:',
        '      hosts: d1',
        '      extra: 5',
      ].join('\n'),
    );
    expect([...inv.hosts.keys()]).toEqual(['solo', 'w1', 'w2', 'd1']);
    expect(inv.varsOf(inv.hosts.get('w2')!)).toEqual({ z: 3, x: 1, flag: true });
    expect(inv.group('ungrouped').hosts.map((h) => h.name)).toEqual(['solo']);
    expect(warnings).toEqual([{ line: 14, message: expect.stringMatching(/unexpected key extra in group db/) }]);
  });

  const bad: Array<[string, string[], number, RegExp]> = [
    ['broken YAML', ['all:', '  hosts:', '    a: [1, 2'], 3, /not valid YAML/],
    ['a list at the top', ['- a', '- b'], 1, /mapping of group names/],
    ['hosts that are a list', ['web:', '  hosts:', '    - a'], 2, /"hosts" of group web must be a mapping/],
    ['a host whose vars are a list', ['web:', '  hosts:', '    a:', '      - 1'], 3, /variables of host a must be a mapping/],
    ['a numeric host name', ['web:', '  hosts:', '    1234:'], 3, /host 1234 must be a string/],
    ['a bad range in a key', ['web:', '  hosts:', "    'n[1:2:x]':"], 3, /host range step/],
  ];
  for (const [what, lines, line, re] of bad) {
    it(`refuses ${what}, naming line ${line}`, () => {
      const f = file(`bad-${line}-${what.replace(/\W+/g, '-')}.yml`, lines.join('\n'));
      expect(() => loadInventory(f)).toThrow(
        expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(new RegExp(`line ${line}: .*${re.source}`)) }),
      );
    });
  }

  it('picks the format the way Ansible does: by extension, else YAML when it reads as a mapping, else INI', () => {
    expect(loadInventory(file('hosts', '[web]\nw1\n')).format).toBe('ini');
    expect(loadInventory(file('hosts-yaml', 'web:\n  hosts:\n    w1:\n')).format).toBe('yaml');
    expect(loadInventory(file('inv.json', '{"web": {"hosts": {"w1": null}}}')).format).toBe('yaml');
    expect(() => loadInventory(path.join(dir, 'missing.ini'))).toThrow(
      expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(/cannot be read \(ENOENT\)/) }),
    );
    expect(() => loadInventory(dir)).toThrow(/is a directory/);
  });
});

describe('group_vars/ and host_vars/ beside the inventory', () => {
  it("layers them with Ansible's precedence, reads directories of files in order, skips hidden and foreign files", () => {
    const d = mkdtempSync(path.join(tmpdir(), 'inv-vars-'));
    const put = (name: string, text: string) => {
      mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
      writeFileSync(path.join(d, name), text);
    };
    put('hosts.ini', '[web]\nw1 a=host-file\nw2\n[web:vars]\na=web-file\nb=web-file\n[all:vars]\na=all-file\n');
    put('group_vars/all.yml', 'a: all-dir\nb: all-dir\ny: short\n');
    put('group_vars/web/1.yml', 'c: one\n');
    put('group_vars/web/2.yml', 'c: two\n');
    put('group_vars/web/.swap.yml', 'c: hidden\n');
    put('group_vars/web/readme.md', 'c: foreign\n');
    put('host_vars/w1', 'a: host-dir\n');
    const inv = loadInventory(path.join(d, 'hosts.ini')).inventory;
    // group_vars/all outranks [web:vars] of the file; the file's host vars outrank group_vars; host_vars outrank all.
    expect(inv.varsOf(inv.hosts.get('w2')!)).toEqual({ a: 'all-dir', b: 'all-dir', y: 'short', c: 'two' });
    expect(inv.varsOf(inv.hosts.get('w1')!)).toMatchObject({ a: 'host-dir' });
  });

  it('refuses a vault-encrypted vars file and a vaulted agent URL, naming them', async () => {
    const d = mkdtempSync(path.join(tmpdir(), 'inv-vault-'));
    mkdirSync(path.join(d, 'group_vars'));
    writeFileSync(path.join(d, 'hosts.yml'), 'web:\n  hosts:\n    w1:\n      restore_agent_url: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n');
    const { resolveTargets } = await import('../../src/client/targets.js');
    expect(() => resolveTargets({ inventory: path.join(d, 'hosts.yml') })).toThrow(
      expect.objectContaining({ code: 'RESTORE_ERR_INVENTORY_INVALID', message: expect.stringMatching(/restore_agent_url of host w1 is vault-encrypted/) }),
    );
    writeFileSync(path.join(d, 'group_vars', 'all.yml'), '$ANSIBLE_VAULT;1.1;AES256\n6162\n');
    expect(() => loadInventory(path.join(d, 'hosts.yml'))).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/group_vars\/all\.yml line 1: is vault-encrypted/) }),
    );
  });
});
