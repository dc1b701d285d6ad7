import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';
import { SystemdClient } from '../../../src/targets/quadlet/systemd.js';

const AGENT = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'agent.js');
const APPS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('CLI on the sandbox Quadlets host (built binary)', () => {
  let sb: Sandbox;
  let sd: SystemdClient;
  let stateDir: string;
  const successOutput: string[] = [];

  const flags = () => [
    '--dbus-address',
    sb.busAddress,
    '--podman-socket',
    sb.podmanSocket,
    '--podman-root',
    sb.podmanRoot,
    '--dropin-dir',
    sb.dropinDir,
    '--quadlet-dirs',
    sb.quadletDirs.join(':'),
    '--state-dir',
    stateDir,
  ];
  const cli = (args: string[], extraFlags = true): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        'node',
        [AGENT, ...args, ...(extraFlags ? flags() : [])],
        { timeout: 110_000, env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: '' } },
        (err, stdout, stderr) => {
          const code = err ? ((err as { code?: number }).code ?? 1) : 0;
          if (code === 0) successOutput.push(stdout, stderr);
          resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
        },
      );
    });
  const state = (u: string) => sd.status(u).then((s) => s.activeState);

  beforeAll(async () => {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
    sb = await startSandbox();
    sd = await SystemdClient.connect({ address: sb.busAddress });
    stateDir = mkdtempSync(path.join(sb.dir, 'cli-state-'));
  });
  afterAll(async () => {
    sd?.close();
    await sb?.stop();
  });

  it('services: every Flight Control unit with states, SourcePath and drop-ins in effect', async () => {
    const dir = path.join(sb.dir, 'etc-containers-systemd', 'flightctl-api.container.d');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, '50-test.conf'), '[Container]\nEnvironment=X=1\n');
    const r = await cli(['services', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      services: { unit: string; loadState: string; activeState: string; sourcePath: string; quadletDropIns: { file: string }[] }[];
    };
    expect(doc.services.map((s) => s.unit)).toEqual([...APPS, 'flightctl-db.service', 'flightctl-kv.service']);
    for (const s of doc.services) {
      expect(s).toMatchObject({ loadState: 'loaded', activeState: 'active' });
      expect(s.sourcePath).toBe(`/usr/share/containers/systemd/${s.unit.replace('.service', '.container')}`);
    }
    expect(doc.services[0]!.quadletDropIns.map((d) => d.file)).toEqual([path.join(dir, '50-test.conf')]);
    const text = await cli(['services', '-o', 'text']);
    expect(text.stdout).toMatch(/flightctl-db\.service\s+loaded\s+active\/running/);
    expect(text.stdout).toContain(`drop-in ${path.join(dir, '50-test.conf')}`);
  });

  it('services stop|start: concurrently; start brings back only what stop stopped, across invocations', async () => {
    // flightctl-periodic is already stopped before the restore: it must stay stopped
    expect((await sd.runJob('StopUnit', 'flightctl-periodic.service', 30_000)).ok).toBe(true);
    const stop = await cli(['services', 'stop', '--json']);
    expect(stop.code).toBe(0);
    const stopped = JSON.parse(stop.stdout) as { stop: { unit: string; action: string }[]; ok: boolean };
    expect(stopped.ok).toBe(true);
    const byUnit = Object.fromEntries(stopped.stop.map((c) => [c.unit, c.action]));
    expect(byUnit).toMatchObject({
      'flightctl-api.service': 'stopped',
      'flightctl-periodic.service': 'already-stopped',
      'flightctl-imagebuilder-api.service': 'not-installed',
      'flightctl-gateway.service': 'not-installed',
    });
    for (const u of APPS) expect(await state(u)).toBe('inactive');
    expect(await state('flightctl-db.service')).toBe('active');
    expect(await state('flightctl-kv.service')).toBe('active');

    const start = await cli(['services', 'start', '-o', 'text']); // a second invocation: the state file remembers
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/flightctl-api\.service\s+started/);
    expect(start.stdout).toMatch(/flightctl-periodic\.service\s+not-stopped-by-us/);
    for (const u of APPS.filter((u) => u !== 'flightctl-periodic.service')) expect(await state(u)).toBe('active');
    expect(await state('flightctl-periodic.service')).toBe('inactive');
    // idempotent: nothing left to start
    const again = JSON.parse((await cli(['services', 'start', '--json'])).stdout) as { start: { action: string }[] };
    expect(again.start.filter((c) => c.action === 'started')).toEqual([]);
    expect((await sd.runJob('StartUnit', 'flightctl-periodic.service', 30_000)).ok).toBe(true);
  });

  it('services stop: a unit that does not stop in time fails with its own exit code', async () => {
    const r = await cli(['services', 'stop', '--json', '--unit-timeout-ms', '100']);
    // podman stop takes longer than 100 ms: the wait gives up, reports, exits 11
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('RESTORE_ERR_UNIT_TIMEOUT');
    const doc = JSON.parse(r.stdout) as { stop: { unit: string; action: string; result?: string }[]; ok: boolean };
    expect(doc.ok).toBe(false);
    expect(doc.stop.some((c) => c.result === 'timeout')).toBe(true);
    // the jobs still complete; start brings every one back
    for (const u of APPS) await expect.poll(() => state(u), { timeout: 30_000 }).toBe('inactive');
    const start = await cli(['services', 'start', '--json']);
    expect(start.code).toBe(0);
    for (const u of APPS) expect(await state(u)).toBe('active');
  });

  it('secrets check: required secrets readable, values never printed', async () => {
    const r = await cli(['secrets', 'check', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { secrets: { secret: string; readable: boolean; required: boolean }[]; ok: boolean };
    expect(doc.ok).toBe(true);
    expect(doc.secrets.filter((s) => s.required).map((s) => [s.secret, s.readable])).toEqual([
      ['db-app-credential', true],
      ['kv-credential', true],
    ]);
    expect((await cli(['secrets', 'check', '-o', 'text'])).stdout).toMatch(/kv-credential\s+readable/);
  });

  it('secrets check: a missing required secret is an error with its exit code', async () => {
    await sb.nsExec(['podman', 'secret', 'rm', 'flightctl-kv-password']);
    try {
      const r = await cli(['secrets', 'check', '--json']);
      expect(r.code).toBe(13);
      expect(r.stderr).toContain('RESTORE_ERR_SECRET_NOT_FOUND');
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false });
    } finally {
      const f = path.join(sb.dir, 'secrets', 'flightctl-kv-password');
      await sb.nsExec(['podman', 'secret', 'create', 'flightctl-kv-password', f]);
    }
  });

  it('endpoints (container-ip): DB and KV reachable with the Podman secrets', async () => {
    const r = await cli(['endpoints', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { strategy: string; db: { host: string; port: number; reachable: boolean }; kv: { reachable: boolean } };
    expect(doc.strategy).toBe('container-ip');
    expect(doc.db).toMatchObject({ port: 5432, reachable: true });
    expect(doc.db.host.startsWith(sb.bridgeSubnet.replace(/\.0\/\d+$/, '.'))).toBe(true);
    expect(doc.kv.reachable).toBe(true);
  });

  it('endpoints --strategy publish-dropin: publishes on 127.0.0.1, connects, removes again', async () => {
    const r = await cli(['endpoints', '--strategy', 'publish-dropin', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      db: { host: string; dropin: string; reachable: boolean };
      kv: { host: string; reachable: boolean };
      removed: { removed: boolean }[];
    };
    expect(doc.db).toMatchObject({ host: '127.0.0.1', reachable: true });
    expect(doc.kv).toMatchObject({ host: '127.0.0.1', reachable: true });
    expect(doc.removed.map((x) => x.removed)).toEqual([true, true]);
    expect(existsSync(doc.db.dropin)).toBe(false);
    const text = await cli(['endpoints', '--strategy', 'publish-dropin', '-o', 'text']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^db\s+flightctl-db\.service\s+127\.0\.0\.1:\d+\s+reachable/m);
  });

  it('endpoints --strategy publish-dropin: SIGTERM while published removes the drop-ins before exiting 130', async () => {
    const dropin = path.join(sb.dropinDir, 'flightctl-db.container.d', '10-publish-port.conf');
    const child = spawn('node', [AGENT, 'endpoints', '--strategy', 'publish-dropin', ...flags()], { env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Interrupt once the drop-in exists, i.e. while the port is published.
    for (let i = 0; i < 600 && !existsSync(dropin); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(dropin)).toBe(true);
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect(stderr).toContain('RESTORE_ERR_CANCELLED');
    expect(existsSync(dropin)).toBe(false);
    expect(existsSync(path.join(sb.dropinDir, 'flightctl-kv.container.d', '10-publish-port.conf'))).toBe(false);
    const recorded = JSON.parse(readFileSync(path.join(stateDir, 'quadlet-state.json'), 'utf8')) as { dropins: unknown[] };
    expect(recorded.dropins).toEqual([]);
  });

  it('endpoints: a stopped data store is reported as not running (exit 14), nothing published', async () => {
    expect((await sd.runJob('StopUnit', 'flightctl-kv.service', 60_000)).ok).toBe(true);
    try {
      const r = await cli(['endpoints', '--strategy', 'publish-dropin']);
      expect(r.code).toBe(14);
      expect(r.stderr).toContain('RESTORE_ERR_CONTAINER_NOT_RUNNING');
      expect(existsSync(path.join(sb.dropinDir, 'flightctl-db.container.d', '10-publish-port.conf'))).toBe(false);
    } finally {
      expect((await sd.runJob('StartUnit', 'flightctl-kv.service', 60_000)).ok).toBe(true);
    }
  });

  it('reads the host settings from --config (YAML host: section) as well as from flags', async () => {
    const file = path.join(sb.dir, 'agent.yaml');
    writeFileSync(
      file,
      [
        'host:',
        `  dbusAddress: "${sb.busAddress}"`,
        `  podmanSocket: ${sb.podmanSocket}`,
        `  podmanRoot: ${sb.podmanRoot}`,
        `  dropinDir: ${sb.dropinDir}`,
        `  quadletDirs: [${sb.quadletDirs.join(', ')}]`,
        `  stateDir: ${stateDir}`,
        '  endpointStrategy: container-ip',
        '  unitTimeoutMs: 30000',
        '',
      ].join('\n'),
    );
    const r = await cli(['services', '--json', '--config', file], false);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { services: unknown[] }).services).toHaveLength(7);
    const bad = await cli(['services', '--config', file, '--unit-timeout-ms', '5'], false);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('host.unitTimeoutMs');
  });

  it('without --dbus-address the bus comes from DBUS_SYSTEM_BUS_ADDRESS', async () => {
    const noBusFlag = flags().slice(2);
    const r = await new Promise<Run>((resolve) =>
      execFile(
        'node',
        [AGENT, 'services', '--json', ...noBusFlag],
        { env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: sb.busAddress } },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { services: { activeState: string }[] }).services.map((s) => s.activeState)).toContain('active');
  });

  it('unreachable D-Bus and Podman socket: clear errors and exit codes', async () => {
    // the last occurrence of a flag wins
    const r = await cli(['services', ...flags(), '--dbus-address', `unix:path=${sb.dir}/nope`], false);
    expect(r.code).toBe(9);
    expect(r.stderr).toContain('RESTORE_ERR_DBUS_UNREACHABLE');
    const p = await cli(['endpoints', ...flags(), '--podman-socket', `${sb.dir}/nope.sock`], false);
    expect(p.code).toBe(12);
    expect(p.stderr).toContain('RESTORE_ERR_PODMAN_UNREACHABLE');
  });

  it('nothing printed on success contains a secret value or the word "password"', () => {
    expect(successOutput.length).toBeGreaterThan(10);
    const all = successOutput.join('\n');
    for (const v of Object.values(sb.secrets)) expect(all).not.toContain(v);
    expect(all.toLowerCase()).not.toContain('password');
  });
});
