import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../harness/quadlet-host/sandbox.js';
import { generateTestKey, jwksOf } from '../../harness/tokens.js';
import { buildPackage, exec, NAME, rpmQuery, UNIT, UNIT_SOURCE, VERSION, type BuiltPackage } from './package-env.js';

const LIB = `/usr/lib/${NAME}`;
const LICENSES = `/usr/share/licenses/${NAME}`;

/** Every file below dir, as absolute paths. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function startsWithElf(file: string): boolean {
  const buf = Buffer.alloc(4);
  const fd = openSync(file, 'r');
  try {
    return readSync(fd, buf, 0, 4, 0) === 4 && buf.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

describe('the RPM built by npm run package', () => {
  let pkg: BuiltPackage;
  beforeAll(async () => {
    pkg = await buildPackage();
  });
  afterAll(() => pkg?.remove());

  it('lays out the binaries, the bundle, the unit and a root-only %config(noreplace) configuration', async () => {
    const lines = (
      await rpmQuery(pkg.rpm, '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} f=%{FILEFLAGS:fflags} %{FILENAMES} -> %{FILELINKTOS}\n]')
    )
      .trim()
      .split('\n');
    const files = Object.fromEntries(
      lines.map((l) => {
        const [mode, owner, flags, name, , link] = l.split(' ');
        return [name!, { mode, owner, flags, link }];
      }),
    );
    const ours = Object.keys(files)
      .filter((f) => !f.startsWith(`${LICENSES}/`))
      .sort();
    expect(ours).toEqual([
      `/etc/${NAME}`,
      `/etc/${NAME}/config.yaml`,
      `/usr/bin/${NAME}`,
      '/usr/bin/flightctl-restorectl',
      LIB,
      `${LIB}/agent.mjs`,
      `${LIB}/package.json`,
      `${LIB}/restorectl.mjs`,
      `/usr/lib/systemd/system/${UNIT}`,
      `/usr/share/doc/${NAME}`,
      `/usr/share/doc/${NAME}/README.md`,
      LICENSES,
    ]);
    expect(files[`/etc/${NAME}/config.yaml`]).toMatchObject({ mode: '-rw-------', owner: 'root:root', flags: 'f=cn' });
    expect(files[`/etc/${NAME}`]).toMatchObject({ mode: 'drwx------', owner: 'root:root' });
    expect(files[`${LIB}/agent.mjs`]).toMatchObject({ mode: '-rwxr-xr-x', owner: 'root:root' });
    expect(files[`${LIB}/restorectl.mjs`]).toMatchObject({ mode: '-rwxr-xr-x', owner: 'root:root' });
    expect(files[`/usr/bin/${NAME}`]).toMatchObject({ mode: 'lrwxrwxrwx', link: `../lib/${NAME}/agent.mjs` });
    expect(files['/usr/bin/flightctl-restorectl']).toMatchObject({ mode: 'lrwxrwxrwx', link: `../lib/${NAME}/restorectl.mjs` });
    expect(files[`/usr/lib/systemd/system/${UNIT}`]).toMatchObject({ mode: '-rw-r--r--', owner: 'root:root' });
    expect(readFileSync(path.join(pkg.payload, `usr/lib/systemd/system/${UNIT}`), 'utf8')).toBe(readFileSync(UNIT_SOURCE, 'utf8'));
    expect(await rpmQuery(pkg.rpm, '--qf', '%{NAME} %{VERSION} %{ARCH}')).toBe(`${NAME} ${VERSION} noarch`);
  });

  it('enables by preset on install, disables and stops on removal, restarts on upgrade (the systemd scriptlets)', async () => {
    const scripts = await rpmQuery(pkg.rpm, '--scripts');
    const part = (name: string) => scripts.split(/^(?=\w+ scriptlet)/m).find((s) => s.startsWith(`${name} scriptlet`)) ?? '';
    expect(part('postinstall')).toMatch(/if \[ \$1 -eq 1 \]; then[\s\S]*systemd-update-helper install-system-units flightctl-restore-agent\.service/);
    expect(part('preuninstall')).toMatch(/if \[ \$1 -eq 0 \]; then[\s\S]*systemd-update-helper remove-system-units flightctl-restore-agent\.service/);
    expect(part('postuninstall')).toMatch(/if \[ \$1 -ge 1 \]; then[\s\S]*systemd-update-helper mark-restart-system-units flightctl-restore-agent\.service/);
    // Each is valid shell: run it where neither the helper nor systemctl does anything (-n: parse only).
    for (const name of ['postinstall', 'preuninstall', 'postuninstall']) {
      const body = part(name).split('\n').slice(1).join('\n');
      expect((await exec('/bin/sh', ['-n', '-c', body])).code, name).toBe(0);
    }
  });

  it('requires Node 20 or newer and systemd, and nothing a noarch package cannot carry', async () => {
    const requires = (await rpmQuery(pkg.rpm, '--requires')).trim().split('\n');
    expect(requires).toContain('nodejs >= 20');
    expect(requires).toContain('systemd');
    expect(requires.filter((r) => !r.startsWith('rpmlib(') && r !== '/bin/sh').sort()).toEqual([
      '/usr/bin/node',
      `config(${NAME}) = ${VERSION}-1`,
      'nodejs >= 20',
      'systemd',
    ]);
    const elf = walk(pkg.payload).filter((f) => lstatSync(f).isFile() && startsWithElf(f));
    expect(elf).toEqual([]);
    expect(walk(pkg.payload).filter((f) => f.endsWith('.node'))).toEqual([]);
  });

  it('declares every bundled npm package with the version of the lock file, and ships its licence', async () => {
    const lock = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string; dev?: boolean; name?: string }>;
    };
    const provides = (await rpmQuery(pkg.rpm, '--provides'))
      .trim()
      .split('\n')
      .filter((p) => p.startsWith('bundled('));
    // A package copied at several places in node_modules (same name and version) is one Provides.
    expect(provides.length).toBe(new Set(pkg.manifest.packages.map((p) => `${p.name}@${p.version}`)).size);
    expect(provides.length).toBeGreaterThan(50);
    const locked = new Set(
      Object.entries(lock.packages)
        .filter(([k, v]) => k && !v.dev)
        .map(([k, v]) => `${v.name ?? k.slice(k.lastIndexOf('node_modules/') + 13)}@${v.version}`),
    );
    for (const p of provides) {
      const m = /^bundled\(npm\((.+)\)\) = (.+)$/.exec(p);
      expect(m, p).not.toBeNull();
      expect(locked.has(`${m![1]}@${m![2]}`), `${p} is a production package of package-lock.json`).toBe(true);
    }
    const names = new Set(provides.map((p) => /npm\((.+)\)\)/.exec(p)![1]));
    for (const dep of ['express', 'jose', 'pg', 'ioredis', 'dbus-next', 'dockerode', 'winston', 'zod', 'commander', 'yaml', 'prom-client'])
      expect(names, dep).toContain(dep);
    for (const dev of ['vitest', 'typescript', 'esbuild', 'supertest', 'autocannon', 'supports-color']) expect(names, dev).not.toContain(dev);
    const licenceDir = path.join(pkg.payload, LICENSES.slice(1));
    for (const p of pkg.manifest.packages) {
      const dir = path.join(licenceDir, `${p.name.replace('/', '+')}@${p.version}`);
      expect(existsSync(dir) && readdirSync(dir).length > 0, `licence of ${p.name}`).toBe(true);
    }
    expect(readFileSync(path.join(licenceDir, 'BUNDLED.txt'), 'utf8')).toContain('express ');
    const licence = await rpmQuery(pkg.rpm, '--qf', '%{LICENSE}');
    expect(licence.startsWith('Apache-2.0 AND ')).toBe(true);
    for (const l of new Set(pkg.manifest.packages.map((p) => p.licence))) expect(licence).toContain(l);
  });

  it('leaves out the optional native parts, and the bundles load nothing but Node built-ins', () => {
    expect(pkg.manifest.absent).toEqual(expect.arrayContaining(['absent:cpu-features', 'absent:./crypto/build/Release/sshcrypto.node', 'absent:usocket']));
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    for (const file of ['agent.mjs', 'restorectl.mjs']) {
      const text = readFileSync(path.join(pkg.payload, LIB.slice(1), file), 'utf8');
      expect(text.split('\n')[0]).toBe('#!/usr/bin/node');
      const loaded = new Set([...text.matchAll(/\brequire\("([^"]+)"\)|^import .* from ['"]([^'"]+)['"];?$/gm)].map((m) => m[1] ?? m[2]!));
      expect(
        [...loaded].filter((m) => !builtins.has(m)),
        file,
      ).toEqual([]);
    }
  });

  it('runs from the unpacked payload with nothing but Node: --version, token mint, serve answering /healthz (and saying when systemd cannot be told it is ready)', async () => {
    // No node_modules anywhere above the payload: what the bundle needs is inside it.
    for (let d = pkg.payload; d !== path.dirname(d); d = path.dirname(d)) expect(existsSync(path.join(d, 'node_modules')), d).toBe(false);
    const env = { PATH: '/usr/bin:/bin' };
    const bin = (name: string) => path.join(pkg.payload, 'usr/bin', name);
    expect((await exec(process.execPath, [bin(NAME), '--version'], { cwd: pkg.dir, env })).stdout.trim()).toBe(VERSION);
    expect((await exec(process.execPath, [bin('flightctl-restorectl'), '--version'], { cwd: pkg.dir, env })).stdout.trim()).toBe(VERSION);
    // `version` (as upstream's flightctl-restore version): the agent's version and the Flight Control releases it restores.
    const version = JSON.parse((await exec(process.execPath, [bin(NAME), 'version', '--json'], { cwd: pkg.dir, env })).stdout) as Record<string, unknown>;
    expect(version).toMatchObject({
      agent: VERSION,
      flightctl: {
        supported: [
          { from: '0.5.0', below: '1.0.0' },
          { from: '1.0.0', below: '2.0.0' },
        ],
      },
    });
    const versionText = await exec(process.execPath, [bin(NAME), 'version', '-o', 'text', '--config', '/nonexistent/config.yaml'], { cwd: pkg.dir, env });
    expect(versionText.stdout.split('\n')[0]).toBe(`${NAME} ${VERSION}`);
    expect(versionText.stdout).toContain('1.0.0 up to (not including) 2.0.0: schema device_timestamps');
    expect(versionText.stdout).toContain('refused unless --force');

    // The shipped configuration: serve refuses to start until keys and an issuer are set, and says so.
    const unconfigured = await exec(
      process.execPath,
      [bin(NAME), 'serve', '--config', path.join(pkg.payload, `etc/${NAME}/config.yaml`), '--listen', 'http://127.0.0.1:0'],
      { cwd: pkg.dir, env },
    );
    expect(unconfigured.code).toBe(2);
    expect(unconfigured.stderr).toMatch(/RESTORE_ERR_CONFIG_INVALID: api\.jwtIssuers: .*\n\s+what to do: /);

    const openssl = await exec('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path.join(pkg.dir, 'signer.key')]);
    expect(openssl.code).toBe(0);
    const minted = await exec(
      process.execPath,
      [bin('flightctl-restorectl'), 'token', 'mint', '--key', path.join(pkg.dir, 'signer.key'), '--issuer', 'https://iss.test', '--audience', 'agent.test'],
      { cwd: pkg.dir, env },
    );
    expect(minted.code, minted.stderr).toBe(0);
    expect(minted.stdout.trim().split('.')).toHaveLength(3);

    const jwks = path.join(pkg.dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify(jwksOf(await generateTestKey('ec'))));
    const state = mkdtempSync(path.join(pkg.dir, 'state-'));
    // A notification socket that is not there: systemd-notify fails, serve says so and serves anyway.
    const serve = spawn(
      process.execPath,
      [bin(NAME), 'serve', '--listen', 'http://127.0.0.1:0', '--jwks-file', jwks, '--jwt-issuer', 'https://iss.test', '--state-dir', state, '--json'],
      {
        cwd: pkg.dir,
        env: { ...env, NOTIFY_SOCKET: path.join(pkg.dir, 'no-notify-socket') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let out = '';
      let err = '';
      serve.stdout.on('data', (d: Buffer) => (out += d.toString()));
      serve.stderr.on('data', (d: Buffer) => (err += d.toString()));
      for (const deadline = Date.now() + 20_000; !err.includes('"msg":"ready"'); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline || serve.exitCode !== null) throw new Error(`serve from the payload did not become ready: ${err.slice(-2000)}`);
      }
      const base = (JSON.parse(out.split('\n')[0]!) as { listening: string[] }).listening[0]!;
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ready' });
      for (const deadline = Date.now() + 10_000; !err.includes('systemd was not told'); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) throw new Error(`no warning about the failed notification: ${err.slice(-2000)}`);
      }
      const warning = JSON.parse(err.split('\n').find((l) => l.includes('systemd was not told'))!) as Record<string, string>;
      expect(warning).toMatchObject({
        level: 'warn',
        error: expect.stringContaining('systemd-notify: Failed to notify init system'),
        hint: expect.stringContaining('NotifyAccess=all'),
      });
      const exited = new Promise<number | null>((resolve) => serve.on('exit', (code) => resolve(code)));
      serve.kill('SIGTERM');
      expect(await Promise.race([exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))])).toBe(0);
      expect(err).toContain('"msg":"stopped"');
    } finally {
      if (serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
    }
  });
});
