import { readFileSync } from 'node:fs';
import { RestoreError } from '../../lib/errors.js';
import { parseAddress } from './host-expand.js';
import type { Host, Inventory } from './model.js';

/**
 * Ansible's host patterns, as `--limit` reads them (InventoryManager): `web,db`, `web:&prod`,
 * `all:!canary`, globs `web*`, regexes `~web\d+`, subscripts `web[0]`, `web[0:2]`, `web[-1]`,
 * and `@file` with one pattern per line. Ported from Ansible 2.14 step by step, quirks included
 * (a plain host name is taken as is; a subscript applies to the list before duplicates are
 * removed), so that the same pattern selects the same hosts as `ansible --limit`.
 */
const LOCALHOST = ['127.0.0.1', 'localhost', '::1'];
const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/s;

function invalidPattern(message: string): RestoreError {
  return new RestoreError('RESTORE_ERR_INVENTORY_INVALID', message);
}

/** Ansible's split_host_pattern: commas; else one address (IPv6, host:port); else colons outside brackets. */
export function splitHostPattern(pattern: string): string[] {
  let parts: string[];
  if (pattern.includes(',')) parts = pattern.split(',');
  else if (parseAddress(pattern)) parts = [pattern];
  else parts = pattern.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? [];
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** Plain patterns first, then the &intersections, then the !exclusions; all when only the latter. */
export function orderPatterns(patterns: string[]): string[] {
  const regular = patterns.filter((p) => p && p[0] !== '!' && p[0] !== '&');
  const and = patterns.filter((p) => p[0] === '&');
  const not = patterns.filter((p) => p[0] === '!');
  return [...(regular.length ? regular : ['all']), ...and, ...not];
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/-]/g;

/** Python's fnmatch.translate for *, ?, [seq] and [!seq], matched against the whole name. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (!re.endsWith('.*')) re += '.*';
    } else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '!') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) {
        re += '\\[';
        continue;
      }
      let stuff = glob.slice(i + 1, j).replace(/\\/g, '\\\\');
      i = j;
      if (!stuff) re += '(?!)';
      else if (stuff === '!') re += '.';
      else {
        if (stuff[0] === '!') stuff = `^${stuff.slice(1)}`;
        else if (stuff[0] === '^' || stuff[0] === '[') stuff = `\\${stuff}`;
        re += `[${stuff.replace(/]/g, '\\]')}]`;
      }
    } else re += c.replace(REGEX_SPECIAL, '\\$&');
  }
  return new RegExp(`^(?:${re})$`, 's');
}

/** A glob, or a regex after `~` matched from the start of the name (Python's re.match). */
function matcher(pattern: string): (name: string) => boolean {
  if (pattern[0] !== '~') {
    const re = globToRegExp(pattern);
    return (name) => re.test(name);
  }
  let re: RegExp;
  try {
    re = new RegExp(pattern.slice(1), 'y');
  } catch (err) {
    throw invalidPattern(`invalid regular expression in host pattern ${pattern}: ${(err as Error).message}`);
  }
  return (name) => {
    re.lastIndex = 0;
    return re.test(name);
  };
}

export class HostSelector {
  private cache = new Map<string, Host[]>();
  private implicit = new Map<string, Host>();
  /** Patterns that matched neither a group nor a host (Ansible warns about them). */
  readonly unmatched: string[] = [];

  constructor(private readonly inv: Inventory) {}

  /**
   * The hosts `ansible all --limit LIMIT` targets, in Ansible's order: the order of `all`
   * (Inventory.hostsOf: all's hosts, level by level down its groups) less the hosts the limit
   * leaves out, whatever the order within the limit. This one order is what --list-hosts prints
   * and what --serial batches and --forks starts follow, because it is the order ansible-playbook
   * runs a `hosts: all` play with --limit in (the collection's restore playbook). It is not
   * always the order of `ansible LIMIT`, which walks the limit's own groups: for a group below
   * another one, its hosts that a group nearer `all` also holds come first here (ansible-core
   * 2.14 InventoryManager.get_hosts, and the integration tests against it).
   */
  select(limit?: string): Host[] {
    let hosts = this.evaluate(['all']);
    if (limit !== undefined) {
      const subset = new Set(this.evaluate(expandLimitFiles(splitHostPattern(limit))));
      hosts = hosts.filter((h) => subset.has(h));
    }
    return [...new Set(hosts)];
  }

  /** InventoryManager._evaluate_patterns. */
  evaluate(patterns: string[]): Host[] {
    let hosts: Host[] = [];
    for (const p of orderPatterns(patterns)) {
      const plain = this.inv.hosts.get(p);
      if (plain) {
        hosts.push(plain);
        continue;
      }
      const that = this.matchOne(p);
      if (p[0] === '!') {
        const s = new Set(that);
        hosts = hosts.filter((h) => !s.has(h));
      } else if (p[0] === '&') {
        const s = new Set(that);
        hosts = hosts.filter((h) => s.has(h));
      } else {
        const existing = new Set(hosts.map((h) => h.name));
        hosts.push(...that.filter((h) => !existing.has(h.name)));
      }
    }
    return hosts;
  }

  private matchOne(pattern: string): Host[] {
    const p = pattern[0] === '&' || pattern[0] === '!' ? pattern.slice(1) : pattern;
    const cached = this.cache.get(p);
    if (cached) return cached;
    const [expr, sub] = splitSubscript(p);
    const hosts = applySubscript(this.enumerate(expr), sub, p);
    this.cache.set(p, hosts);
    return hosts;
  }

  private enumerate(pattern: string): Host[] {
    if (!pattern) return [];
    const match = matcher(pattern);
    const results: Host[] = [];
    const groups = [...this.inv.groups.values()].filter((g) => match(g.name));
    for (const g of groups) results.push(...this.inv.hostsOf(g));
    if (!groups.length || pattern[0] === '~' || /[.?*[]/.test(pattern)) {
      for (const h of this.inv.hosts.values()) if (match(h.name)) results.push(h);
    }
    if (!results.length && LOCALHOST.includes(pattern)) results.push(this.localhost(pattern));
    if (!results.length && !groups.length && pattern !== 'all') this.unmatched.push(pattern);
    return results;
  }

  /** Ansible's implicit localhost: the inventory's first localhost-like host, else a new one outside all. */
  private localhost(name: string): Host {
    for (const h of this.inv.hosts.values()) if (LOCALHOST.includes(h.name)) return h;
    let h = this.implicit.get('localhost');
    if (!h) this.implicit.set('localhost', (h = { name, groups: [], vars: {} }));
    return h;
  }
}

function splitSubscript(pattern: string): [string, [number, number | undefined] | undefined] {
  if (pattern[0] === '~') return [pattern, undefined];
  const m = SUBSCRIPT.exec(pattern);
  if (!m) return [pattern, undefined];
  if (m[2] !== undefined) return [m[1]!, [Number(m[2]), undefined]];
  return [m[1]!, [Number(m[3]), m[5] ? Number(m[5]) : -1]];
}

function applySubscript(hosts: Host[], sub: [number, number | undefined] | undefined, pattern: string): Host[] {
  if (!hosts.length || !sub) return hosts;
  const [start, end] = sub;
  if (end) return hosts.slice(start, (end === -1 ? hosts.length - 1 : end) + 1);
  const i = start < 0 ? hosts.length + start : start;
  if (i < 0 || i >= hosts.length) throw invalidPattern(`no hosts matched the subscripted pattern ${pattern} (it has ${hosts.length})`);
  return [hosts[i]!];
}

/** `@file`: more patterns, one a line (Ansible's retry files). */
function expandLimitFiles(patterns: string[]): string[] {
  return patterns.flatMap((p) => {
    if (p[0] !== '@') return [p];
    try {
      return readFileSync(p.slice(1), 'utf8')
        .split('\n')
        .map((l) => l.trim());
    } catch (err) {
      throw invalidPattern(`cannot read the limit file ${p.slice(1)} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  });
}
