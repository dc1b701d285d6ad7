import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT, leaks, spawnHeld } from '../cli/run-cli.js';
import { finishedRun, startRestoreEnv, statuses, type RestoreEnv } from './restore-env.js';

/**
 * The database volume of this sandbox is a 128 MiB ext4 file system (a loop-mounted image, so the
 * database outlives a crash of its server), so it can really run short: the restore must refuse
 * in preflight, before anything changes, when a second copy of the database would not fit, and go
 * ahead on the same volume once there is room; a volume that fills up under the load fails the
 * run without touching the live database.
 */
describe('run: free space in the database volume (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  let podman: PodmanClient;
  const filler = '/var/lib/pgsql/data/filler';

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 600, sandboxEnv: { QH_DB_VOLUME_MB: '128' } });
    podman = new PodmanClient(env.sb.podmanSocket);
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function freeKiB(): Promise<number> {
    const r = await podman.exec('flightctl-db', { cmd: ['df', '-Pk', '/var/lib/pgsql/data'], user: 'postgres' });
    return Number(r.stdout.trim().split('\n')[1]!.trim().split(/\s+/)[3]);
  }

  it('refuses when the volume cannot hold a second copy, and changes nothing', async () => {
    await env.reset();
    // Leave 2 MiB free: far less than the database.
    const fill = (await freeKiB()) - 2048;
    const r0 = await podman.exec('flightctl-db', { cmd: ['sh', '-c', `head -c ${fill}k /dev/zero > ${filler}`], user: 'postgres' });
    expect(r0.exitCode, r0.stderr).toBe(0);
    const before = await env.snapshot();
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    expect(r.code).toBe(21);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toEqual({ preflight: 'failed' });
    expect(run.error).toMatchObject({
      code: 'RESTORE_ERR_INSUFFICIENT_SPACE',
      message: expect.stringMatching(/^the database volume has [\d.]+ MiB free, the restore needs [\d.]+ MiB/),
    });
    expect(r.stderr).toMatch(/what to do: Free space in the database's volume/);
    expect(await env.snapshot()).toEqual(before);
    expect(leaks(r.all, env.secrets)).toEqual([]);
  });

  it('with room again, the same run goes ahead', async () => {
    await podman.exec('flightctl-db', { cmd: ['rm', '-f', filler], user: 'postgres' });
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(finishedRun(r.stdout).phase).toBe('Succeeded');
  });

  it('the volume fills up in the middle of the load: the run fails saying so, the live database is untouched, and once there is room nothing temporary is left', async () => {
    await env.reset();
    const before = await env.snapshot();
    const hold = path.join(env.dir, 'hold-disk');
    // Half the dump is in when the run holds; then the volume is filled to its last 256 KiB.
    const agent = await spawnHeld((f) => env.spawn(['run', '--dump', env.dumps.plain, '--json'], f), 'progress:load-dump', hold);
    // (The server writes meanwhile: a fill that meets the end of the volume first is as good.)
    await podman.exec('flightctl-db', { cmd: ['sh', '-c', `head -c ${(await freeKiB()) - 256}k /dev/zero > ${filler}; true`], user: 'postgres' });
    expect(await freeKiB()).toBeLessThan(1024);
    rmSync(hold, { force: true });
    // The load fails; then the operator frees space (from the host's side: the server may have
    // stopped on the full volume), while the finalizers wait for the server to drop what the load left.
    await agent.waitForStderr('step load-dump failed', 120_000);
    await env.sb.nsExec(['rm', '-f', path.join(env.sb.dir, 'db-volume', path.basename(filler))]);
    const r = await agent.done;
    const run = finishedRun(r.stdout);
    expect(run.phase, r.stderr).toBe('Failed');
    expect(run.steps.find((s) => s.status === 'failed')?.name).toBe('load-dump');
    // Out of space at a data file (53100), or the server stopped at its WAL (PANIC): said either way.
    expect(run.error).toMatchObject({ code: expect.stringMatching(/^RESTORE_ERR_DB_(DISK_FULL|UNREACHABLE)$/) as unknown });
    expect(run.steps.map((s) => s.name)).not.toContain('stop-services');
    // Whatever the finalizers could not do on the full volume, recover does.
    if (existsSync(path.join(env.stateDir, 'active-run.json'))) {
      const rec = await env.agent(['recover', '--json']);
      expect(rec.code, rec.stderr).toBe(0);
    }
    const after = await env.snapshot();
    expect(after.live).toEqual(before.live);
    expect(after.databases).toEqual(['flightctl']);
    expect(after.kv).toEqual(before.kv);
    expect(after.apps).toEqual(before.apps);
    expect(leaks(r.all, env.secrets)).toEqual([]);
  });

  /** Flight Control's configuration directory, enough for a backup. */
  function backupEtc(): string {
    const etc = path.join(env.dir, 'etc-backup');
    mkdirSync(path.join(etc, 'pki'), { recursive: true });
    writeFileSync(path.join(etc, 'service-config.yaml'), 'global:\n  baseDomain: example.com\n');
    writeFileSync(path.join(etc, 'pki', 'ca.crt'), 'a certificate\n');
    return etc;
  }

  /** The size of a backup where there is room. */
  async function archiveBytes(etc: string): Promise<{ bytes: number; archive: string }> {
    const roomy = await env.agent([
      'backup',
      '--backup-dir',
      path.join(env.dir, 'roomy-backups', String(Math.random()).slice(2)),
      '--flightctl-etc',
      etc,
      '--json',
    ]);
    expect(roomy.code, roomy.stderr).toBe(0);
    return JSON.parse(roomy.stdout) as { bytes: number; archive: string };
  }

  /**
   * A backup into `dir` after `setup` (a shell script given the directory as $1) ran in a mount
   * namespace of the agent's own (gone when it ends): what it printed, its exit code and what it left.
   */
  async function backupInOwnMount(dir: string, etc: string, setup: string): Promise<{ stdout: string; stderr: string }> {
    mkdirSync(dir, { recursive: true });
    const script = [setup, 'shift', '"$@"', 'echo "agent exit $?" >&2', 'echo "left: [$(ls -A "$BACKUPS" | tr "\\n" " ")]" >&2'].join('\n');
    const args = ['backup', '--backup-dir', dir, '--flightctl-etc', etc, '--config', env.configFile, '--json'];
    return new Promise((resolve) => {
      const p = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, process.execPath, AGENT, ...args], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BACKUPS: dir },
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('close', () => resolve({ stdout, stderr }));
    });
  }

  it('the backup directory fills up during a backup: the backup fails saying so, and no partial archive or sidecar stays', async () => {
    const etc = backupEtc();
    // A tmpfs of half the archive's size: the check before the dump passes (no archive there yet).
    const { bytes } = await archiveBytes(etc);
    const r = await backupInOwnMount(
      path.join(env.dir, 'small-backups'),
      etc,
      `mount -t tmpfs -o size=${Math.max(4, Math.floor(bytes / 2 / 4096) * 4)}k tmpfs "$1" || exit 99`,
    );
    expect(r.stderr).toMatch(/agent exit 35/);
    expect(r.stderr).toMatch(/ran out of space while the database dump was written, and no archive was left: free space there or give another --backup-dir/);
    expect(r.stderr).toMatch(/left: \[\]/);
    expect(leaks(r.stdout + r.stderr, env.secrets)).toEqual([]);
  });

  it('a read-only backup directory fails before anything is written', async () => {
    const etc = backupEtc();
    const r = await backupInOwnMount(path.join(env.dir, 'ro-backups'), etc, 'mount -t tmpfs -o ro,size=1m tmpfs "$1" || exit 99');
    expect(r.stderr).toMatch(/agent exit 35/);
    expect(JSON.parse(r.stdout)).toMatchObject({
      error: {
        code: 'RESTORE_ERR_BACKUP_FAILED',
        message: expect.stringMatching(/ro-backups is on a read-only file system; nothing was written: give a writable --backup-dir$/),
      },
    });
    expect(r.stderr).not.toMatch(/database dumped/);
    expect(r.stderr).toMatch(/left: \[\]/);
  });

  it('a backup directory with less room than the newest archive there fails before anything is written', async () => {
    const etc = backupEtc();
    const { bytes, archive } = await archiveBytes(etc);
    // Room for the archive already there and a third of another.
    const kib = Math.ceil((bytes * 1.33) / 4096) * 4 + 8;
    const name = path.basename(archive);
    const r = await backupInOwnMount(
      path.join(env.dir, 'full-backups'),
      etc,
      `mount -t tmpfs -o size=${kib}k tmpfs "$1" && cp ${archive} ${archive}.sha256 "$1"/ || exit 99`,
    );
    expect(r.stderr).toMatch(/agent exit 35/);
    expect(JSON.parse(r.stdout)).toMatchObject({
      error: {
        code: 'RESTORE_ERR_BACKUP_FAILED',
        message: expect.stringMatching(
          new RegExp(`full-backups has [\\d.]+ KiB free: the newest archive there, ${name.replace(/\./g, '\\.')}, has .* nothing was written`),
        ),
      },
    });
    expect(r.stderr).not.toMatch(/database dumped/);
    expect(r.stderr).toMatch(new RegExp(`left: \\[${name.replace(/\./g, '\\.')} ${name.replace(/\./g, '\\.')}\\.sha256 \\]`));
  });

  it('a backup directory that does not exist is created (0700)', async () => {
    const dir = path.join(env.dir, 'new-parent', 'backups');
    rmSync(path.join(env.dir, 'new-parent'), { recursive: true, force: true });
    const r = await env.agent(['backup', '--backup-dir', dir, '--flightctl-etc', backupEtc(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});
