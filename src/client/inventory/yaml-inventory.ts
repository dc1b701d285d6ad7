import { isMap, isScalar, LineCounter, parseDocument, type Node, type Pair, type Tags, type YAMLMap } from 'yaml';
import { expandHostEntry, HostPatternError } from './host-expand.js';
import type { InventoryValue } from './literal.js';
import { Inventory, InventoryBuildError } from './model.js';
import { InventoryLineError } from './ini-inventory.js';

/**
 * Ansible's YAML inventory (the yaml plugin): top-level keys are groups, each with optional
 * `hosts`, `vars` and `children`. Parsed with the `yaml` package as YAML 1.1 (what Ansible's
 * PyYAML reads: yes/no are booleans), walking the document's nodes so every error names its line.
 * Keys Ansible skips with a warning are collected in `warnings`.
 */
export interface YamlInventory {
  inventory: Inventory;
  warnings: Array<{ line: number; message: string }>;
}

type AnyNode = Node | null | undefined;

/**
 * YAML as Ansible's loader reads it: YAML 1.1 (yes/no are booleans), merge keys, a repeated key
 * replacing the earlier one. An inline `!vault` value stays recognisable and is refused where the
 * client would use it (it cannot decrypt it), instead of being read as its ciphertext.
 */
export const VAULTED = '\u0000vault-encrypted';
const BOOL = 'tag:yaml.org,2002:bool';
// PyYAML's YAML 1.1 booleans: yes/no/true/false/on/off; not y/n, which the yaml package adds.
const pyBool = (value: boolean, test: RegExp) => ({ identify: (v: unknown) => v === value, default: true, tag: BOOL, test, resolve: () => value });
export const YAML_OPTIONS = {
  version: '1.1' as const,
  uniqueKeys: false,
  merge: true,
  prettyErrors: false,
  customTags: (tags: Tags): Tags => [
    pyBool(true, /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/),
    pyBool(false, /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/),
    ...tags.filter((t) => typeof t === 'string' || t.tag !== BOOL),
    { tag: '!vault', resolve: () => VAULTED },
  ],
};

export function parseYamlInventory(text: string): YamlInventory {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...YAML_OPTIONS, lineCounter });
  const lineOf = (node: AnyNode | Pair): number => {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as Node | null)?.range : undefined;
    return range ? lineCounter.linePos(range[0]).line : 1;
  };
  const first = doc.errors[0];
  if (first) throw new InventoryLineError(lineCounter.linePos(first.pos[0]).line, `not valid YAML: ${first.message.split('\n')[0]}`);
  const top = doc.contents as AnyNode;
  if (top === null || top === undefined || (isScalar(top) && (top.value === null || top.value === '')))
    throw new InventoryLineError(1, 'the YAML inventory is empty');
  if (!isMap(top)) throw new InventoryLineError(lineOf(top), 'a YAML inventory is a mapping of group names (all:, web:, ...) at the top level');
  if (top.items.some((p) => isScalar(p.key) && p.key.value === 'plugin')) {
    throw new InventoryLineError(1, 'this is an inventory plugin configuration, not an inventory; give the inventory itself');
  }
  const inv = new Inventory();
  const warnings: YamlInventory['warnings'] = [];
  const toJs = (node: AnyNode): InventoryValue => (node ? (node.toJS(doc) as InventoryValue) : null);
  const keyText = (pair: Pair, what: string): string => {
    const k = pair.key as AnyNode;
    if (!isScalar(k) || typeof k.value !== 'string' || k.value === '') {
      throw new InventoryLineError(lineOf(pair), `${what} ${isScalar(k) ? String(k.value) : '?'} must be a string; quote it`);
    }
    return k.value;
  };
  const isNull = (n: AnyNode) => n === null || n === undefined || (isScalar(n) && n.value === null);

  /** A section given as one string is a mapping with that one key (as Ansible converts it). */
  const entries = (node: AnyNode): Array<{ key: string; line: number; value: AnyNode; pair?: Pair }> | undefined => {
    if (isScalar(node) && typeof node.value === 'string') return [{ key: node.value, line: lineOf(node), value: null }];
    if (isMap(node)) return (node as YAMLMap<Node, Node>).items.map((p) => ({ key: '', line: lineOf(p), value: p.value as AnyNode, pair: p as Pair }));
    return undefined;
  };

  const parseGroup = (name: string, node: AnyNode, line: number): string | undefined => {
    if (!isNull(node) && !isMap(node)) {
      warnings.push({ line, message: `skipping ${name}: not a valid group definition (a group is a mapping with hosts, vars, children)` });
      return undefined;
    }
    inv.addGroup(name);
    if (isNull(node)) return name;
    const map = node as YAMLMap<Node, Node>;
    for (const pair of map.items) {
      const section = isScalar(pair.key) ? String(pair.key.value) : '?';
      const value = pair.value as AnyNode;
      const list = ['vars', 'children', 'hosts'].includes(section) ? entries(value) : undefined;
      if (['vars', 'children', 'hosts'].includes(section) && !isNull(value) && !list) {
        throw new InventoryLineError(lineOf(pair), `"${section}" of group ${name} must be a mapping`);
      }
      if (!['vars', 'children', 'hosts'].includes(section)) {
        warnings.push({ line: lineOf(pair), message: `skipping unexpected key ${section} in group ${name}: only hosts, vars and children are valid` });
        continue;
      }
      if (!list) continue;
      for (const e of list) {
        const key = e.pair ? keyText(e.pair, section === 'hosts' ? 'host' : section === 'vars' ? 'variable name' : 'group name') : e.key;
        try {
          if (section === 'vars') inv.setGroupVar(name, key, toJs(e.value));
          else if (section === 'children') {
            const child = parseGroup(key, e.value, e.line);
            if (child === undefined) throw new InventoryLineError(e.line, `child group ${key} of ${name} is not a valid group definition`);
            inv.addChild(name, child);
          } else {
            if (!isNull(e.value) && !isMap(e.value)) throw new InventoryLineError(e.line, `the variables of host ${key} must be a mapping`);
            const { names, port } = expandHostEntry(key);
            const hostVars = isMap(e.value)
              ? (e.value as YAMLMap<Node, Node>).items.map((p) => [keyText(p as Pair, 'variable name'), toJs(p.value as AnyNode)] as const)
              : [];
            for (const n of names) {
              inv.addHost(n, name, port);
              for (const [k, v] of hostVars) inv.setHostVar(n, k, v);
            }
          }
        } catch (err) {
          if (err instanceof HostPatternError || err instanceof InventoryBuildError) throw new InventoryLineError(e.line, err.message);
          throw err;
        }
      }
    }
    return name;
  };

  for (const pair of (top as YAMLMap<Node, Node>).items) parseGroup(keyText(pair as Pair, 'group name'), pair.value as AnyNode, lineOf(pair as Pair));
  return { inventory: inv.reconcile(), warnings };
}
