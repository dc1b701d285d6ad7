import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { InventoryLineError } from './ini-inventory.js';
import type { Vars } from './model.js';
import { YAML_OPTIONS } from './yaml-inventory.js';

const EXTENSIONS = ['.yml', '.yaml', '.json'];
const MAX_BYTES = 16 * 1024 * 1024;

export class VarsFileError extends InventoryLineError {
  constructor(
    readonly file: string,
    line: number,
    message: string,
  ) {
    super(line, message);
  }
}

/** Ansible's DataLoader._get_dir_vars_files: sorted, recursive, no hidden or backup files. */
function dirFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.') || name.endsWith('~')) continue;
    const full = path.join(dir, name);
    const ext = path.extname(name);
    const st = statSync(full);
    if (st.isDirectory() && !ext) out.push(...dirFiles(full));
    else if (st.isFile() && (!ext || EXTENSIONS.includes(ext))) out.push(full);
  }
  return out;
}

/** Ansible's DataLoader.find_vars_files: NAME (a file, or a directory of files), else NAME.yml/.yaml/.json. */
function varsFiles(dir: string, name: string): string[] {
  for (const ext of ['', ...EXTENSIONS]) {
    const p = path.join(dir, `${name}${ext}`);
    if (!existsSync(p)) continue;
    return statSync(p).isDirectory() ? dirFiles(p) : [p];
  }
  return [];
}

function loadVarsFile(file: string): Vars {
  if (statSync(file).size > MAX_BYTES) throw new VarsFileError(file, 1, `is larger than ${MAX_BYTES} bytes`);
  const text = readFileSync(file, 'utf8');
  if (text.startsWith('$ANSIBLE_VAULT'))
    throw new VarsFileError(file, 1, 'is vault-encrypted; this client cannot decrypt it (keep the restore_* variables in a plain file)');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { ...YAML_OPTIONS, lineCounter });
  const first = doc.errors[0];
  if (first) throw new VarsFileError(file, lineCounter.linePos(first.pos[0]).line, `not valid YAML: ${first.message.split('\n')[0]}`);
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new VarsFileError(file, 1, 'a variables file must be a mapping of names to values');
  return value as Vars;
}

/**
 * The variables Ansible's host_group_vars plugin adds from group_vars/ and host_vars/ beside the
 * inventory file, file by file in Ansible's order (a later file replaces a name set earlier).
 */
export function readVarsDirs(inventoryDir: string, groups: string[], hosts: string[]): { groupVars: Map<string, Vars>; hostVars: Map<string, Vars> } {
  const read = (sub: string, names: string[]) => {
    const out = new Map<string, Vars>();
    const dir = path.join(inventoryDir, sub);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) return out;
    for (const name of names) {
      if (name.startsWith('/')) continue;
      const files = varsFiles(dir, name);
      if (files.length) out.set(name, Object.assign({}, ...files.map(loadVarsFile)) as Vars);
    }
    return out;
  };
  return { groupVars: read('group_vars', groups), hostVars: read('host_vars', hosts) };
}
