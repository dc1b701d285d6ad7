import { createReadStream, promises as fs, createWriteStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { RestoreError } from '../../lib/errors.js';

export interface ExtractLimits {
  /** Entries at most (a huge count is an attack on the file system, not a backup). */
  maxEntries: number;
  /** Bytes of all files together at most, as their headers declare them (a gzip bomb stops at its first header). */
  maxBytes: number;
}

export interface Extracted {
  dir: string;
  files: number;
  bytes: number;
}

function refuse(archive: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${path.basename(archive)} ${why}; nothing was restored`, { archive });
}

/**
 * An entry name a restore may write: relative, no "..", no empty or "." parts, no NUL. Names with
 * "./" in front, as some tar tools write them, are taken without it.
 */
export function safeEntryName(raw: string): string | undefined {
  const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (name === '' || name.includes('\0') || name.startsWith('/') || /^[A-Za-z]:/.test(name)) return undefined;
  const parts = name.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return name;
}

/**
 * Extracts a tar.gz into `dir` (created here, mode 0700), strictly: only regular files and
 * directories; an absolute name, "..", a symlink, a hard link, a device node, a FIFO, or an entry
 * over the limits rejects the whole archive (nothing is skipped or renamed). Files get mode 0600,
 * directories 0700, whatever the archive says, and are owned by us. On any failure `dir` is removed.
 */
export async function extractArchive(archive: string, dir: string, limits: ExtractLimits): Promise<Extracted> {
  await fs.mkdir(dir, { mode: 0o700 });
  let files = 0;
  let bytes = 0;
  let entries = 0;
  const seen = new Set<string>();
  const parser = new Parser({ strict: true });
  const pending: Promise<void>[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    parser.abort(err);
  };
  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return entry.resume();
    const name = safeEntryName(entry.path);
    entries++;
    if (entries > limits.maxEntries) return fail(refuse(archive, `has more than ${limits.maxEntries} entries`));
    if (!name) return fail(refuse(archive, `has an entry with an unsafe name (${JSON.stringify(entry.path.slice(0, 120))}: absolute, "..", or empty)`));
    if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'Directory') {
      return fail(refuse(archive, `has ${entry.type === 'SymbolicLink' ? 'a symlink' : entry.type === 'Link' ? 'a hard link' : `an entry of type ${entry.type}`} (${name}); only files and directories are allowed`));
    }
    if (seen.has(name)) return fail(refuse(archive, `has the entry ${name} twice`));
    seen.add(name);
    const target = path.join(dir, name);
    if (entry.type === 'Directory') {
      pending.push(fs.mkdir(target, { recursive: true, mode: 0o700 }).then(() => undefined));
      return entry.resume();
    }
    bytes += entry.size ?? 0;
    if (bytes > limits.maxBytes) return fail(refuse(archive, `holds more than ${limits.maxBytes} bytes (at ${name})`));
    files++;
    // A directory created by an earlier entry never is a link: everything under dir is ours.
    pending.push(
      fs
        .mkdir(path.dirname(target), { recursive: true, mode: 0o700 })
        .then(() => pipeline(entry, createWriteStream(target, { flags: 'wx', mode: 0o600 })))
        .catch((err: NodeJS.ErrnoException) => fail(refuse(archive, `cannot be extracted at ${name} (${err.code ?? err.message})`))),
    );
  });
  parser.on('warn', (code: string, message: string) => fail(refuse(archive, `is not a valid tar archive (${code}: ${message})`)));
  try {
    await pipeline(
      createReadStream(archive),
      zlib.createGunzip(),
      parser as unknown as NodeJS.WritableStream,
    ).catch((err: Error) => {
      throw failure ?? refuse(archive, `is not a readable tar.gz (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
    await Promise.all(pending);
    if (failure) throw failure;
    if (entries === 0) throw refuse(archive, 'is empty');
    return { dir, files, bytes };
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}
