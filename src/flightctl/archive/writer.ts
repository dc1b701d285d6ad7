import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Header, Pax, type HeaderData } from 'tar';

const BLOCK = 512;

export interface EntryOptions {
  mode: number;
  mtime: Date;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
}

function headerBlocks(data: HeaderData): Buffer {
  const block = Buffer.alloc(BLOCK);
  const needPax = new Header(data).encode(block);
  // A name or owner that does not fit the ustar fields goes into a PAX header before it; a size
  // beyond 8 GiB is written in base-256 in the header itself, which every reader we target takes.
  const needsPaxForNames =
    needPax && (Buffer.byteLength(data.path ?? '') > 100 || Buffer.byteLength(data.uname ?? '') > 32 || Buffer.byteLength(data.gname ?? '') > 32);
  return needsPaxForNames ? Buffer.concat([new Pax({ path: data.path, uname: data.uname, gname: data.gname, mtime: data.mtime }).encode(), block]) : block;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/**
 * Writes a tar.gz as a sequence of gzip members (gunzip, GNU tar, Go's and Python's readers all
 * read concatenated members as one stream). That lets an entry of unknown length, a pg_dump coming
 * out of the database container, be streamed straight into the archive: its header goes into a
 * member of its own, stored uncompressed so it always has the same length, and is rewritten in
 * place with the real size once the data has passed. No copy of the dump is ever kept on the host.
 */
export class ArchiveWriter {
  private pos = 0;
  private current?: { gz: zlib.Gzip; pump: Promise<void> };
  private queue: Promise<unknown> = Promise.resolve();
  /** The first write to the file that failed (ENOSPC): the cause of whatever fails after it. */
  private failure?: Error;

  private constructor(private readonly fd: fs.FileHandle) {}

  /** Creates the file (it must not exist), readable by its owner only. */
  static async create(file: string): Promise<ArchiveWriter> {
    return new ArchiveWriter(await fs.open(file, 'wx', 0o600));
  }

  /** Appends bytes at the end, in order. */
  private out(buf: Buffer): Promise<void> {
    const at = this.pos;
    this.pos += buf.length;
    const done = this.queue.then(() => this.fd.write(buf, 0, buf.length, at));
    done.catch((err: Error) => (this.failure ??= err));
    this.queue = done;
    return done.then(() => undefined);
  }

  private openMember(level: number): { gz: zlib.Gzip; pump: Promise<void> } {
    const gz = zlib.createGzip({ level });
    const pump = (async () => {
      for await (const chunk of gz) await this.out(chunk as Buffer);
    })();
    pump.catch(() => undefined);
    return { gz, pump };
  }

  private async write(member: { gz: zlib.Gzip; pump: Promise<void> }, buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    // A pump that failed (the disk full) drains nothing more: its error, not a wait for ever.
    if (!member.gz.write(buf)) await Promise.race([once(member.gz, 'drain'), member.pump]);
  }

  private async closeMember(member: { gz: zlib.Gzip; pump: Promise<void> }): Promise<void> {
    member.gz.end();
    await member.pump;
  }

  private member(): { gz: zlib.Gzip; pump: Promise<void> } {
    return (this.current ??= this.openMember(zlib.constants.Z_DEFAULT_COMPRESSION));
  }

  private data(name: string, type: 'File' | 'Directory', size: number, o: EntryOptions): HeaderData {
    return {
      path: name,
      type,
      size,
      mode: o.mode & 0o7777,
      mtime: o.mtime,
      uid: o.uid ?? 0,
      gid: o.gid ?? 0,
      uname: o.uname ?? (o.uid ? '' : 'root'),
      gname: o.gname ?? (o.gid ? '' : 'root'),
    };
  }

  async addDirectory(name: string, o: EntryOptions): Promise<void> {
    await this.write(this.member(), headerBlocks(this.data(name, 'Directory', 0, o)));
  }

  async addFile(name: string, content: Buffer, o: EntryOptions): Promise<void> {
    const m = this.member();
    await this.write(m, headerBlocks(this.data(name, 'File', content.length, o)));
    await this.write(m, content);
    await this.write(m, padding(content.length));
  }

  /** A file whose length is known only at its end; answers that length. */
  async addStream(name: string, source: Readable, o: EntryOptions): Promise<number> {
    if (this.current) {
      await this.closeMember(this.current);
      this.current = undefined;
    }
    const placeholder = zlib.gzipSync(headerBlocks(this.data(name, 'File', 0, o)), { level: 0 });
    const at = this.pos;
    await this.out(placeholder);
    const m = this.openMember(zlib.constants.Z_DEFAULT_COMPRESSION);
    let size = 0;
    try {
      for await (const chunk of source) {
        const buf = chunk as Buffer;
        size += buf.length;
        await this.write(m, buf);
      }
      await this.write(m, padding(size));
      await this.closeMember(m);
    } catch (err) {
      m.gz.destroy();
      throw this.failure ?? err;
    }
    const real = zlib.gzipSync(headerBlocks(this.data(name, 'File', size, o)), { level: 0 });
    if (real.length !== placeholder.length) throw new Error(`the header of ${name} changed length (${placeholder.length} -> ${real.length})`);
    await this.queue;
    await this.fd.write(real, 0, real.length, at);
    return size;
  }

  /** The end-of-archive blocks, then everything on disk. */
  async finish(): Promise<void> {
    const m = this.member();
    await this.write(m, Buffer.alloc(BLOCK * 2));
    await this.closeMember(m);
    this.current = undefined;
    await this.queue;
    await this.fd.sync();
    await this.fd.close();
  }

  /** After a failure: stop writing and close (the caller removes the file). */
  async abort(): Promise<void> {
    this.current?.gz.destroy();
    await this.queue.catch(() => undefined);
    await this.fd.close().catch(() => undefined);
  }
}
