import { createHash } from 'node:crypto';
import { createReadStream, promises as fs, createWriteStream } from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { RestoreError } from '../../lib/errors.js';
import { type EntryLimit, inflatedBound } from './entry-limits.js';

export interface ExtractOptions extends ExtractLimits {
  /** Default true: a .tar.gz. */
  gzip?: boolean;
  /** The archive's bytes, when they are not the file named by `archive` (which then only names it in messages). */
  source?: Readable;
  /**
   * A container volume's content (volumes/pam-issuer-etc.tar): symlinks are allowed (they are
   * read inside the container), modes and owners are kept (without set-id bits); entries still
   * may not pass through a symlink, and hard links, devices and FIFOs are still refused.
   */
  volume?: boolean;
  /**
   * Files checked like the others but not written (the dump: openArchiveEntry streams it out of
   * the archive when it is loaded, so a database of many GB never lands on the host's disk); the
   * first headBytes of each are kept in `heads`.
   */
  leaveInArchive?: { names: readonly string[]; headBytes: number };
  /**
   * A check of one file's content, by its name (undefined: none): what a later step will need of
   * it, verified now. A scan gives it the entry as it passes; an extraction, the written file. Its
   * error refuses the archive.
   */
  inspect?: (name: string) => ((content: Readable) => Promise<void>) | undefined;
}

export interface ExtractLimits {
  /** Entries at most (a huge count is an attack on the file system, not a backup). */
  maxEntries: number;
  /** Bytes of all files together at most, as their headers declare them (a gzip bomb stops at its first header). */
  maxBytes: number;
  /** The bound of one file by its name (entry-limits.ts), checked at its header; none: only maxBytes. */
  entryLimit?: (name: string) => EntryLimit | undefined;
}

export interface Extracted {
  /** Undefined for a scan (nothing written). */
  dir?: string;
  files: number;
  bytes: number;
  /** Every entry by its (safe) name: what is in the archive without reading it back from disk. */
  entries: Map<string, { type: 'file' | 'directory' | 'symlink'; size: number }>;
  /** The content of metadata.json, read on the way (also by a scan). */
  metadata?: string;
  /** The head of each file left in the archive (ExtractOptions.leaveInArchive). */
  heads: Map<string, Buffer>;
}

/**
 * Reading and inflating in large pieces: with zlib's default 16 KiB output chunks, inflating a
 * dump of 700 MB costs 1.5 s of CPU; with 256 KiB, 0.3 s (bench:backup).
 */
const readArchiveFile = (file: string) => createReadStream(file, { highWaterMark: 1024 * 1024 });
const gunzip = () => zlib.createGunzip({ chunkSize: 256 * 1024 });

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

/** No part of the path below dir is a symlink: a link an earlier entry made cannot carry a later one out. */
async function noLinkOnTheWay(dir: string, name: string): Promise<void> {
  const parts = name.split('/').slice(0, -1);
  let p = dir;
  for (const part of parts) {
    p = path.join(p, part);
    const st = await fs.lstat(p).catch(() => undefined);
    if (st?.isSymbolicLink()) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `the entry ${name} goes through a symlink; nothing was restored`);
  }
}

/**
 * Extracts a tar.gz into `dir` (created here, mode 0700), strictly: only regular files and
 * directories; an absolute name, "..", a symlink, a hard link, a device node, a FIFO, or an entry
 * over the limits rejects the whole archive (nothing is skipped or renamed). Files get mode 0600,
 * directories 0700, whatever the archive says, and are owned by us. On any failure `dir` is removed.
 */
