import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { verifySidecar, sha256File, writeSidecar } from '../../../src/flightctl/archive/checksum.js';
import { archiveName, decodeMetadata, encodeMetadata, rfc3339Nano } from '../../../src/flightctl/archive/format.js';
import { extractArchive } from '../../../src/flightctl/archive/reader.js';
import { ArchiveWriter } from '../../../src/flightctl/archive/writer.js';

const LIMITS = { maxEntries: 1000, maxBytes: 64 * 1024 * 1024 };

/** Archives built with Python's tarfile, so that every malformed or hostile shape can be made. */
function pyTar(file: string, script: string): void {
  execFileSync('python3', ['-c', `import tarfile, io\nt = tarfile.open(${JSON.stringify(file)}, 'w:gz')\ndef add(name, data=b'x', type=tarfile.REGTYPE, link='', size=None):\n    ti = tarfile.TarInfo(name); ti.type = type; ti.linkname = link\n    if type == tarfile.REGTYPE:\n        ti.size = len(data) if size is None else size\n        t.addfile(ti, io.BytesIO(data))\n    else:\n        t.addfile(ti)\n${script}\nt.close()\n`]);
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
    expect(decodeMetadata('{"timestamp":"2026-05-21T14:30:22.123456789Z","version":"v1.2.0","deploymentType":"kubernetes","databaseIncluded":false,"future":1}')).toMatchObject({ deploymentType: 'kubernetes', databaseIncluded: false });
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
    expect(listing.split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(-1)[0])).toEqual(['config', 'config/service-config.yaml', 'db', 'db/dump.sql', 'metadata.json']);
    expect(listing).toMatch(new RegExp(`^-rw------- root/root\\s+${size} 2026-05-21 14:30 db/dump\\.sql$`, 'm'));
    expect(listing).toMatch(/^drwxr-xr-x root\/root\s+0 2026-05-21 14:30 db$/m);
    const py = execFileSync('python3', ['-c', `import tarfile; t = tarfile.open(${JSON.stringify(file)}); print(len(t.extractfile('db/dump.sql').read()))`], { encoding: 'utf8' });
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
    await expect(verifySidecar(file)).rejects.toMatchObject({ code: 'RESTORE_ERR_CHECKSUM_MISMATCH', message: expect.stringMatching(/does not hold a SHA-256/) });
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
    await expect(extractArchive(file, out, LIMITS)).rejects.toMatchObject({ code: 'RESTORE_ERR_ARCHIVE_INVALID', message: expect.stringMatching(/holds more than/) });
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
});
