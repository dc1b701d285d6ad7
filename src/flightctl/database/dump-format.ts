import { createReadStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { RestoreError } from '../../lib/errors.js';

export type DumpFormat = 'plain' | 'custom';

export interface DumpFile {
  /** The file, or where the dump is for messages (`ARCHIVE:db/dump.sql`) when open() reads it. */
  path: string;
  format: DumpFormat;
  size: number;
  /**
   * Reads a dump that is not a file of its own (an entry of a backup archive, streamed out of it
   * while it loads, so it is never written to disk); the stream fails when the source does.
   */
  open?(): Readable;
}

/** The dump's bytes, from wherever it is. */
export function openDump(dump: DumpFile): Readable {
  return dump.open ? dump.open() : createReadStream(dump.path);
}

/** How much of the file's head is read to tell its format. pg_dump writes the header first. */
export const DUMP_HEAD_BYTES = 256 * 1024;

function invalid(path: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_DUMP_INVALID', `dump ${path} ${why}`, { dump: path });
}

/**
 * What kind of dump the head of a file is. Pure, so the rules are unit-tested: pg_dump's custom
 * format starts with "PGDMP"; a plain dump is text. A dump made with --create (or pg_dumpall)
 * would switch to the live database with \connect and is refused: the restore must only ever
 * write into its own temporary database.
 */
export function classifyDumpHead(head: Buffer, path: string): DumpFormat {
  if (head.length === 0) throw invalid(path, 'is empty');
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
  if (head[0] === 0x1f && head[1] === 0x8b) throw invalid(path, 'is gzip-compressed: decompress it first (gunzip), then restore the .sql file');
  if (head.length > 262 && head.subarray(257, 262).toString('latin1') === 'ustar') {
    throw invalid(path, 'is a tar archive (pg_dump -Ft?): use a plain SQL dump or the custom format (pg_dump -Fc)');
  }
  if (head.includes(0)) throw invalid(path, 'is neither a plain SQL dump nor a pg_dump custom-format archive (binary content)');
  const text = head.toString('utf8');
  if (!/^(--|SET |SELECT |CREATE |ALTER |BEGIN|COPY |\\)/m.test(text) || !/PostgreSQL database dump|^SET |^CREATE /m.test(text)) {
    throw invalid(path, 'does not look like a PostgreSQL dump (no pg_dump header, no SQL statements at its start)');
  }
  if (/^\\c(onnect)?\s/m.test(text) || /^CREATE DATABASE /m.test(text)) {
    throw invalid(path, 'was made with --create or by pg_dumpall: it would write into other databases; dump the one database without --create');
  }
  return 'plain';
}

/** Opens the dump, reads its head and tells its format; nothing else is read. */
export async function inspectDump(path: string): Promise<DumpFile> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw invalid(path, code === 'ENOENT' ? 'does not exist' : `cannot be opened (${code})`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw invalid(path, 'is not a regular file');
    const head = Buffer.alloc(Math.min(DUMP_HEAD_BYTES, st.size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return { path, format: classifyDumpHead(head.subarray(0, bytesRead), path), size: st.size };
  } finally {
    await handle.close();
  }
}