export async function extractArchive(archive: string, dir: string | undefined, limits: ExtractOptions): Promise<Extracted> {
  const volume = limits.volume === true;
  if (dir) await fs.mkdir(dir, { mode: 0o700 });
  const found: Extracted['entries'] = new Map();
  const heads: Extracted['heads'] = new Map();
  let metadata: string | undefined;
  let files = 0;
  let bytes = 0;
  let entries = 0;
  const seen = new Set<string>();
  const inspected: string[] = [];
  const parser = new Parser({ strict: true });
  const pending: Promise<void>[] = [];
  // Ends the writes under way and skips the queued ones once the extraction has failed.
  const stopWriting = new AbortController();
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    parser.abort(err);
  };
  // What the headers declared so far: what inflating may give is bounded by it (entry-limits.ts).
  const declared = () => bytes + entries * 4096;
  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return entry.resume();
    const name = safeEntryName(entry.path);
    entries++;
    if (entries > limits.maxEntries) return fail(refuse(archive, `has more than ${limits.maxEntries} entries`));
    if (!name) return fail(refuse(archive, `has an entry with an unsafe name (${JSON.stringify(entry.path.slice(0, 120))}: absolute, "..", or empty)`));
    const allowed = ['File', 'OldFile', 'Directory', ...(volume ? ['SymbolicLink'] : [])];
    if (!allowed.includes(entry.type)) {
      return fail(
        refuse(
          archive,
          `has ${entry.type === 'SymbolicLink' ? 'a symlink' : entry.type === 'Link' ? 'a hard link' : `an entry of type ${entry.type}`} (${name}); only files and directories are allowed`,
        ),
      );
    }
    if (seen.has(name)) return fail(refuse(archive, `has the entry ${name} twice`));
    seen.add(name);
    // Known from the headers, so a scan refuses it as an extraction does (noLinkOnTheWay).
    const parents = name.split('/').slice(0, -1);
    const through = parents.map((_, i) => parents.slice(0, i + 1).join('/')).find((p) => found.get(p)?.type === 'symlink');
    if (through) return fail(refuse(archive, `has the entry ${name}, which goes through the symlink ${through}`));
    found.set(name, { type: entry.type === 'Directory' ? 'directory' : entry.type === 'SymbolicLink' ? 'symlink' : 'file', size: entry.size ?? 0 });
    if (entry.type !== 'Directory' && entry.type !== 'SymbolicLink') {
      bytes += entry.size ?? 0;
      if (bytes > limits.maxBytes) return fail(refuse(archive, `holds more than ${limits.maxBytes} bytes (at ${name})`));
      files++;
    }
    const bound = entry.type === 'Directory' ? undefined : limits.entryLimit?.(name);
    if (bound && (entry.size ?? 0) > bound.maxBytes)
      return fail(
        refuse(
          archive,
          `has ${name} of ${entry.size} bytes, more than the ${bound.maxBytes} allowed for ${bound.what}${bound.key ? ` (${bound.key} sets the limit)` : ''}`,
        ),
      );
    if (!volume && limits.leaveInArchive?.names.includes(name) && entry.type !== 'Directory') {
      const max = limits.leaveInArchive.headBytes;
      const chunks: Buffer[] = [];
      let kept = 0;
      entry.on('data', (c: Buffer) => {
        if (kept < max) chunks.push(c.subarray(0, max - kept));
        kept += c.length;
      });
      entry.on('end', () => heads.set(name, Buffer.concat(chunks)));
      return;
    }
    const inspect = entry.type === 'Directory' || entry.type === 'SymbolicLink' ? undefined : limits.inspect?.(name);
    if (inspect) inspected.push(name);
    if (!dir) {
      if (inspect) {
        pending.push(inspect(Readable.from(entry)).catch((err: Error) => fail(err)));
        return;
      }
      // A scan writes nothing; it only keeps metadata.json.
      if (name !== 'metadata.json' || volume) return entry.resume();
      let text = '';
      entry.on('data', (c: Buffer) => (text += c.toString('utf8')));
      entry.on('end', () => (metadata = text));
      return;
    }
    const target = path.join(dir, name);
    // Kept for a volume (a container reads it with its own users), never set-id bits.
    const mode = (fallback: number) => (volume && entry.mode !== undefined ? entry.mode & 0o777 : fallback);
    const own = async () => {
      if (volume && entry.uid !== undefined && entry.gid !== undefined) await fs.lchown(target, entry.uid, entry.gid);
    };
    const step = (work: () => Promise<void>) => {
      // In order: a later entry may live in a directory an earlier one creates.
      const prev = pending.at(-1) ?? Promise.resolve();
      pending.push(
        prev
          .then(async () => {
            if (stopWriting.signal.aborted) return;
            await noLinkOnTheWay(dir, name);
            await work();
          })
          .catch((err: NodeJS.ErrnoException) =>
            fail(err instanceof RestoreError ? err : refuse(archive, `cannot be extracted at ${name} (${err.code ?? err.message})`)),
          ),
      );
    };
    if (entry.type === 'Directory') {
      step(async () => {
        await fs.mkdir(target, { recursive: true, mode: 0o700 });
        await fs.chmod(target, mode(0o700));
        await own();
      });
      return entry.resume();
    }
    if (entry.type === 'SymbolicLink') {
      step(async () => {
        await fs.symlink(entry.linkpath ?? '', target);
        await own();
      });
      return entry.resume();
    }
    entry.pause();
    step(async () => {
      await fs.mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await pipeline(entry, createWriteStream(target, { flags: 'wx', mode: 0o600 }), { signal: stopWriting.signal });
      if (volume) await fs.chmod(target, mode(0o600));
      await own();
    });
  });
  // Types the tar library does not extract (GNU sparse 'S', volume headers 'V', unknown letters)
  // would vanish in silence: refused like every other type that is neither a file nor a directory.
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    const name = JSON.stringify(entry.path.slice(0, 120));
    fail(refuse(archive, `has an entry of tar type ${JSON.stringify(String(entry.type).slice(0, 40))} (${name}); only files and directories are allowed`));
  });
  parser.on('warn', (code: string, message: string) => fail(refuse(archive, `is not a valid tar archive (${code}: ${message})`)));
  try {
    const source = limits.source ?? readArchiveFile(archive);
    // Counted as they come out of the inflater: more than the headers so far can account for is a
    // bomb whatever its headers say (zeros after the end, a huge extended header).
    const inflated = inflatedBound(declared, () => fail(refuse(archive, 'inflates to far more than its entries declare (a compression bomb?)')));
    await (
      limits.gzip === false
        ? pipeline(source, inflated, parser as unknown as NodeJS.WritableStream)
        : pipeline(source, gunzip(), inflated, parser as unknown as NodeJS.WritableStream)
    ).catch((err: Error) => {
      throw failure ?? refuse(archive, `is not a readable tar.gz (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    });
    await Promise.all(pending);
    if (failure) throw failure;
    if (entries === 0) throw refuse(archive, 'is empty');
    if (dir) for (const name of inspected) await limits.inspect!(name)!(createReadStream(path.join(dir, name)));
    if (dir && found.get('metadata.json')?.type === 'file') metadata = await fs.readFile(path.join(dir, 'metadata.json'), 'utf8');
    return { dir, files, bytes, entries: found, metadata, heads };
  } catch (err) {
    if (dir) {
      // Writes still under way would put files back into what is being removed: end them first
      // (an entry cut short by a broken archive would never end by itself).
      stopWriting.abort();
      await Promise.allSettled(pending);
      await fs.rm(dir, { recursive: true, force: true });
    }
    throw err;
  }
}

/**
 * Streams one file out of a tar.gz that extractArchive checked before (the dump, into the
 * database while it loads). The archive is hashed again as it is read: when it is no longer the
 * one verified (sha256), the stream fails at its end instead of ending, and what was loaded from
 * it is dropped with the temporary database. Destroying the stream stops the reading.
 */
export function openArchiveEntry(archive: string, name: string, sha256: string): Readable {
  const out = new PassThrough();
  const hash = createHash('sha256');
  const hashed = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const parser = new Parser({ strict: true });
  let entryEnded: Promise<void> | undefined;
  parser.on('entry', (entry: ReadEntry) => {
    if (entryEnded || safeEntryName(entry.path) !== name || !['File', 'OldFile'].includes(entry.type)) return entry.resume();
    entryEnded = new Promise((resolve) => entry.once('end', resolve));
    // Backpressure: a slow load pauses the entry, and with it the parser and the file.
    entry.pipe(out, { end: false });
  });
  parser.on('warn', (code: string, message: string) => out.destroy(refuse(archive, `is not a valid tar archive (${code}: ${message})`)));
  const source = readArchiveFile(archive);
  out.once('close', () => source.destroy());
  pipeline(source, hashed, gunzip(), parser as unknown as NodeJS.WritableStream)
    .then(async () => {
      if (!entryEnded) throw refuse(archive, `has no ${name}`);
      await entryEnded;
      const digest = hash.digest('hex');
      if (digest !== sha256) {
        throw new RestoreError(
          'RESTORE_ERR_CHECKSUM_MISMATCH',
          `${path.basename(archive)} changed after it was verified (SHA-256 now ${digest}); the load is thrown away`,
          { archive },
        );
      }
      out.end();
    })
    .catch((err: Error) => {
      if (!out.destroyed)
        out.destroy(err instanceof RestoreError ? err : refuse(archive, `cannot be read (${(err as NodeJS.ErrnoException).code ?? err.message})`));
    });
  return out;
}
