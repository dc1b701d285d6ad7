import { expandHostEntry, HostPatternError } from './host-expand.js';
import { parseIniValue } from './literal.js';
import { Inventory, InventoryBuildError } from './model.js';
import { ShlexError, shlexSplit } from './shlex.js';

/**
 * Ansible's INI inventory dialect, line by line as Ansible's own ini plugin reads it: host lines
 * (`name[:port] key=value ...`, shell quoting, ranges), `[group]`, `[group:children]` and
 * `[group:vars]` sections, `#` and `;` comment lines. It is not INI in the sense of the `ini`
 * package (no key=value pairs per line, words split like a shell), so it is parsed here; every
 * error names the file and line.
 */
export class InventoryLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

const SECTION = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$/;
const GROUP_NAME = /^([^:\]\s]+)\s*(?:#.*)?$/;

interface Pending {
  line: number;
  state: 'vars' | 'children';
  parents: string[];
}

export function parseIniInventory(text: string): Inventory {
  const inv = new Inventory();
  const pending = new Map<string, Pending>();
  let group = 'ungrouped';
  let state = 'hosts';
  const lines = text.split(/\r\n|\n|\r/);
  let lineno = 0;
  const fail = (msg: string): never => {
    throw new InventoryLineError(lineno, msg);
  };

  const addPendingChildren = (name: string) => {
    const p = pending.get(name)!;
    pending.delete(name);
    for (const parent of p.parents) {
      inv.addChild(parent, name);
      if (pending.get(parent)?.state === 'children') addPendingChildren(parent);
    }
  };

  for (const raw of lines) {
    lineno++;
    const line = raw.trim();
    if (!line || line[0] === '#' || line[0] === ';') continue;
    try {
      const m = SECTION.exec(line);
      if (m) {
        group = m[1]!;
        state = m[2] ?? 'hosts';
        if (!['hosts', 'children', 'vars'].includes(state))
          fail(`section [${m[1]}:${m[2]}] has an unknown type ${state}; use [name], [name:children] or [name:vars]`);
        if (!inv.groups.has(group)) {
          // [g:vars] may come before [g] or [parent:children] declares g; checked at the end.
          if (state === 'vars' && !pending.has(group)) pending.set(group, { line: lineno, state: 'vars', parents: [] });
          inv.addGroup(group);
        }
        const p = pending.get(group);
        if (p && state !== 'vars') {
          if (p.state === 'children') addPendingChildren(group);
          else pending.delete(group);
        }
        continue;
      }
      if (line.startsWith('[') && line.endsWith(']')) fail(`invalid section ${line}: a section is [name], [name:children] or [name:vars], without spaces`);
      if (state === 'hosts') {
        let tokens: string[];
        try {
          tokens = shlexSplit(line);
        } catch (err) {
          return fail(`cannot split the host line (${(err as ShlexError).message}): ${line}`);
        }
        if (tokens.length === 0) continue;
        const entry = tokens[0]!;
        const { names, port } = expandHostEntry(entry);
        if (entry.trim().endsWith(':') && port === undefined) fail(`host ${entry} ends in ":" without a port`);
        if (names.some((n) => n.trim() === '---')) fail(`host "---" looks like YAML: name the file .yml or .yaml`);
        const vars: Array<[string, ReturnType<typeof parseIniValue>]> = [];
        for (const t of tokens.slice(1)) {
          const eq = t.indexOf('=');
          if (eq < 0) fail(`expected key=value after the host name, got: ${t}`);
          vars.push([t.slice(0, eq), parseIniValue(t.slice(eq + 1))]);
        }
        for (const n of names) {
          inv.addHost(n, group, port);
          for (const [k, v] of vars) inv.setHostVar(n, k, v);
        }
      } else if (state === 'vars') {
        const eq = line.indexOf('=');
        if (eq < 0) fail(`expected key=value in [${group}:vars], got: ${line}`);
        inv.setGroupVar(group, line.slice(0, eq).trim(), parseIniValue(line.slice(eq + 1).trim()));
      } else {
        const c = GROUP_NAME.exec(line);
        if (!c) fail(`expected a group name in [${group}:children], got: ${line}`);
        const child = c![1]!;
        if (!inv.groups.has(child)) {
          const p = pending.get(child);
          if (p) p.parents.push(group);
          else pending.set(child, { line: lineno, state: 'children', parents: [group] });
        } else inv.addChild(group, child);
      }
    } catch (err) {
      if (err instanceof HostPatternError || err instanceof InventoryBuildError) throw new InventoryLineError(lineno, err.message);
      throw err;
    }
  }
  // Ansible reports the first unresolved reference only.
  for (const [name, p] of pending) {
    if (p.state === 'vars') throw new InventoryLineError(p.line, `section [${name}:vars] is for a group that is never declared: ${name}`);
    throw new InventoryLineError(p.line, `section [${p.parents.at(-1)}:children] names a group that is never declared: ${name}`);
  }
  return inv.reconcile();
}
