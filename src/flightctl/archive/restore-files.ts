import { createReadStream, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import { RestoreError } from '../../lib/errors.js';
import { ENTRY } from './format.js';
import type { Extracted } from './reader.js';

/**
 * Flight Control's files restored from an extracted archive into its configuration directory
 * (FLIGHTCTL.md §2). Each one can run again after an interruption and ends in the same state:
 * the finalizers of an interrupted run simply run them again.
 */

async function files(dir: string, rel = ''): Promise<{ rel: string; isDir: boolean }[]> {
  const out: { rel: string; isDir: boolean }[] = [];
  for (const e of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push({ rel: r, isDir: true }, ...(await files(dir, r)));
    else if (e.isFile()) out.push({ rel: r, isDir: false });
  }
  return out;
}

/** Streamed: a file is never held in memory whole, whatever its size. */
async function copyFile(src: string, dst: string, mode: number): Promise<void> {
  await writeFileAtomic(dst, createReadStream(src), mode);
  await fs.chmod(dst, mode);
}

/** A file of the archive may replace a file, never a directory or a symlink (a link would be followed). */
async function refuseToReplace(to: string): Promise<Stats | undefined> {
  const existing = await fs.lstat(to).catch(() => undefined);
  if (existing?.isSymbolicLink() || existing?.isDirectory())
    throw new RestoreError(
      'RESTORE_ERR_ARCHIVE_INVALID',
      `${to} is a ${existing.isDirectory() ? 'directory' : 'symlink'} where the archive has a file; not overwritten`,
    );
  return existing;
}

const EMPTY_ENCRYPTION = 'the archive has an empty encryption/ directory; refusing to replace the live keys with nothing';

/**
 * Where the file steps will write, verified before anything is changed (they run past the point
 * of no return, where a refusal can no longer keep the host as it was): no pki/ file lands on a
 * directory or a symlink, and an encryption/ directory holds keys. Sizes, entry types and the
 * files' content were checked at extraction (file-checks.ts).
 */
export async function verifyArchiveFiles(entries: Extracted['entries'], etcDir: string): Promise<void> {
  for (const [name, e] of entries) {
    if (name !== ENTRY.pki && !name.startsWith(`${ENTRY.pki}/`)) continue;
    const to = path.join(etcDir, name);
    if (e.type === 'file') await refuseToReplace(to);
    // Followed, as the overlay's mkdir follows it: a directory may be a link to one.
    else if ((await fs.stat(to).catch(() => undefined))?.isDirectory() === false)
      throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${to} is not a directory where the archive has one; not overwritten`);
  }
  if (entries.get(ENTRY.encryption)?.type === 'directory' && ![...entries].some(([n, e]) => n.startsWith(`${ENTRY.encryption}/`) && e.type === 'file'))
    throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', EMPTY_ENCRYPTION);
}

/**
 * pki/ onto <etc>/pki as an overlay: the archive's files replace theirs, files the archive does
 * not have stay. Private keys keep owner-only access; a file already there keeps its mode.
 */
export async function overlayPki(extracted: string, dest: string): Promise<number> {
  const src = path.join(extracted, 'pki');
  if (!(await fs.stat(src).catch(() => undefined))?.isDirectory()) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', 'the archive has no pki/ directory');
  await fs.mkdir(dest, { recursive: true, mode: 0o700 });
  let n = 0;
  for (const f of await files(src)) {
    const to = path.join(dest, f.rel);
    if (f.isDir) {
      await fs.mkdir(to, { recursive: true, mode: 0o700 });
      continue;
    }
    const existing = await refuseToReplace(to);
    const mode = existing ? existing.mode & 0o777 : /\.(key|pem)$/.test(f.rel) ? 0o600 : 0o644;
    await copyFile(path.join(src, f.rel), to, mode);
    n++;
  }
  return n;
}

/**
 * encryption/ replaces <etc>/encryption as a whole: staged beside it, then swapped with two
 * renames; a failure puts the old keys back. An empty encryption/ in the archive is refused:
 * replacing keys with nothing would make every encrypted field unreadable. Leftovers of an
 * interrupted swap (keys moved aside, a half-staged copy) are settled first.
 */
export async function replaceEncryption(extracted: string, dest: string, tag: string): Promise<number | undefined> {
  const src = path.join(extracted, 'encryption');
  if (!(await fs.stat(src).catch(() => undefined))?.isDirectory()) return undefined;
  const list = (await files(src)).filter((f) => !f.isDir);
  if (list.length === 0) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', EMPTY_ENCRYPTION);
  const staged = `${path.dirname(dest)}/.${path.basename(dest)}.restore-${tag}`;
  const old = `${path.dirname(dest)}/.${path.basename(dest)}.old-${tag}`;
  if (!(await fs.stat(dest).catch(() => undefined)) && (await fs.stat(old).catch(() => undefined))) await fs.rename(old, dest);
  await fs.rm(staged, { recursive: true, force: true });
  await fs.mkdir(staged, { mode: 0o700 });
  for (const f of await files(src)) {
    if (f.isDir) await fs.mkdir(path.join(staged, f.rel), { recursive: true, mode: 0o700 });
    else await copyFile(path.join(src, f.rel), path.join(staged, f.rel), 0o600);
  }
  const had = !!(await fs.stat(dest).catch(() => undefined));
  await fs.rm(old, { recursive: true, force: true });
  if (had) await fs.rename(dest, old);
  try {
    await fs.rename(staged, dest);
  } catch (err) {
    if (had) await fs.rename(old, dest);
    throw err;
  }
  await fs.rm(old, { recursive: true, force: true });
  return list.length;
}

/** config/service-config.yaml written in place atomically (the existing file's mode kept). */
export async function writeServiceConfig(extracted: string, dest: string): Promise<void> {
  const src = path.join(extracted, 'config', 'service-config.yaml');
  const st = await fs.stat(src).catch(() => undefined);
  if (!st?.isFile()) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', 'the archive has no config/service-config.yaml');
  const existing = await fs.stat(dest).catch(() => undefined);
  await fs.mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
  await copyFile(src, dest, existing ? existing.mode & 0o777 : 0o600);
}
