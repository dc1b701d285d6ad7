import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { Header } from 'tar';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS } from '../../../src/config/schema.js';
import { sha256File, verifySidecar, writeSidecar } from '../../../src/flightctl/archive/checksum.js';
import { backupEntryLimits } from '../../../src/flightctl/archive/entry-limits.js';
import { extractArchive } from '../../../src/flightctl/archive/reader.js';

const { restore } = CONFIG_DEFAULTS;
/** The limits a restore extracts with, at their defaults. */
const LIMITS = {
  maxEntries: restore.archiveMaxEntries,
  maxBytes: restore.archiveMaxBytes,
  entryLimit: backupEntryLimits({ maxFileBytes: restore.archiveMaxFileBytes, maxVolumeBytes: restore.archiveMaxVolumeBytes }),
};

/** A tar.gz of one entry whose header declares `size` bytes, followed by `zeros` bytes of zeros (compressed, they weigh little). */
function declaredBomb(file: string, name: string, size: number, zeros: number): void {
  const header = Buffer.alloc(512);
  new Header({ path: name, size, mode: 0o600, type: 'File', mtime: new Date() }).encode(header);
  const chunks = [header];
  for (let left = zeros; left > 0; left -= 1024 * 1024) chunks.push(Buffer.alloc(Math.min(left, 1024 * 1024)));
  writeFileSync(file, zlib.gzipSync(Buffer.concat(chunks), { level: 9 }));
}

/** An archive made with Python's tarfile; `script` adds entries with add(name, data, type). */
function pyTar(file: string, script: string): void {
  execFileSync('python3', [
    '-c',
    `import tarfile, io\nt = tarfile.open(${JSON.stringify(file)}, 'w:gz')\ndef add(name, data=b'x', type=tarfile.REGTYPE):\n    ti = tarfile.TarInfo(name); ti.type = type\n    ti.size = len(data) if type == tarfile.REGTYPE else 0\n    t.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)\n${script}\nt.close()\n`,
  ]);
}

describe('hostile archives outside the dump (issue 17)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'archive-hostile-'));
  const out = (name: string) => path.join(dir, `x-${name}`);

  it('a pki/ file declaring 10 GiB is refused at its header, before a byte is written, naming the entry and the key', async () => {
    const file = path.join(dir, 'pki-bomb.tar.gz');
    declaredBomb(file, 'pki/ca.key', 10 * 1024 ** 3, 32 * 1024 * 1024);
    await expect(extractArchive(file, out('pki-bomb'), LIMITS)).rejects.toMatchObject({
      code: 'RESTORE_ERR_ARCHIVE_INVALID',
      message: expect.stringMatching(/has pki\/ca\.key of 10737418240 bytes, more than the 4194304 allowed .*restore\.archiveMaxFileBytes/),
    });
    expect(existsSync(out('pki-bomb'))).toBe(false);
    // A scan (run --check) refuses it the same way.
    await expect(extractArchive(file, undefined, LIMITS)).rejects.toMatchObject({ message: expect.stringMatching(/pki\/ca\.key of 10737418240 bytes/) });
  });

  it('each kind has its own bound: a 5 MiB key is refused, a 5 MiB PAM volume is not, a 100 MiB one is', async () => {
    const big = path.join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(5 * 1024 * 1024, 1));
    const key = path.join(dir, 'big-key.tar.gz');
    pyTar(key, `t.add(${JSON.stringify(big)}, 'encryption/key.b64')`);
    await expect(extractArchive(key, out('big-key'), LIMITS)).rejects.toMatchObject({
      message: expect.stringMatching(/encryption\/key\.b64 of 5242880 bytes/),
    });
    const volume = path.join(dir, 'volume.tar.gz');
    pyTar(volume, `t.add(${JSON.stringify(big)}, 'volumes/pam-issuer-etc.tar')`);
    expect((await extractArchive(volume, out('volume'), LIMITS)).files).toBe(1);
    const huge = path.join(dir, 'huge-volume.tar.gz');
    declaredBomb(huge, 'volumes/pam-issuer-etc.tar', 100 * 1024 * 1024, 1024 * 1024);
    await expect(extractArchive(huge, out('huge-volume'), LIMITS)).rejects.toMatchObject({
      message: expect.stringMatching(
        /volumes\/pam-issuer-etc\.tar of 104857600 bytes, more than the 67108864 allowed for the PAM issuer volume \(restore\.archiveMaxVolumeBytes/,
      ),
    });
  });

  it('inflated bytes are counted as they come: data far past what the headers declare is refused', async () => {
    // A small, valid tar followed, inside the same gzip stream, by 64 MiB of zeros the tar reader would skip.
    const tar = path.join(dir, 'small.tar');
    execFileSync('python3', [
      '-c',
      `import tarfile, io\nt = tarfile.open(${JSON.stringify(tar)}, 'w')\nti = tarfile.TarInfo('metadata.json'); ti.size = 2\nt.addfile(ti, io.BytesIO(b'{}'))\nt.close()`,
    ]);
    const file = path.join(dir, 'trailing.tar.gz');
    writeFileSync(file, zlib.gzipSync(Buffer.concat([execFileSync('cat', [tar]), Buffer.alloc(64 * 1024 * 1024)])));
    await expect(extractArchive(file, out('trailing'), LIMITS)).rejects.toMatchObject({
      code: 'RESTORE_ERR_ARCHIVE_INVALID',
      message: expect.stringMatching(/inflates to far more than its entries declare/),
    });
    expect(existsSync(out('trailing'))).toBe(false);
  });

  for (const [what, type] of [
    ['a GNU sparse file (S)', "b'S'"],
    ['a tape volume header (V)', "b'V'"],
    ['an unknown type letter (Z)', "b'Z'"],
  ] as const) {
    it(`an entry of ${what} is refused with its name, not skipped`, async () => {
      const file = path.join(dir, `type-${type[2]}.tar.gz`);
      pyTar(file, `add('metadata.json', b'{}'); add('pki/ca.key', type=${type})`);
      await expect(extractArchive(file, out(`type-${type[2]}`), LIMITS)).rejects.toMatchObject({
        code: 'RESTORE_ERR_ARCHIVE_INVALID',
        message: expect.stringMatching(/has an entry of tar type .* \("pki\/ca\.key"\); only files and directories are allowed/),
      });
      // GNU tar lists what the agent must not pass over in silence.
      expect(execFileSync('tar', ['-tzf', file], { encoding: 'utf8' })).toMatch(/pki\/ca\.key/);
    });
  }

  it('a sidecar larger than one line is refused by its size, without being read', async () => {
    const file = path.join(dir, 'sidecar.tar.gz');
    pyTar(file, "add('metadata.json', b'{}')");
    await writeSidecar(file, await sha256File(file));
    expect(await verifySidecar(file)).toMatch(/^[0-9a-f]{64}$/);
    // The right digest first, then 50 MB (a sparse file: nothing to read that is not zeros).
    truncateSync(`${file}.sha256`, 50 * 1024 * 1024);
    await expect(verifySidecar(file)).rejects.toMatchObject({
      code: 'RESTORE_ERR_CHECKSUM_MISMATCH',
      message: expect.stringMatching(/sidecar\.tar\.gz\.sha256 is 52428800 bytes, more than the 512 of a checksum file/),
    });
  });

  it('leaves nothing behind', () => {
    mkdirSync(dir, { recursive: true });
    expect(readdirSync(dir).filter((f) => f.startsWith('x-') && f !== 'x-volume')).toEqual([]);
  });
});
