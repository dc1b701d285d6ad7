import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RestoreError } from '../../lib/errors.js';
import { sidecarLine } from './format.js';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

function mismatch(archive: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_CHECKSUM_MISMATCH', `${path.basename(archive)}: ${why}; nothing was restored`, { archive });
}

/**
 * The archive against its `<archive>.sha256` sidecar (sha256sum format; like Flight Control's own
 * restore, only the digest counts). A missing, unreadable or malformed sidecar is refused: an
 * archive nobody can vouch for is not restored.
 */
export async function verifySidecar(archive: string): Promise<string> {
  const sidecar = `${archive}.sha256`;
  let text: string;
  try {
    const st = await fs.stat(sidecar);
    if (!st.isFile()) throw mismatch(archive, `${path.basename(sidecar)} is not a regular file`);
    text = await fs.readFile(sidecar, 'utf8');
  } catch (err) {
    if (err instanceof RestoreError) throw err;
    throw mismatch(archive, `its checksum file ${path.basename(sidecar)} is missing or unreadable (${(err as NodeJS.ErrnoException).code})`);
  }
  const expected = text.trim().split(/\s+/)[0] ?? '';
  if (!/^[0-9a-fA-F]{64}$/.test(expected)) throw mismatch(archive, `${path.basename(sidecar)} does not hold a SHA-256 digest`);
  const actual = await sha256File(archive).catch((err: NodeJS.ErrnoException) => {
    throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${archive} cannot be read (${err.code})`, { archive });
  });
  if (actual !== expected.toLowerCase())
    throw mismatch(archive, `its SHA-256 is ${actual}, the checksum file says ${expected.toLowerCase()} (damaged or incomplete copy)`);
  return actual;
}

/** Writes the sidecar (mode 0644: a digest is no secret) durably. */
export async function writeSidecar(archive: string, digest: string, sidecarPath = `${archive}.sha256`): Promise<void> {
  const handle = await fs.open(sidecarPath, 'w', 0o644);
  try {
    await handle.writeFile(sidecarLine(digest, path.basename(archive)));
    await handle.chmod(0o644);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
