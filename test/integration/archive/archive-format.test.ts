import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifySidecar, sha256File, writeSidecar } from '../../../src/flightctl/archive/checksum.js';
import { archiveName, decodeMetadata, encodeMetadata, rfc3339Nano } from '../../../src/flightctl/archive/format.js';
import { extractArchive, openArchiveEntry } from '../../../src/flightctl/archive/reader.js';
import { ArchiveWriter } from '../../../src/flightctl/archive/writer.js';

const LIMITS = { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 };

/** Archives built with Python's tarfile, so that every malformed or hostile shape can be made. */
function pyTar(file: string, script: string): void {
  execFileSync('python3', [
    '-c',
    `import tarfile, io\nt = tarfile.open(${JSON.stringify(file)}, 'w:gz')\ndef add(name, data=b'x', type=tarfile.REGTYPE, link='', size=None):\n    ti = tarfile.TarInfo(name); ti.type = type; ti.linkname = link\n    if type == tarfile.REGTYPE:\n        ti.size = len(data) if size is None else size\n        t.addfile(ti, io.BytesIO(data))\n    else:\n        t.addfile(ti)\n${script}\nt.close()\n`,
  ]);
}

describe('backup archives: format and safe extraction', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'archive-'));

  it("metadata.json is written as Flight Control's Go code writes it", () => {
    const t = new Date('2026-05-21T14:30:22.123Z');
    expect(rfc3339Nano(t, 123_456_789)).toBe('2026-05-21T14:30:22.123456789Z');
    expect(rfc3339Nano(t, 500_000_000)).toBe('2026-05-21T14:30:22.5Z');
    expect(rfc3339Nano(new Date('2026-05-21T14:30:22Z'), 0)).toBe('2026-05-21T14:30:22Z');
    expect(encodeMetadata({ timestamp: t, nanos: 123_000_000, version: 'v1.2.0', deploymentType: 'podman', databaseIncluded: true })).toBe(
      '{\n  "timestamp": "2026-05-21T14:30:22.123Z",\n  "version": "v1.2.0",\n  "deploymentType": "podman",\n  "databaseIncluded": true\n}',
    );
    expect(archiveName(t)).toBe('flightctl-backup-20260521T143022Z.tar.gz');
    expect(
      decodeMetadata('{"timestamp":"2026-05-21T14:30:22.123456789Z","version":"v1.2.0","deploymentType":"kubernetes","databaseIncluded":false,"future":1}'),
    ).toMatchObject({ deploymentType: 'kubernetes', databaseIncluded: false });
    expect(() => decodeMetadata('{"timestamp":"yesterday","version":"1","deploymentType":"podman","databaseIncluded":true}')).toThrow(/RFC 3339/);
    expect(() => decodeMetadata('{"timestamp":"2026-05-21T14:30:22Z","version":"1","deploymentType":"vm","databaseIncluded":true}')).toThrow(/deploymentType/);
  });

  it('an archive with a streamed entry reads back with GNU tar and Python, and checks with sha256sum', async () => {
    const file = path.join(dir, archiveName(new Date()));
    const w = await ArchiveWriter.create(file);
    const t = new Date('2026-05-21T14:30:22Z');
    await w.addDirectory('config', { mode: 0o700, mtime: t });
    await w.addFile('config/service-config.yaml', Buffer.from('db:\n  type: builtin\n'), { mode: 0o644, mtime: t });
    await w.addDirectory('db', { mode: 0o755, mtime: t });
    const lines = Array.from({ length: 50_000 }, (_, i) => `INSERT INTO devices VALUES (${i});\n`);
    const size = await w.addStream('db/dump.sql', Readable.from(lines.map((l) => Buffer.from(l))), { mode: 0o600, mtime: t });
    await w.addFile('metadata.json', Buffer.from('{}'), { mode: 0o600, mtime: t });
    await w.finish();
    expect(size).toBe(lines.join('').length);
    const listing = execFileSync('tar', ['-tzvf', file], { encoding: 'utf8' });
    expect(
      listing
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(/\s+/).slice(-1)[0]),
    ).toEqual(['config', 'config/service-config.yaml', 'db', 'db/dump.sql', 'metadata.json']);
    expect(listing).toMatch(new RegExp(`^-rw------- root/root\\s+${size} 2026-05-21 14:30 db/dump\\.sql$`, 'm'));
    expect(listing).toMatch(/^drwxr-xr-x root\/root\s+0 2026-05-21 14:30 db$/m);
    const py = execFileSync('python3', ['-c', `import tarfile; t = tarfile.open(${JSON.stringify(file)}); print(len(t.extractfile('db/dump.sql').read()))`], {
      encoding: 'utf8',
    });
    expect(Number(py)).toBe(size);
    await writeSidecar(file, await sha256File(file));
    expect(execFileSync('sha256sum', ['-c', `${path.basename(file)}.sha256`], { cwd: dir, encoding: 'utf8' })).toMatch(/: OK/);
    expect(await verifySidecar(file)).toMatch(/^[0-9a-f]{64}$/);
    const x = await extractArchive(file, path.join(dir, 'out'), LIMITS);
    expect([...x.entries.keys()]).toEqual(['config', 'config/service-config.yaml', 'db', 'db/dump.sql', 'metadata.json']);
  });

  it('a missing, malformed or wrong sidecar is refused', async () => {
    const file = path.join(dir, 'a.tar.gz');
    pyTar(file, "add('metadata.json', b'{}')");
    await expect(verifySidecar(file)).rejects.toMatchObject({ code: 'RESTORE_ERR_CHECKSUM_MISMATCH', message: expect.stringMatching(/missing or unreadable/) });
    writeFileSync(`${file}.sha256`, 'not a digest  a.tar.gz\n');
    await expect(verifySidecar(file)).rejects.toMatchObject({
      code: 'RESTORE_ERR_CHECKSUM_MISMATCH',
      message: expect.stringMatching(/does not hold a SHA-256/),
    });
    writeFileSync(`${file}.sha256`, `${'0'.repeat(64)}  a.tar.gz\n`);
    await expect(verifySidecar(file)).rejects.toMatchObject({ code: 'RESTORE_ERR_CHECKSUM_MISMATCH', message: expect.stringMatching(/damaged or incomplete/) });
  });

  const hostile: [string, string, RegExp][] = [
    ['path traversal', "add('../escaped')", /unsafe name/],
    ['deeper traversal', "add('pki/../../escaped')", /unsafe name/],
    ['absolute path', "add('/tmp/escaped-absolute')", /unsafe name/],
    ['symlink', "add('pki/link', type=tarfile.SYMTYPE, link='/etc/shadow')", /a symlink/],
    ['hard link', "add('pki/a'); add('pki/b', type=tarfile.LNKTYPE, link='pki/a')", /a hard link/],
    ['character device', "add('pki/dev', type=tarfile.CHRTYPE)", /CharacterDevice/],
    ['block device', "add('pki/blk', type=tarfile.BLKTYPE)", /BlockDevice/],
    ['FIFO', "add('pki/fifo', type=tarfile.FIFOTYPE)", /FIFO/],
    ['an entry twice', "add('pki/a'); add('pki/a', b'other')", /twice/],
    ['too many entries', "[add('pki/f%d' % i) for i in range(1001)]", /more than 1000 entries/],
  ];
  for (const [name, script, why] of hostile) {
    it(`refuses an archive with ${name}, writing nothing outside and leaving no directory`, async () => {
      const file = path.join(dir, `${name.replace(/\W+/g, '-')}.tar.gz`);
      pyTar(file, `add('metadata.json', b'{}')\n${script}`);
      const out = path.join(dir, `x-${name.replace(/\W+/g, '-')}`);
      await expect(extractArchive(file, out, LIMITS)).rejects.toMatchObject({ code: 'RESTORE_ERR_ARCHIVE_INVALID', message: expect.stringMatching(why) });
      expect(existsSync(out)).toBe(false);
      expect(existsSync(path.join(dir, 'escaped'))).toBe(false);
      expect(existsSync('/tmp/escaped-absolute')).toBe(false);
    });
  }

  it('refuses a gzip bomb at its first header, before writing what it declares', async () => {
    // 4 GiB of zeros declared in one entry, a few MiB compressed: the header alone is over the limit.
    const file = path.join(dir, 'bomb.tar.gz');
    const header = Buffer.alloc(512);
    const { Header } = await import('tar');
    new Header({ path: 'db/dump.sql', size: 4 * 1024 ** 3, mode: 0o600, type: 'File', mtime: new Date() }).encode(header);
    const gz = zlib.createGzip({ level: 9 });
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    gz.write(header);
    for (let i = 0; i < 64; i++) gz.write(Buffer.alloc(1024 * 1024));
    await new Promise((r) => gz.end(r));
    writeFileSync(file, Buffer.concat(chunks));
    const out = path.join(dir, 'x-bomb');
    await expect(extractArchive(file, out, LIMITS)).rejects.toMatchObject({
      code: 'RESTORE_ERR_ARCHIVE_INVALID',
      message: expect.stringMatching(/holds more than/),
    });
    expect(existsSync(out)).toBe(false);
  });

  it('refuses what is no tar.gz, or a truncated one', async () => {
    const junk = path.join(dir, 'junk.tar.gz');
    writeFileSync(junk, 'this is not an archive');
    await expect(extractArchive(junk, path.join(dir, 'x-junk'), LIMITS)).rejects.toMatchObject({ code: 'RESTORE_ERR_ARCHIVE_INVALID' });
    const good = path.join(dir, 'good.tar.gz');
    pyTar(good, "add('metadata.json', b'{}'); add('db/dump.sql', b'x' * 200000)");
    const cut = path.join(dir, 'cut.tar.gz');
    writeFileSync(cut, execFileSync('head', ['-c', '300', good]));
    await expect(extractArchive(cut, path.join(dir, 'x-cut'), LIMITS)).rejects.toMatchObject({ code: 'RESTORE_ERR_ARCHIVE_INVALID' });
    expect(readdirSync(dir).filter((f) => f.startsWith('x-'))).toEqual([]);
  });

  /** Everything a stream gives, or its error; read slowly so that backpressure is exercised. */
  async function drain(stream: Readable, slow = false): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await pipeline(
      stream,
      new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk);
          if (slow) setTimeout(done, 1);
          else done();
        },
      }),
    );
    return Buffer.concat(chunks);
  }

  describe('the dump left in the archive and streamed out of it at load time', () => {
    const file = path.join(dir, 'streamed.tar.gz');
    // Random text, a few MB compressed: many gzip blocks and many tar records.
    const dump = Buffer.concat([Buffer.from('-- PostgreSQL database dump\n'), Buffer.from(randomBytes(2 * 1024 * 1024).toString('hex'))]);
    beforeAll(() => {
      writeFileSync(path.join(dir, 'dump.bin'), dump);
      pyTar(file, `t.add(${JSON.stringify(path.join(dir, 'dump.bin'))}, 'db/dump.sql'); add('pki/ca.crt', b'cert'); add('metadata.json', b'{}')`);
    });

    it('is checked but not written; its head is kept; then it streams out byte for byte, slowly read or not', async () => {
      const out = path.join(dir, 'x-streamed');
      const x = await extractArchive(file, out, { ...LIMITS, leaveInArchive: { names: ['db/dump.sql'], headBytes: 100 } });
      expect(x.entries.get('db/dump.sql')).toEqual({ type: 'file', size: dump.length });
      expect(x.heads.get('db/dump.sql')).toEqual(dump.subarray(0, 100));
      expect(existsSync(path.join(out, 'db/dump.sql'))).toBe(false);
      expect(existsSync(path.join(out, 'pki/ca.crt'))).toBe(true);
      const digest = await sha256File(file);
      expect((await drain(openArchiveEntry(file, 'db/dump.sql', digest))).equals(dump)).toBe(true);
      expect((await drain(openArchiveEntry(file, 'db/dump.sql', digest), true)).equals(dump)).toBe(true);
      rmSync(out, { recursive: true });
    });

    it('fails instead of ending when the archive is not the one verified, or lacks the entry', async () => {
      await expect(drain(openArchiveEntry(file, 'db/dump.sql', '0'.repeat(64)))).rejects.toMatchObject({
        code: 'RESTORE_ERR_CHECKSUM_MISMATCH',
        message: expect.stringMatching(/changed after it was verified/),
      });
      await expect(drain(openArchiveEntry(file, 'db/other.sql', await sha256File(file)))).rejects.toMatchObject({
        code: 'RESTORE_ERR_ARCHIVE_INVALID',
        message: expect.stringMatching(/has no db\/other\.sql/),
      });
      const cut = path.join(dir, 'streamed-cut.tar.gz');
      writeFileSync(cut, readFileSync(file).subarray(0, statSync(file).size / 2));
      await expect(drain(openArchiveEntry(cut, 'db/dump.sql', await sha256File(cut)))).rejects.toMatchObject({ code: 'RESTORE_ERR_ARCHIVE_INVALID' });
    });

    it('stops reading the archive when its reader gives up', async () => {
      const stream = openArchiveEntry(file, 'db/dump.sql', await sha256File(file));
      const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
      expect(first.length).toBeGreaterThan(0);
      stream.destroy();
      await new Promise((r) => setTimeout(r, 100));
      // The archive's file is closed: nothing of this process holds it open any more.
      const fds = readdirSync('/proc/self/fd').map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      });
      expect(fds).not.toContain(file);
    });
  });
});
