import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ARCHIVE_NAME } from '../../flightctl/archive/format.js';

export interface BackupEntry {
  name: string;
  bytes: number;
  /** From the name: flightctl-backup-20260521T143022Z.tar.gz -> 2026-05-21T14:30:22Z. */
  createdAt: string;
  /** The digest in the sidecar; undefined when there is none. */
  sha256?: string;
}

/** The archives in a directory, newest first (names sort by time). */
export async function listBackups(dir: string): Promise<BackupEntry[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: BackupEntry[] = [];
  for (const name of names
    .filter((n) => ARCHIVE_NAME.test(n))
    .sort()
    .reverse()) {
    const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
    if (!st?.isFile()) continue;
    const sidecar = await fs.readFile(path.join(dir, `${name}.sha256`), 'utf8').catch(() => '');
    const digest = sidecar.trim().split(/\s+/)[0];
    const t = name.slice('flightctl-backup-'.length, -'.tar.gz'.length);
    out.push({
      name,
      bytes: st.size,
      createdAt: `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`,
      ...(digest && /^[0-9a-f]{64}$/.test(digest) ? { sha256: digest } : {}),
    });
  }
  return out;
}

/** Keeps the newest `keep` archives; removes the others with their sidecars. Answers what it removed. */
export async function pruneBackups(dir: string, keep: number): Promise<string[]> {
  const removed: string[] = [];
  for (const b of (await listBackups(dir)).slice(keep)) {
    await fs.rm(path.join(dir, b.name), { force: true });
    await fs.rm(path.join(dir, `${b.name}.sha256`), { force: true });
    removed.push(b.name);
  }
  return removed;
}
