import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdClient } from '../../../src/targets/quadlet/systemd.js';
import { flightctlSchemaSql } from '../../harness/flightctl-schema.js';
import { startFakeFlightctlApi } from '../../harness/flightctl-api.js';
import { buildUpstreamArchive } from '../../harness/upstream-archive.js';
import { adminSql, connectSandboxDb, takeDump } from '../../harness/restore-scenario.js';
import { finishedRun, startRestoreEnv, statuses, type RestoreEnv } from './restore-env.js';

/**
 * The version check reads the running Flight Control's version from the flightctl-api
 * container's image tag. The sandbox runs its stand-in under a tag of our choosing (an image tag
 * and a quadlet drop-in setting Image=, as an upgrade would).
 */
describe('run: Flight Control versions (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  let sd: SystemdClient;
  let dropinDir: string;

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 300 });
    sd = await SystemdClient.connect({ address: env.sb.busAddress });
    dropinDir = path.join(env.sb.quadletDirs[1]!, 'flightctl-api.container.d');
  });
  afterAll(async () => {
    sd?.close();
    await env?.stop();
  });

  async function runApiAs(version: string) {
    const image = `quay.io/flightctl/flightctl-api:${version}`;
    await env.sb.nsExec(['podman', 'tag', 'localhost/busybox:latest', image]);
    mkdirSync(dropinDir, { recursive: true });
    writeFileSync(path.join(dropinDir, '90-image.conf'), `[Container]\nImage=${image}\n`);
    await sd.reload();
    expect((await sd.runJob('RestartUnit', 'flightctl-api.service', 60_000)).ok).toBe(true);
  }

  it('a Flight Control version this agent does not support stops the run before anything changes', async () => {
    await runApiAs('2.1.0');
    const before = await env.snapshot();
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    expect(r.code).toBe(22);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toEqual({ preflight: 'ok', 'version-check': 'failed' });
    expect(run.error).toMatchObject({
      code: 'RESTORE_ERR_VERSION_MISMATCH',
      message: 'Flight Control 2.1.0 runs on this host (image tag quay.io/flightctl/flightctl-api:2.1.0); this agent supports 0.5.0 to 1.x',
    });
    expect(await env.snapshot()).toEqual(before);
  });

  it('--force goes on, with a warning', async () => {
    const r = await env.agent(['run', '--check', '--force', '--dump', env.dumps.plain, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const step = finishedRun(r.stdout).steps.find((s) => s.name === 'version-check')!;
    expect(step).toMatchObject({ status: 'ok', data: { version: '2.1.0', forced: true } });
  });

  it('a supported version is recorded with its schema generation', async () => {
    await runApiAs('v1.2.0');
    const r = await env.agent(['run', '--check', '--dump', env.dumps.plain, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(finishedRun(r.stdout).steps.find((s) => s.name === 'version-check')).toMatchObject({
      status: 'ok',
      msg: 'Flight Control 1.2.0 (image tag quay.io/flightctl/flightctl-api:v1.2.0) is supported (schema device_timestamps)',
    });
  });

  it("with Flight Control's API configured, its /api/v1/version answer decides", async () => {
    const fcToken = 'fc-api-token-for-the-version-check';
    const fc = await startFakeFlightctlApi(fcToken);
    const tokenFile = path.join(env.dir, 'fc-token');
    writeFileSync(tokenFile, fcToken, { mode: 0o600 });
    const apiEnv = { FLIGHTCTL_RESTORE_FLIGHTCTL_API_URL: fc.url, FLIGHTCTL_RESTORE_FLIGHTCTL_TOKEN_FILE: tokenFile };
    try {
      fc.set({ version: 'v1.1.3' });
      const ok = await env.agent(['run', '--check', '--dump', env.dumps.plain, '--json'], apiEnv);
      expect(ok.code, ok.stderr).toBe(0);
      expect(finishedRun(ok.stdout).steps.find((s) => s.name === 'version-check')).toMatchObject({
        status: 'ok',
        data: { version: '1.1.3', source: `GET ${fc.url}/api/v1/version` },
      });
      fc.set({ version: 'v3.0.0' });
      const refused = await env.agent(['run', '--check', '--dump', env.dumps.plain, '--json'], apiEnv);
      expect(refused.code).toBe(22);
      expect(fc.calls.every((c) => c.authorization === `Bearer ${fcToken}`)).toBe(true);
      expect(ok.all + refused.all).not.toContain(fcToken);
    } finally {
      await fc.close();
    }
  });

  /** An archive as Flight Control's backup writes it, of the given release, with the sandbox's dump. */
  function archiveOf(version: string): string {
    const staging = path.join(env.dir, 'archive-versions', version || 'empty');
    rmSync(staging, { recursive: true, force: true });
    for (const d of ['config', 'pki', 'db']) mkdirSync(path.join(staging, d), { recursive: true });
    writeFileSync(path.join(staging, 'config', 'service-config.yaml'), 'db:\n  type: builtin\n');
    copyFileSync(env.dumps.plain, path.join(staging, 'db', 'dump.sql'));
    const out = `${staging}-out`;
    mkdirSync(out, { recursive: true });
    return buildUpstreamArchive(staging, out, { timestamp: '2026-12-01T00:00:00Z', version, deploymentType: 'podman', databaseIncluded: true });
  }
  const etcArgs = () => ['--flightctl-etc', path.join(env.dir, 'etc-flightctl')];
  const versionWarnings = (run: ReturnType<typeof finishedRun>) =>
    (run.steps.find((s) => s.name === 'version-check') as { warnings?: string[] } | undefined)?.warnings ?? [];

  describe('an archive restores onto the same major.minor (Flight Control 1.2.3 runs)', () => {
    beforeAll(async () => {
      await runApiAs('v1.2.3');
    });

    it('the same release: no warning', async () => {
      const r = await env.agent(['run', '--check', '--archive', archiveOf('v1.2.3'), ...etcArgs(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(versionWarnings(finishedRun(r.stdout))).toEqual([]);
    });

    it('another patch is restored, with a warning naming both versions', async () => {
      await env.reset();
      const r = await env.agent(['run', '--archive', archiveOf('v1.2.0'), ...etcArgs(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const run = finishedRun(r.stdout);
      expect(run.phase).toBe('Succeeded');
      expect(versionWarnings(run)).toEqual(['the archive is a backup of Flight Control 1.2.0, this host runs 1.2.3: the same 1.2 release, restored']);
    });

    it('a pre-release of the same major.minor is restored, with a warning', async () => {
      const r = await env.agent(['run', '--check', '--archive', archiveOf('1.2.4-rc1'), ...etcArgs(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(versionWarnings(finishedRun(r.stdout))).toEqual([
        'the archive is a backup of Flight Control 1.2.4-rc1, this host runs 1.2.3: the same 1.2 release, restored',
      ]);
    });

    it.each([
      ['another minor', 'v1.3.0', 'the archive is a backup of Flight Control 1.3.0, this host runs 1.2.3'],
      ['an older minor', 'v1.1.9', 'the archive is a backup of Flight Control 1.1.9, this host runs 1.2.3'],
      ['another major', 'v0.9.0', 'the archive is a backup of Flight Control 0.9.0, this host runs 1.2.3'],
      ['an unreadable version', 'latest', `the archive's Flight Control version ("latest" in metadata.json) cannot be read`],
      ['no version', '', `the archive's Flight Control version ("" in metadata.json) cannot be read`],
    ])('%s is refused before any change, with its own code and --force named', async (_what, version, message) => {
      const before = await env.snapshot();
      const r = await env.agent(['run', '--archive', archiveOf(version), ...etcArgs(), '--json']);
      expect(r.code).toBe(43);
      const run = finishedRun(r.stdout);
      expect(statuses(run)).toEqual({ 'unpack-archive': 'ok', preflight: 'ok', 'version-check': 'failed' });
      expect(run.error?.code).toBe('RESTORE_ERR_ARCHIVE_VERSION');
      expect(run.error?.message).toContain(message);
      expect(run.error?.message).toContain('--force');
      expect(await env.snapshot()).toEqual(before);
      expect(readdirSync(env.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
    });

    it('--force restores another minor, with the refusal as a warning', async () => {
      const r = await env.agent(['run', '--check', '--force', '--archive', archiveOf('v1.3.0'), ...etcArgs(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(versionWarnings(finishedRun(r.stdout))).toEqual([
        expect.stringMatching(/backup of Flight Control 1\.3\.0, this host runs 1\.2\.3: another release.*continuing because of --force$/),
      ]);
    });
  });

  it('a dump of another schema generation is refused after the load: dropped again, services never stopped', async () => {
    // A backup of a Flight Control before 1.0 (last_seen still a column of devices).
    await adminSql(env.sb, 'DROP DATABASE IF EXISTS legacy_fc; CREATE DATABASE legacy_fc OWNER flightctl_app;');
    const db = await connectSandboxDb(env.sb, 'legacy_fc');
    try {
      await db.query(flightctlSchemaSql('legacy'));
      await db.query(`INSERT INTO devices (org_id, name, status) VALUES ('00000000-0000-0000-0000-000000000000', 'old-device', '{}')`);
    } finally {
      await db.end();
    }
    const legacyDump = path.join(env.dir, 'legacy.sql');
    await takeDump(env.sb, { format: 'plain', file: legacyDump, database: 'legacy_fc' });
    await adminSql(env.sb, 'DROP DATABASE legacy_fc;');
    const before = await env.snapshot();
    const r = await env.agent(['run', '--dump', legacyDump, '--json']);
    expect(r.code).toBe(22);
    const run = finishedRun(r.stdout);
    expect(statuses(run)['load-dump']).toBe('failed');
    expect(run.error?.message).toMatch(/the dump has Flight Control's devices.last_seen schema, the running Flight Control expects device_timestamps/);
    expect(run.finalizers.join('\n')).toMatch(/dropped the temporary database/);
    expect(await env.snapshot()).toEqual(before);
    rmSync(dropinDir, { recursive: true, force: true });
  });
});
