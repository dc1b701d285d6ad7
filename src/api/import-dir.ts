import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../lib/errors.js';

export interface ImportPlace {
  /** What the caller named: the request field, in every message. */
  field: 'dump' | 'archive';
  /** Where a name may be found, searched in order, each with the words messages use for it. */
  dirs: Array<{ dir: string; label: string }>;
}

function refuse(place: ImportPlace, name: string, why: string): RestoreError {
  const where = place.dirs.map((d) => d.label).join(' or the ');
  return new RestoreError('RESTORE_ERR_REQUEST_INVALID', `${place.field} "${name.slice(0, 255)}" ${why}; give the name of a file inside the ${where}`, {
    field: place.field,
  });
}

/** The file inside one directory, or undefined when it is not there; refused when it leads out. */
async function inside(dir: string, name: string, place: ImportPlace): Promise<string | undefined> {
  let root: string;
  try {
    root = await fs.realpath(dir);
  } catch {
    return undefined;
  }
  let real: string;
  try {
    real = await fs.realpath(path.join(root, name));
  } catch {
    return undefined;
  }
  if (!real.startsWith(root + path.sep)) throw refuse(place, name, `leads out of the ${place.dirs.find((d) => d.dir === dir)?.label ?? 'directory'}`);
  const st = await fs.stat(real);
  if (!st.isFile()) throw refuse(place, name, 'is not a regular file');
  return real;
}

/**
 * A file named over the API is a file name inside the directories the agent serves from, nothing
 * else: no absolute path, no "..", and no link (or a link inside) that leads out of them. The
 * caller cannot make the agent read an arbitrary file of the host.
 */
export async function resolveImport(place: ImportPlace, name: string): Promise<string> {
  if (name === '' || name.includes('\0')) throw refuse(place, name, 'is empty or has a NUL');
  if (path.isAbsolute(name)) throw refuse(place, name, 'is an absolute path');
  if (name.split(/[\\/]/).includes('..')) throw refuse(place, name, 'contains ".."');
  for (const { dir } of place.dirs) {
    const found = await inside(dir, name, place);
    if (found) return found;
  }
  const existing = await Promise.all(
    place.dirs.map((d) =>
      fs.realpath(d.dir).then(
        () => true,
        () => false,
      ),
    ),
  );
  if (!existing.some(Boolean)) {
    const first = place.dirs[0]!;
    throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', `the ${first.label} ${first.dir} does not exist; put the ${place.field} there first`, {
      field: place.field,
    });
  }
  throw refuse(place, name, `does not exist in the ${place.dirs.map((d) => `${d.label} (${d.dir})`).join(' or the ')}`);
}
