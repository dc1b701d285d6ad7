import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../../lib/errors.js';
import { InventoryLineError, parseIniInventory } from './ini-inventory.js';
import type { Inventory } from './model.js';
import { readVarsDirs, VarsFileError } from './vars-dirs.js';
import { parseYamlInventory } from './yaml-inventory.js';

export interface LoadedInventory {
  file: string;
  format: 'ini' | 'yaml';
  inventory: Inventory;
  warnings: string[];
}

const YAML_EXT = new Set(['.yml', '.yaml', '.json']);
/** Inventories are small text files; a bound keeps a wrong path (a disk image...) from being read. */
const MAX_BYTES = 16 * 1024 * 1024;

function invalid(file: string, message: string, line?: number): RestoreError {
  return new RestoreError('RESTORE_ERR_INVENTORY_INVALID', `inventory ${file}${line ? ` line ${line}` : ''}: ${message}`, { file, ...(line ? { line } : {}) });
}

/**
 * Reads an Ansible inventory file. The format is chosen the way Ansible's plugins take turns:
 * .yml/.yaml/.json is YAML; a file without an extension is YAML when it reads as a YAML mapping,
 * else INI; anything else is INI. The file is only read, never executed (Ansible runs executable
 * files as inventory scripts; this client does not). group_vars/ and host_vars/ beside the file
 * are read as Ansible's host_group_vars plugin reads them.
 */
export function loadInventory(file: string): LoadedInventory {
  let text: string;
  try {
    const st = statSync(file);
    if (st.isDirectory()) throw invalid(file, 'is a directory; give one inventory file');
    if (st.size > MAX_BYTES) throw invalid(file, `is larger than ${MAX_BYTES} bytes; is it an inventory?`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof RestoreError) throw err;
    throw invalid(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const ext = path.extname(file).toLowerCase();
  const asYaml = () => {
    const y = parseYamlInventory(text);
    return { file, format: 'yaml' as const, inventory: y.inventory, warnings: y.warnings.map((w) => `inventory ${file} line ${w.line}: ${w.message}`) };
  };
  const asIni = () => ({ file, format: 'ini' as const, inventory: parseIniInventory(text), warnings: [] });
  let loaded: LoadedInventory;
  try {
    if (YAML_EXT.has(ext)) loaded = asYaml();
    else if (ext === '') {
      try {
        loaded = asYaml();
      } catch {
        loaded = asIni();
      }
    } else loaded = asIni();
  } catch (err) {
    if (err instanceof InventoryLineError) throw invalid(file, err.message, err.line);
    throw err;
  }
  const inv = loaded.inventory;
  try {
    const dirs = readVarsDirs(path.dirname(path.resolve(file)), [...inv.groups.keys()], [...inv.hosts.keys()]);
    for (const [k, v] of dirs.groupVars) inv.dirGroupVars.set(k, v);
    for (const [k, v] of dirs.hostVars) inv.dirHostVars.set(k, v);
  } catch (err) {
    if (err instanceof VarsFileError) throw invalid(err.file, err.message, err.line);
    throw new RestoreError(
      'RESTORE_ERR_INVENTORY_INVALID',
      `the group_vars/host_vars beside ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return loaded;
}
