import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildUpstreamArchive } from '../../harness/upstream-archive.js';
import { runAgent } from '../cli/run-cli.js';
import { selfSigned } from '../../harness/test-pki.js';

/**
 * What the archive's file steps need is verified by unpack-archive, the first step, before the
 * host is touched (issue 17): here there is no host behind the agent at all, so a run that gets
 * past unpack-archive fails in preflight (D-Bus unreachable), and one refused by unpack-archive
 * names the archive. Before, each of these archives passed unpack and would have failed in a file
 * step, after the database swap.
 */
describe('archive checks before the first destructive step (the agent binary, no host)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'archive-checks-'));
  let n = 0;

  /** An archive of Flight Control's upstream layout; `change` edits the staging directory first. */
  function archive(change: (staging: string) => void = () => undefined): string {
    const staging = path.join(dir, `staging-${++n}`);
    for (const d of ['pki', 'encryption', 'config', 'db']) mkdirSync(path.join(staging, d), { recursive: true });
    writeFileSync(path.join(staging, 'pki', 'ca.crt'), 'a certificate\n');
    writeFileSync(path.join(staging, 'encryption', 'key.b64'), 'a2V5\n');
    writeFileSync(path.join(staging, 'config', 'service-config.yaml'), 'global:\n  baseDomain: example.com\n');
    writeFileSync(path.join(staging, 'db', 'dump.sql'), '--\n-- PostgreSQL database dump\n--\n');
    change(staging);
    const out = path.join(dir, `out-${n}`);
    mkdirSync(out);
    return buildUpstreamArchive(staging, out, { timestamp: '2026-12-01T00:00:00Z', version: 'v1.2.0', deploymentType: 'podman', databaseIncluded: true });
  }

  /** `run --archive` (with `--check` or not) on no host: the failed step and its code. */
  async function run(file: string, opts: { check?: boolean; etc?: string } = {}) {
    const state = path.join(dir, `state-${++n}`);
    const etc = opts.etc ?? path.join(dir, `etc-${n}`);
    const r = await runAgent([
      ...['--state-dir', state, '--dbus-address', `unix:path=${dir}/no-bus`, '--podman-socket', `${dir}/no-podman.sock`, '--flightctl-etc', etc, '--json'],
      ...['run', '--archive', file, ...(opts.check ? ['--check'] : [])],
    ]);
    const finished = r.stdout
      .split('\n')
      .filter((l) => l.includes('"run-finished"'))
      .map((l) => JSON.parse(l) as { run: { steps: { name: string; status: string; msg: string; error?: { code: string } }[] } })[0];
    const failed = finished?.run.steps.find((s) => s.status === 'failed');
    return { failed, left: readdirSync(state).filter((f) => f.startsWith('extract-')), code: r.code };
  }

  it('an archive with nothing wrong gets past unpack-archive (to fail where the host is missing)', async () => {
    const r = await run(archive());
    expect(r.failed).toMatchObject({ name: 'preflight', error: { code: 'RESTORE_ERR_DBUS_UNREACHABLE' } });
    expect(r.left).toEqual([]);
  });

  const refused: [string, (staging: string) => void, RegExp][] = [
    [
      'a pki/ file over restore.archiveMaxFileBytes',
      (s) => writeFileSync(path.join(s, 'pki', 'ca.key'), Buffer.alloc(5 * 1024 * 1024)),
      /pki\/ca\.key of 5242880 bytes/,
    ],
    ['an empty encryption/ directory', (s) => rmSync(path.join(s, 'encryption', 'key.b64')), /empty encryption\/ directory/],
    [
      'a service-config.yaml that is no YAML mapping',
      (s) => writeFileSync(path.join(s, 'config', 'service-config.yaml'), 'global: [unclosed\n'),
      /service-config\.yaml is not a YAML mapping/,
    ],
    [
      'a service-config.yaml that is a list',
      (s) => writeFileSync(path.join(s, 'config', 'service-config.yaml'), '- a\n- b\n'),
      /service-config\.yaml is not a YAML mapping/,
    ],
  ];
  for (const [what, change, why] of refused) {
    it(`${what}: refused by unpack-archive, and the extraction removed`, async () => {
      const r = await run(archive(change));
      expect(r.failed).toMatchObject({ name: 'unpack-archive', error: { code: 'RESTORE_ERR_ARCHIVE_INVALID' } });
      expect(r.failed!.msg).toMatch(why);
      expect(r.code).toBe(33);
      expect(r.left).toEqual([]);
    });
  }

  it('a pki/ file where the host has a directory: refused by unpack-archive, in a check run too', async () => {
    const etc = path.join(dir, 'etc-with-dir');
    mkdirSync(path.join(etc, 'pki', 'ca.crt'), { recursive: true });
    const file = archive();
    for (const check of [true, false]) {
      const r = await run(file, { check, etc });
      expect(r.failed, `check: ${check}`).toMatchObject({ name: 'unpack-archive', error: { code: 'RESTORE_ERR_ARCHIVE_INVALID' } });
      expect(r.failed!.msg).toMatch(/pki\/ca\.crt is a directory where the archive has a file/);
    }
  });

  it('a pki/ directory where the host has a file: refused by unpack-archive', async () => {
    const etc = path.join(dir, 'etc-with-file');
    mkdirSync(path.join(etc, 'pki'), { recursive: true });
    writeFileSync(path.join(etc, 'pki', 'flightctl-api'), 'not a directory\n');
    const file = archive((s) => {
      mkdirSync(path.join(s, 'pki', 'flightctl-api'));
      writeFileSync(path.join(s, 'pki', 'flightctl-api', 'server.crt'), 'a certificate\n');
    });
    const r = await run(file, { etc });
    expect(r.failed).toMatchObject({ name: 'unpack-archive', error: { code: 'RESTORE_ERR_ARCHIVE_INVALID' } });
    expect(r.failed!.msg).toMatch(/pki\/flightctl-api is not a directory where the archive has one/);
  });

  it('a pki/ file over its limit is refused by a check run (it passed --check before)', async () => {
    const r = await run(
      archive((s) => writeFileSync(path.join(s, 'pki', 'big.crt'), Buffer.alloc(5 * 1024 * 1024))),
      { check: true },
    );
    expect(r.failed).toMatchObject({ name: 'unpack-archive', error: { code: 'RESTORE_ERR_ARCHIVE_INVALID' } });
  });
  /** A real EC key and its self-signed certificate, made by openssl (their PEM must never be printed). */
  const pem = (() => {
    const at = path.join(dir, 'pem');
    mkdirSync(at);
    selfSigned(at, 'k.pem', 'c.pem', 'checks');
    return { key: readFileSync(path.join(at, 'k.pem'), 'utf8'), cert: readFileSync(path.join(at, 'c.pem'), 'utf8') };
  })();
  /** The PEM with one base64 line in its middle replaced by another of the same length: armor intact, content broken. */
  const corrupt = (text: string) => {
    const lines = text.split('\n');
    const i = Math.floor(lines.length / 2);
    lines[i] = 'A'.repeat(lines[i]!.length);
    return lines.join('\n');
  };
  /** A plain tar of `files` (made by python's tarfile: hard links and symlinks as the test wants them). */
  function volumeTar(staging: string, script: string): void {
    mkdirSync(path.join(staging, 'volumes'), { recursive: true });
    const file = path.join(staging, 'volumes', 'pam-issuer-etc.tar');
    execFileSync('python3', [
      '-c',
      `import tarfile, io\nt = tarfile.open(${JSON.stringify(file)}, 'w')\ndef add(name, data=b'x', type=tarfile.REGTYPE, link=''):\n    ti = tarfile.TarInfo(name); ti.type = type; ti.linkname = link\n    ti.size = len(data) if type == tarfile.REGTYPE else 0\n    t.addfile(ti, io.BytesIO(data) if type == tarfile.REGTYPE else None)\n${script}\nt.close()\n`,
    ]);
  }

  it('real keys, certificates, a bundle and a volume with a symlink get past unpack-archive, in a check run too', async () => {
    const file = archive((s) => {
      writeFileSync(path.join(s, 'pki', 'ca.crt'), pem.cert);
      writeFileSync(path.join(s, 'pki', 'ca.key'), pem.key);
      writeFileSync(path.join(s, 'pki', 'ca-bundle.crt'), pem.cert + pem.cert);
      const der = path.join(dir, 'der.key');
      execFileSync('openssl', ['pkey', '-in', path.join(dir, 'pem', 'k.pem'), '-outform', 'DER', '-out', der], { stdio: 'pipe' });
      writeFileSync(path.join(s, 'pki', 'der.key'), readFileSync(der));
      volumeTar(s, `add('passwd', b'root:x:0:0::/root:/bin/sh\\n'); add('localtime', type=tarfile.SYMTYPE, link='/usr/share/zoneinfo/UTC')`);
    });
    for (const check of [true, false]) {
      const r = await run(file, { check });
      expect(r.failed, `check: ${check}`).toMatchObject({ name: 'preflight', error: { code: 'RESTORE_ERR_DBUS_UNREACHABLE' } });
    }
  });

  const unusable: [string, (staging: string) => void, RegExp][] = [
    [
      'a private key cut short',
      (s) => writeFileSync(path.join(s, 'pki', 'ca.key'), pem.key.slice(0, pem.key.length / 2)),
      /pki\/ca\.key has a PEM block that is not closed/,
    ],
    [
      'a private key with broken content',
      (s) => writeFileSync(path.join(s, 'pki', 'ca.key'), corrupt(pem.key)),
      /pki\/ca\.key is not readable: its PEM block 1 \(a private key\) does not parse/,
    ],
    ['a .key that holds a certificate', (s) => writeFileSync(path.join(s, 'pki', 'ca.key'), pem.cert), /pki\/ca\.key holds no readable private key/],
    ['an empty .key', (s) => writeFileSync(path.join(s, 'pki', 'ca.key'), ''), /pki\/ca\.key is empty where a private key belongs/],
    [
      'a bundle whose second certificate is broken',
      (s) => writeFileSync(path.join(s, 'pki', 'ca-bundle.crt'), pem.cert + corrupt(pem.cert)),
      /pki\/ca-bundle\.crt is not readable: its PEM block 2 \(a certificate\) does not parse/,
    ],
    [
      'a PAM volume that is no tar',
      (s) => (mkdirSync(path.join(s, 'volumes')), writeFileSync(path.join(s, 'volumes', 'pam-issuer-etc.tar'), 'a volume export, not a tar\n'.repeat(40))),
      /volumes\/pam-issuer-etc\.tar could not be imported/,
    ],
    [
      'a PAM volume with a hard link',
      (s) => {
        const content = path.join(dir, `volume-${++n}`);
        mkdirSync(content);
        writeFileSync(path.join(content, 'shadow'), 'root:!:1::::::\n');
        linkSync(path.join(content, 'shadow'), path.join(content, 'shadow-'));
        mkdirSync(path.join(s, 'volumes'));
        execFileSync('tar', ['-cf', path.join(s, 'volumes', 'pam-issuer-etc.tar'), '-C', content, 'shadow', 'shadow-']);
      },
      /volumes\/pam-issuer-etc\.tar could not be imported: .*a hard link \(shadow-\)/,
    ],
    [
      'a PAM volume with an entry through a symlink',
      (s) => volumeTar(s, `add('out', type=tarfile.SYMTYPE, link='/etc'); add('out/passwd')`),
      /volumes\/pam-issuer-etc\.tar could not be imported: .*out\/passwd, which goes through the symlink out/,
    ],
  ];
  for (const [what, change, why] of unusable) {
    it(`${what}: refused by unpack-archive before any change, in a check run too, naming the file and not its content`, async () => {
      const file = archive(change);
      for (const check of [true, false]) {
        const r = await run(file, { check });
        expect(r.failed, `check: ${check}`).toMatchObject({ name: 'unpack-archive', error: { code: 'RESTORE_ERR_ARCHIVE_INVALID' } });
        expect(r.failed!.msg).toMatch(why);
        expect(r.failed!.msg).not.toMatch(/PRIVATE KEY|BEGIN|MII/);
        expect(r.code).toBe(33);
        expect(r.left).toEqual([]);
      }
    });
  }
});
