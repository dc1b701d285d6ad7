import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildUpstreamArchive } from '../../harness/upstream-archive.js';
import { adminSql, connectSandboxDb, loadDump } from '../../harness/restore-scenario.js';
import { serveKit } from '../api/serve-env.js';
import { restorectl, spawnRestorectl } from '../client/restorectl-cli.js';
import { leaks, spawnHeld } from '../cli/run-cli.js';
import { finishedRun, restoredFacts, spawnUntilWaiting, startRestoreEnv, statuses, APPS, type RestoreEnv } from './restore-env.js';
import { selfSigned } from '../../harness/test-pki.js';

const ARCHIVE_ENTRIES = [
  'config',
  'config/service-config.yaml',
  'db',
  'db/dump.sql',
  'encryption',
  'encryption/key.b64',
  'metadata.json',
  'pki',
  'pki/ca.crt',
  'pki/ca.key',
  'pki/flightctl-api',
  'pki/flightctl-api/server.crt',
  'pki/flightctl-api/server.key',
  'volumes',
  'volumes/pam-issuer-etc.tar',
];

/** Backups in Flight Control's archive format and restores from them, on the sandbox Quadlets host. */
describe('backup and run --archive (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  let etc: string;
  let backups: string;
  const printed: string[] = [];
  const etcArgs = () => ['--flightctl-etc', etc];

  /** Flight Control's configuration directory, with real keys (their PEM must never be printed). */
  function writeEtc(dir: string, variant: string): void {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(path.join(dir, 'pki', 'flightctl-api'), { recursive: true });
    mkdirSync(path.join(dir, 'encryption'), { mode: 0o700 });
    selfSigned(dir, 'pki/ca.key', 'pki/ca.crt', `ca-${variant}`);
    selfSigned(dir, 'pki/flightctl-api/server.key', 'pki/flightctl-api/server.crt', `api-${variant}`);
    writeFileSync(path.join(dir, 'encryption', 'key.b64'), `${Buffer.from(`key-${variant}`).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(path.join(dir, 'service-config.yaml'), `global:\n  baseDomain: ${variant}.example.com\ndb:\n  type: builtin\n  name: flightctl\n`, {
      mode: 0o644,
    });
  }

  async function pamVolume(content: string): Promise<void> {
    await env.sb.nsExec(['podman', 'volume', 'create', '--ignore', 'flightctl-pam-issuer-etc']);
    await env.sb.nsExec([
      'sh',
      '-c',
      `d=$(podman volume inspect flightctl-pam-issuer-etc -f '{{.Mountpoint}}'); printf '%s\\n' '${content}' > $d/passwd; chmod 644 $d/passwd; ln -sfn ../usr/share/zoneinfo/UTC $d/localtime`,
    ]);
  }

  async function pamPasswd(): Promise<string> {
    return (await env.sb.nsExec(['sh', '-c', "cat $(podman volume inspect flightctl-pam-issuer-etc -f '{{.Mountpoint}}')/passwd"])).stdout.trim();
  }

  async function agent(args: string[], extraEnv: Record<string, string> = {}) {
    const r = await env.agent(args, extraEnv);
    printed.push(r.all);
    return r;
  }

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 800 });
    etc = path.join(env.dir, 'etc-flightctl');
    backups = path.join(env.dir, 'backups');
    writeEtc(etc, 'original');
    await pamVolume('root:x:0:0:original');
  });
  afterAll(async () => {
    await env?.stop();
  });

  let archive: string;

  it('backup: the upstream layout, mode 0600 and a sha256sum sidecar, while the services keep running', async () => {
    await env.reset();
    const before = await env.snapshot();
    const r = await agent(['backup', '--backup-dir', backups, ...etcArgs(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { archive: string; sha256: string; databaseIncluded: boolean; contents: { pkiFiles: number; pamVolume: boolean } };
    archive = result.archive;
    expect(path.basename(archive)).toMatch(/^flightctl-backup-\d{8}T\d{6}Z\.tar\.gz$/);
    expect(result).toMatchObject({ databaseIncluded: true, contents: { pkiFiles: 4, pamVolume: true } });
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    expect(statSync(`${archive}.sha256`).mode & 0o777).toBe(0o644);
    expect(readFileSync(`${archive}.sha256`, 'utf8')).toBe(`${result.sha256}  ${path.basename(archive)}\n`);
    expect(execFileSync('sha256sum', ['-c', `${path.basename(archive)}.sha256`], { cwd: backups, encoding: 'utf8' })).toBe(`${path.basename(archive)}: OK\n`);
    const listing = execFileSync('tar', ['-tzvf', archive], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual(ARCHIVE_ENTRIES);
    expect(listing.find((l) => l.endsWith(' pki/ca.key'))).toMatch(/^-rw------- root\/root /);
    const metadata = execFileSync('tar', ['-xzOf', archive, 'metadata.json'], { encoding: 'utf8' });
    expect(Object.keys(JSON.parse(metadata))).toEqual(['timestamp', 'version', 'deploymentType', 'databaseIncluded']);
    expect(metadata).toMatch(
      /^\{\n {2}"timestamp": "\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z",\n {2}"version": "[^"]*",\n {2}"deploymentType": "podman",\n {2}"databaseIncluded": true\n\}$/,
    );
    const dumpHead = execFileSync('sh', ['-c', `tar -xzOf ${archive} db/dump.sql | head -c 20000`], { encoding: 'utf8' });
    expect(dumpHead).toMatch(/^--\n-- PostgreSQL database dump/);
    expect(dumpHead).toMatch(/DROP TABLE IF EXISTS/);
    expect(execFileSync('sh', ['-c', `tar -xzOf ${archive} volumes/pam-issuer-etc.tar | tar -tf -`], { encoding: 'utf8' })).toMatch(/passwd/);
    expect((await env.snapshot()).apps).toEqual(before.apps);
    expect(readdirSync(backups).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('restore from our archive: later changes gone, devices marked, Flight Control files as in the archive', async () => {
    const db = await connectSandboxDb(env.sb);
    await db.query(`INSERT INTO devices (org_id, name, status) VALUES ('00000000-0000-0000-0000-000000000000', 'after-backup-1', '{}')`);
    await db.end();
    writeEtc(etc, 'changed');
    writeFileSync(path.join(etc, 'pki', 'kept-local.crt'), 'not in the archive\n');
    await pamVolume('root:x:0:0:changed');
    const r = await agent(['run', '--archive', archive, ...etcArgs(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(run.phase).toBe('Succeeded');
    expect(statuses(run)).toMatchObject({
      'unpack-archive': 'ok',
      'load-dump': 'changed',
      'swap-database': 'changed',
      'restore-pki': 'changed',
      'restore-encryption': 'changed',
      'restore-config': 'changed',
      'restore-pam-volume': 'changed',
      'wait-for-database': 'skipped',
    });
    const facts = await restoredFacts(env.sb);
    expect(facts.devices.has('after-backup-1')).toBe(false);
    expect(facts.unmarked).toEqual([]);
    const original = path.join(env.dir, 'etc-original');
    execFileSync('sh', ['-c', `mkdir -p ${original} && tar -xzf ${archive} -C ${original} pki encryption config`]);
    for (const f of ['pki/ca.crt', 'pki/ca.key', 'pki/flightctl-api/server.key', 'encryption/key.b64'])
      expect(readFileSync(path.join(etc, f), 'utf8'), f).toBe(readFileSync(path.join(original, f), 'utf8'));
    expect(readFileSync(path.join(etc, 'service-config.yaml'), 'utf8')).toBe(readFileSync(path.join(original, 'config', 'service-config.yaml'), 'utf8'));
    expect(readFileSync(path.join(etc, 'pki', 'kept-local.crt'), 'utf8')).toBe('not in the archive\n');
    expect(await pamPasswd()).toBe('root:x:0:0:original');
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
    const snap = await env.snapshot();
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
    expect(snap.databases).toEqual(['flightctl']);
  });

  /** A staging tree laid out as Flight Control's backup writes it. */
  function upstreamStaging(name: string, opts: { dump?: string; encryption?: boolean } = {}): string {
    const s = path.join(env.dir, name);
    rmSync(s, { recursive: true, force: true });
    mkdirSync(path.join(s, 'config'), { recursive: true, mode: 0o700 });
    copyFileSync(path.join(etc, 'service-config.yaml'), path.join(s, 'config', 'service-config.yaml'));
    cpSync(path.join(etc, 'pki'), path.join(s, 'pki'), { recursive: true });
    if (opts.encryption !== false) cpSync(path.join(etc, 'encryption'), path.join(s, 'encryption'), { recursive: true });
    mkdirSync(path.join(s, 'volumes'), { mode: 0o700 });
    if (opts.dump) {
      mkdirSync(path.join(s, 'db'), { mode: 0o755 });
      copyFileSync(opts.dump, path.join(s, 'db', 'dump.sql'));
    }
    return s;
  }
  const meta = (over: object = {}) => ({
    timestamp: '2026-05-21T14:30:22.123456789Z',
    version: 'v1.2.0',
    deploymentType: 'podman' as const,
    databaseIncluded: true,
    ...over,
  });

  it("restores an archive written as Flight Control's own backup writes it", async () => {
    await env.reset();
    const out = path.join(env.dir, 'upstream');
    mkdirSync(out, { recursive: true });
    const a = buildUpstreamArchive(upstreamStaging('staging-upstream', { dump: env.dumps.plain, encryption: false }), out, meta());
    expect(execFileSync('tar', ['-tzf', a], { encoding: 'utf8' })).toMatch(/^config\nconfig\/service-config.yaml\ndb\ndb\/dump.sql\nmetadata.json\npki\n/);
    const r = await agent(['run', '--archive', a, ...etcArgs(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(run.steps.find((s) => s.name === 'restore-encryption')).toMatchObject({ status: 'ok', warnings: [expect.stringMatching(/no encryption keys/)] });
    const facts = await restoredFacts(env.sb);
    for (const d of env.changes.addedDevices) expect(facts.devices.has(d.name)).toBe(false);
    expect(facts.unmarked).toEqual([]);
  });

  it('a corrupted archive or a missing sidecar is refused before any service is touched', async () => {
    const before = await env.snapshot();
    const bad = path.join(env.dir, 'bad', path.basename(archive));
    mkdirSync(path.dirname(bad), { recursive: true });
    const bytes = readFileSync(archive);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(bad, bytes);
    copyFileSync(`${archive}.sha256`, `${bad}.sha256`);
    const r = await agent(['run', '--archive', bad, ...etcArgs(), '--json']);
    expect(r.code).toBe(33);
    expect(finishedRun(r.stdout).error).toMatchObject({ code: 'RESTORE_ERR_CHECKSUM_MISMATCH', message: expect.stringMatching(/damaged or incomplete copy/) });
    rmSync(`${bad}.sha256`);
    const r2 = await agent(['run', '--archive', bad, ...etcArgs(), '--json']);
    expect(r2.code).toBe(33);
    expect(finishedRun(r2.stdout).error?.message).toMatch(/checksum file .* is missing/);
    expect(await env.snapshot()).toEqual(before);
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
  });

  it('an archive whose dump does not load: the original database kept, the services never stopped', async () => {
    await env.reset();
    const before = await env.snapshot();
    const broken = path.join(env.dir, 'broken.sql');
    const text = readFileSync(env.dumps.plain, 'utf8');
    const at = text.indexOf('COPY ');
    writeFileSync(broken, `${text.slice(0, at)}INSERT INTO no_such_table VALUES (1);\n${text.slice(at)}`);
    const out = path.join(env.dir, 'upstream-broken');
    mkdirSync(out, { recursive: true });
    const a = buildUpstreamArchive(upstreamStaging('staging-broken', { dump: broken }), out, meta());
    const r = await agent(['run', '--archive', a, ...etcArgs(), '--json']);
    expect(r.code).toBe(20);
    const run = finishedRun(r.stdout);
    expect(run.steps.map((s) => s.name)).not.toContain('stop-services');
    expect(await env.snapshot()).toEqual(before);
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
  });

  it('an archive of another deployment type is refused', async () => {
    const out = path.join(env.dir, 'upstream-k8s');
    mkdirSync(out, { recursive: true });
    const a = buildUpstreamArchive(upstreamStaging('staging-k8s', { dump: env.dumps.plain }), out, meta({ deploymentType: 'kubernetes' }));
    const r = await agent(['run', '--archive', a, ...etcArgs(), '--json']);
    expect(r.code).toBe(34);
    expect(finishedRun(r.stdout).error?.message).toMatch(/backup of a kubernetes deployment; this host runs Flight Control on podman/);
  });

  it('an external database: the run waits with the services stopped, and goes on after continue', async () => {
    await env.reset();
    const out = path.join(env.dir, 'upstream-external');
    mkdirSync(out, { recursive: true });
    const a = buildUpstreamArchive(upstreamStaging('staging-external'), out, meta({ databaseIncluded: false }));
    const { running, id } = await spawnUntilWaiting(env, ['run', '--archive', a, ...etcArgs(), '--json']);
    expect(Object.values((await env.snapshot()).apps).every((c) => c === '')).toBe(true);
    // The operator restores the external database with their own tools.
    await adminSql(env.sb, 'DROP DATABASE flightctl WITH (FORCE);\nCREATE DATABASE flightctl OWNER flightctl_app;\n');
    await loadDump(env.sb, { format: 'plain', file: env.dumps.plain, database: 'flightctl' });
    const c = await agent(['continue', id, '--json']);
    expect(c.code, c.stderr).toBe(0);
    const r = await running.done;
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toMatchObject({
      'load-dump': 'skipped',
      'prepare-database': 'skipped',
      'wait-for-database': 'changed',
      'swap-database': 'skipped',
      'prepare-kv': 'changed',
    });
    const facts = await restoredFacts(env.sb);
    expect(facts.unmarked).toEqual([]);
    expect((await env.snapshot()).kv).toEqual(facts.expectedKeys);
    expect((await agent(['continue', id])).code).toBe(2);
  });

  it('an external database nobody restores: the run gives up after its timeout and the services come back', async () => {
    const out = path.join(env.dir, 'upstream-external-2');
    mkdirSync(out, { recursive: true });
    const a = buildUpstreamArchive(upstreamStaging('staging-external-2'), out, meta({ databaseIncluded: false }));
    const r = await agent(['run', '--archive', a, ...etcArgs(), '--json'], { FLIGHTCTL_RESTORE_DATABASE_WAIT_TIMEOUT_MS: '1500' });
    expect(r.code).toBe(36);
    const run = finishedRun(r.stdout);
    expect(run.error?.code).toBe('RESTORE_ERR_DATABASE_WAIT_TIMEOUT');
    expect(run.finalizers.join('\n')).toMatch(/started flightctl-api.service/);
    const snap = await env.snapshot();
    for (const app of APPS) expect(snap.apps[app]).not.toBe('');
    expect(existsSync(path.join(env.stateDir, 'active-run.json'))).toBe(false);
  });

  it('a PAM issuer volume in use is reported, not replaced in silence', async () => {
    await env.sb.nsExec(['podman', 'run', '-d', '--name', 'pam-user', '-v', 'flightctl-pam-issuer-etc:/userdb', 'localhost/busybox:latest', 'sleep', '600']);
    try {
      await pamVolume('root:x:0:0:in-use');
      const r = await agent(['run', '--archive', archive, ...etcArgs(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const step = finishedRun(r.stdout).steps.find((s) => s.name === 'restore-pam-volume')!;
      expect(step).toMatchObject({
        status: 'ok',
        data: { volume: 'in-use' },
        warnings: [expect.stringMatching(/in use by a running container and was NOT replaced/)],
      });
      expect(await pamPasswd()).toBe('root:x:0:0:in-use');
    } finally {
      await env.sb.nsExec(['podman', 'rm', '-f', '-t', '0', 'pam-user']);
    }
  });

  it("killed while restoring Flight Control's files: recover completes them from the extracted archive", async () => {
    await env.reset();
    writeEtc(etc, 'before-crash');
    const running = await spawnHeld(
      (fault) => env.spawn(['run', '--archive', archive, ...etcArgs(), '--json'], fault),
      'before:restore-encryption',
      path.join(env.dir, 'hold-files'),
    );
    running.process.kill('SIGKILL');
    printed.push((await running.done).all);
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toHaveLength(1);
    const rec = await agent(['recover', ...etcArgs(), '--json']);
    expect(rec.code, rec.stderr).toBe(0);
    const actions = (JSON.parse(rec.stdout) as { recovered: { actions: string[] }[] }).recovered[0]!.actions.join('\n');
    expect(actions).toMatch(/replaced .*encryption/);
    expect(actions).toMatch(/removed the extracted archive/);
    const original = path.join(env.dir, 'etc-original');
    expect(readFileSync(path.join(etc, 'encryption', 'key.b64'), 'utf8')).toBe(readFileSync(path.join(original, 'encryption', 'key.b64'), 'utf8'));
    expect(readFileSync(path.join(etc, 'service-config.yaml'), 'utf8')).toBe(readFileSync(path.join(original, 'config', 'service-config.yaml'), 'utf8'));
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
    expect(readdirSync(etc).filter((f) => f.startsWith('.'))).toEqual([]);
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
    const snap = await env.snapshot();
    for (const app of APPS) expect(snap.apps[app]).not.toBe('');
  });

  it("recover settles what Flight Control's own flightctl-restore left when it was interrupted swapping the keys", async () => {
    const up = path.join(env.dir, 'etc-after-upstream');
    rmSync(up, { recursive: true, force: true });
    // Killed between its two renames: the live keys moved aside, the archive's half staged.
    mkdirSync(path.join(up, 'encryption.bak'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(up, 'encryption.bak', 'key.b64'), 'keys-before-that-restore\n', { mode: 0o600 });
    mkdirSync(path.join(up, '.enc-restore-2731'), { mode: 0o700 });
    writeFileSync(path.join(up, '.enc-restore-2731', 'key.b64'), 'half-copied');
    const r = await agent(['recover', '--flightctl-etc', up, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { leftovers: string[]; notes: string[]; ok: boolean };
    expect(report).toMatchObject({ ok: false, notes: [] });
    expect(report.leftovers).toEqual([
      expect.stringMatching(/^put back .*etc-after-upstream\/encryption from encryption\.bak, .*restore the same archive again/),
      expect.stringMatching(/^removed .*\.enc-restore-2731, a partial copy/),
    ]);
    expect(readFileSync(path.join(up, 'encryption', 'key.b64'), 'utf8')).toBe('keys-before-that-restore\n');
    expect(readdirSync(up).sort()).toEqual(['encryption']);

    // Killed after its swap, before removing the old keys: they stay, with a note.
    cpSync(path.join(up, 'encryption'), path.join(up, 'encryption.bak'), { recursive: true });
    const noted = await agent(['recover', '--flightctl-etc', up, '-o', 'text']);
    expect(noted.code, noted.stderr).toBe(0);
    expect(noted.stdout).toMatch(/^ok: nothing to recover\nnote: .*encryption\.bak holds the encryption keys from before an interrupted flightctl-restore/);
    expect(readdirSync(up).sort()).toEqual(['encryption', 'encryption.bak']);

    // While a flightctl-restore runs, its work in progress is not touched.
    rmSync(path.join(up, 'encryption'), { recursive: true });
    const upstream = spawn('sleep', ['60'], { argv0: '/usr/bin/flightctl-restore', stdio: 'ignore' });
    try {
      const busy = await agent(['recover', '--flightctl-etc', up, '--json']);
      expect(JSON.parse(busy.stdout)).toMatchObject({
        ok: true,
        leftovers: [],
        notes: [expect.stringMatching(/flightctl-restore is running; its work .* is left alone/)],
      });
      expect(readdirSync(up)).toEqual(['encryption.bak']);
    } finally {
      upstream.kill('SIGKILL');
    }
  });

  it('the dump is loaded straight out of the archive (no copy on disk); an archive changed after it was verified fails the load, nothing else changes', async () => {
    await env.reset();
    const before = await env.snapshot();
    const copy = path.join(env.dir, 'changed', path.basename(archive));
    mkdirSync(path.dirname(copy), { recursive: true });
    copyFileSync(archive, copy);
    copyFileSync(`${archive}.sha256`, `${copy}.sha256`);
    const hold = path.join(env.dir, 'hold-load');
    const running = await spawnHeld((fault) => env.spawn(['run', '--archive', copy, ...etcArgs(), '--json'], fault), 'before:load-dump', hold);
    const [extracted] = readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'));
    expect(readdirSync(path.join(env.stateDir, extracted!, 'pki')).sort()).toEqual(['ca.crt', 'ca.key', 'flightctl-api']);
    expect(existsSync(path.join(env.stateDir, extracted!, 'db', 'dump.sql'))).toBe(false);
    // Changed in place after the verification (gunzip alone would not notice trailing zeros).
    appendFileSync(copy, Buffer.alloc(4096));
    rmSync(hold);
    const r = await running.done;
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(33);
    const run = finishedRun(r.stdout);
    expect(run.error).toMatchObject({ code: 'RESTORE_ERR_CHECKSUM_MISMATCH', message: expect.stringMatching(/changed after it was verified/) });
    expect(statuses(run)['load-dump']).toBe('failed');
    expect(run.steps.map((s) => s.name)).not.toContain('stop-services');
    expect(await env.snapshot()).toEqual(before);
    expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
  });

  it('flightctl-restorectl through serve: backups create, backups, restore --archive of that backup by its name, an external-database archive continued', async () => {
    await env.reset();
    const kit = await serveKit(env, printed);
    const apiBackups = path.join(env.dir, 'api-backups');
    const s = await kit.serve(['--backup-dir', apiBackups, ...etcArgs()]);
    const token = { FLIGHTCTL_RESTORE_TOKEN: kit.token };
    const ctl = async (args: string[]) => {
      const r = await restorectl([...args, '--host', s.base], token);
      printed.push(r.all);
      return r;
    };
    type Hosts<K extends string, T> = { hosts: Array<{ host: string; ok: boolean; error: { code: string } | null } & Record<K, T>> };

    const made = await ctl(['backups', 'create', '-o', 'json']);
    expect(made.code, made.stderr).toBe(0);
    const backup = (JSON.parse(made.stdout) as Hosts<'backup', { archive: string; sha256: string }>).hosts[0]!.backup;
    expect(path.dirname(backup.archive)).toBe(apiBackups);
    const name = path.basename(backup.archive);
    const listed = JSON.parse((await ctl(['backups', '-o', 'json'])).stdout) as Hosts<'backups', Array<{ name: string; sha256?: string }>>;
    expect(listed.hosts[0]!.backups[0]).toMatchObject({ name, sha256: backup.sha256 });
    const made2 = await s.call('POST', '/v1/backups', { keep: 'all' });
    expect(made2.status).toBe(400);

    // A change after the backup; the archive is restored by the name the list gave, with no copy.
    const db = await connectSandboxDb(env.sb);
    await db.query(`INSERT INTO devices (org_id, name, status) VALUES ('00000000-0000-0000-0000-000000000000', 'after-api-backup', '{}')`);
    await db.end();
    const restored = await ctl(['restore', '--archive', name, '--wait', '-o', 'json']);
    expect(restored.code, restored.stderr).toBe(0);
    const doc = JSON.parse(restored.stdout) as { hosts: Array<{ result: string; phase: string; changedSteps: string[] }> };
    expect(doc.hosts[0]).toMatchObject({ result: 'succeeded', phase: 'Succeeded' });
    expect(doc.hosts[0]!.changedSteps).toEqual(expect.arrayContaining(['load-dump', 'swap-database', 'stop-services', 'start-services']));
    const facts = await restoredFacts(env.sb);
    expect(facts.devices.has('after-api-backup')).toBe(false);
    expect(facts.unmarked).toEqual([]);

    // An archive of an external database, in the import directory: restorectl says what to do, continue goes on.
    const imports = path.join(env.stateDir, 'imports');
    mkdirSync(imports, { recursive: true });
    const ext = path.basename(buildUpstreamArchive(upstreamStaging('staging-ctl-external'), imports, meta({ databaseIncluded: false })));
    const following = spawnRestorectl(['restore', '--archive', ext, '--wait', '--host', s.base], token);
    onTestFinished(() => {
      if (following.process.exitCode === null) following.process.kill('SIGKILL');
    });
    const hint = /waits for the external database: restore it, then run flightctl-restorectl continue (\S+) --host /;
    await following.waitFor(hint, 120_000);
    const id = hint.exec(following.output())![1]!;
    expect(Object.values((await env.snapshot()).apps).every((c) => c === '')).toBe(true);
    await adminSql(env.sb, 'DROP DATABASE flightctl WITH (FORCE);\nCREATE DATABASE flightctl OWNER flightctl_app;\n');
    await loadDump(env.sb, { format: 'plain', file: env.dumps.plain, database: 'flightctl' });
    const c = await ctl(['continue', id, '-o', 'json']);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ hosts: [{ ok: true, answer: { continued: id } }] });
    const r = await following.done;
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, hosts: [{ runId: id, result: 'succeeded', phase: 'Succeeded' }] });
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
    for (const app of APPS) expect((await env.snapshot()).apps[app]).not.toBe('');
    // Nothing waits any more: a second continue is refused with its code.
    const again = await ctl(['continue', id, '-o', 'json']);
    expect(again.code).not.toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ hosts: [{ ok: false, error: { code: expect.stringMatching(/^RESTORE_ERR_/) } }] });
    expect((await s.stop()).code).toBe(0);
  });

  it('--keep keeps the newest archives only, sidecars included', async () => {
    const r = await agent(['backup', '--backup-dir', backups, ...etcArgs(), '--keep', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { archive: newest, removed } = JSON.parse(r.stdout) as { archive: string; removed: string[] };
    expect(removed).toEqual([path.basename(archive)]);
    expect(readdirSync(backups).sort()).toEqual([path.basename(newest), `${path.basename(newest)}.sha256`]);
  });

  it('nothing printed or journaled holds a secret, a key, or the word Flight Control treats as a leak', () => {
    expect(printed.length).toBeGreaterThan(8);
    const keyLines = readFileSync(path.join(etc, 'pki', 'ca.key'), 'utf8')
      .split('\n')
      .filter((l) => l.length > 20 && !l.startsWith('-----'));
    expect(leaks(printed.join('\n'), [...env.secrets, ...keyLines])).toEqual([]);
    expect(leaks(env.journalText(), [...env.secrets, ...keyLines])).toEqual([]);
  });
});
