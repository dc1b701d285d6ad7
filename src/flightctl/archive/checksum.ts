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

/**
 * A sidecar is one line: a digest, two spaces and a file name. Anything larger is refused by its
 * size, before a byte of it is read (a sidecar of many MB would otherwise be read whole), and at
 * most this much is ever read, should it grow in between.
 */
const MAX_SIDECAR_BYTES = 512;

async function readSidecar(archive: string, sidecar: string): Promise<string> {
  const name = path.basename(sidecar);
  // Looked at before it is opened: opening a FIFO would wait for a writer.
  const st = await fs.stat(sidecar);
  if (!st.isFile()) throw mismatch(archive, `${name} is not a regular file`);
  if (st.size > MAX_SIDECAR_BYTES)
    throw mismatch(archive, `${name} is ${st.size} bytes, more than the ${MAX_SIDECAR_BYTES} of a checksum file (one line: the digest and the file name)`);
  const handle = await fs.open(sidecar, 'r');
  try {
    const buf = Buffer.alloc(MAX_SIDECAR_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_SIDECAR_BYTES) throw mismatch(archive, `${name} grew past ${MAX_SIDECAR_BYTES} bytes while it was read`);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
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
    text = await readSidecar(archive, sidecar);
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
