import type { InventoryValue } from './literal.js';

/**
 * An Ansible inventory after parsing, built the way Ansible's InventoryData builds it: groups
 * and hosts in the order they were first seen, `all` and `ungrouped` always present, groups
 * without a parent under `all`, hosts in no group in `ungrouped`. Host order and variable
 * precedence follow Ansible, because --limit and --list-hosts must select the same hosts in the
 * same order as Ansible does on the same file.
 */
export type Vars = Record<string, InventoryValue>;

export interface Group {
  name: string;
  hosts: Host[];
  children: Group[];
  parents: Group[];
  vars: Vars;
  /** ansible_group_priority: breaks ties between groups of the same depth (default 1). */
  priority: number;
}

export interface Host {
  name: string;
  /** The groups the host was put in directly. */
  groups: Group[];
  vars: Vars;
}

export class InventoryBuildError extends Error {}

export class Inventory {
  readonly groups = new Map<string, Group>();
  readonly hosts = new Map<string, Host>();
  /** From group_vars/ and host_vars/ beside the inventory file (Ansible's host_group_vars plugin). */
  readonly dirGroupVars = new Map<string, Vars>();
  readonly dirHostVars = new Map<string, Vars>();
  private hostsOfGroup = new Map<Group, Host[]>();

  constructor() {
    this.addGroup('all');
    this.addGroup('ungrouped');
    this.addChild('all', 'ungrouped');
  }

  addGroup(name: string): Group {
    let g = this.groups.get(name);
    if (!g) {
      g = { name, hosts: [], children: [], parents: [], vars: {}, priority: 1 };
      this.groups.set(name, g);
    }
    return g;
  }

  group(name: string): Group {
    const g = this.groups.get(name);
    if (!g) throw new InventoryBuildError(`${name} is not a known group`);
    return g;
  }

  addHost(name: string, groupName: string, port?: number): Host {
    if (!name) throw new InventoryBuildError('a host with an empty name');
    const group = this.group(groupName);
    let h = this.hosts.get(name);
    if (!h) {
      h = { name, groups: [], vars: {} };
      this.hosts.set(name, h);
      if (port !== undefined) h.vars.ansible_port = port;
    }
    if (!group.hosts.includes(h)) {
      group.hosts.push(h);
      h.groups.push(group);
    }
    this.hostsOfGroup.clear();
    return h;
  }

  /** Ansible's add_child_group: refuses a group under itself or under one of its descendants. */
  addChild(parentName: string, childName: string): void {
    const parent = this.group(parentName);
    const child = this.group(childName);
    if (parent === child) throw new InventoryBuildError(`group ${parent.name} cannot be a child of itself`);
    if (parent.children.includes(child)) return;
    if (this.ancestors(parent).has(child)) {
      throw new InventoryBuildError(`adding group ${child.name} as a child of ${parent.name} creates a loop`);
    }
    parent.children.push(child);
    if (!child.parents.includes(parent)) child.parents.push(parent);
    this.hostsOfGroup.clear();
  }

  setGroupVar(groupName: string, key: string, value: InventoryValue): void {
    const g = this.group(groupName);
    if (key === 'ansible_group_priority') {
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isInteger(n)) throw new InventoryBuildError(`ansible_group_priority of ${g.name} must be a whole number`);
      g.priority = n;
    } else g.vars[key] = value;
  }

  setHostVar(hostName: string, key: string, value: InventoryValue): void {
    const h = this.hosts.get(hostName);
    if (!h) throw new InventoryBuildError(`${hostName} is not a known host`);
    h.vars[key] = value;
  }

  /** Ansible's reconcile_inventory: parentless groups under all, groupless hosts in ungrouped. */
  reconcile(): this {
    const all = this.group('all');
    const ungrouped = this.group('ungrouped');
    for (const g of this.groups.values()) if (g !== all && g.parents.length === 0) this.addChild('all', g.name);
    for (const h of this.hosts.values()) {
      const mine = this.groupsOf(h);
      if (mine.has(ungrouped)) {
        if ([...mine].some((g) => g !== all && g !== ungrouped)) {
          ungrouped.hosts = ungrouped.hosts.filter((x) => x !== h);
          h.groups = h.groups.filter((g) => g !== ungrouped);
        }
      } else if ([...mine].every((g) => g === all)) {
        this.addHost(h.name, 'ungrouped');
      }
    }
    this.hostsOfGroup.clear();
    return this;
  }

  ancestors(g: Group): Set<Group> {
    const seen = new Set<Group>();
    const todo = [...g.parents];
    while (todo.length) {
      const p = todo.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      todo.push(...p.parents);
    }
    return seen;
  }

  /** Every group a host belongs to, its direct groups and all their ancestors. */
  groupsOf(h: Host): Set<Group> {
    const out = new Set<Group>();
    for (const g of h.groups) {
      out.add(g);
      for (const a of this.ancestors(g)) out.add(a);
    }
    return out;
  }

  /**
   * Hosts of a group and its descendants in Ansible's order: the group's own hosts, then level by
   * level down the child groups (Group._walk_relationship with preserve_ordering). Ansible walks
   * each level from a Python set, so where several groups of one level have children its order
   * there is not defined; here it is the order the groups were declared in.
   */
  hostsOf(g: Group): Host[] {
    const cached = this.hostsOfGroup.get(g);
    if (cached) return cached;
    const ordered: Group[] = [g, ...g.children];
    const seen = new Set<Group>([g, ...g.children]);
    let level: Group[] = [...g.children];
    while (level.length) {
      const next: Group[] = [];
      for (const item of level.flatMap((x) => x.children)) {
        if (seen.has(item)) continue;
        seen.add(item);
        ordered.push(item);
        next.push(item);
      }
      level = next;
    }
    const hosts: Host[] = [];
    const have = new Set<Host>();
    for (const kid of ordered) {
      for (const h of kid.hosts) {
        if (have.has(h)) continue;
        have.add(h);
        hosts.push(h);
      }
    }
    this.hostsOfGroup.set(g, hosts);
    return hosts;
  }

  /** Longest path from all, as Ansible's group depth. */
  depth(g: Group, memo = new Map<Group, number>()): number {
    const known = memo.get(g);
    if (known !== undefined) return known;
    const d = g.parents.length === 0 ? 0 : Math.max(...g.parents.map((p) => this.depth(p, memo) + 1));
    memo.set(g, d);
    return d;
  }

  /**
   * A host's variables with Ansible's precedence (VARIABLE_PRECEDENCE's default): the inventory
   * file's vars of all, then of every other group the host belongs to sorted by (depth,
   * priority, name), so a child group overrides its parent; then group_vars/all, then
   * group_vars/<group> in the same order; then the host's own vars in the file, then
   * host_vars/<host>. Values replace, they do not merge (Ansible's default hash_behaviour).
   */
  varsOf(h: Host): Vars {
    const memo = new Map<Group, number>();
    const sorted = [...this.groupsOf(h)]
      .filter((g) => g.name !== 'all')
      .sort((a, b) => this.depth(a, memo) - this.depth(b, memo) || a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const all = this.group('all');
    const out: Vars = { ...all.vars };
    for (const g of sorted) Object.assign(out, g.vars);
    Object.assign(out, this.dirGroupVars.get('all'));
    for (const g of sorted) Object.assign(out, this.dirGroupVars.get(g.name));
    Object.assign(out, h.vars, this.dirHostVars.get(h.name));
    return out;
  }
}
