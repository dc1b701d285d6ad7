import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../lib/errors.js';

function refuse(name: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_REQUEST_INVALID', `dump "${name}" ${why}; give the name of a file inside the import directory`, { field: 'dump' });
}

/**
 * A dump named over the API is a file name inside the import directory, nothing else: no
 * absolute path, no "..", and no link (or a link inside) that leads out of it. The caller cannot
 * make the agent read an arbitrary file of the host.
 */
export async function resolveImport(importDir: string, name: string): Promise<string> {
  if (name === '' || name.includes('\0')) throw refuse(name, 'is empty or has a NUL');
  if (path.isAbsolute(name)) throw refuse(name, 'is an absolute path');
  if (name.split(/[\\/]/).includes('..')) throw refuse(name, 'contains ".."');
  let root: string;
  try {
    root = await fs.realpath(importDir);
  } catch {
    throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', `the import directory ${importDir} does not exist; put the dump there first`, { field: 'dump' });
  }
  let real: string;
  try {
    real = await fs.realpath(path.join(root, name));
  } catch {
    throw refuse(name, 'does not exist in the import directory');
  }
  if (!real.startsWith(root + path.sep)) throw refuse(name, 'leads out of the import directory');
  const st = await fs.stat(real);
  if (!st.isFile()) throw refuse(name, 'is not a regular file');
  return real;
}
