import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreError } from '../../../src/lib/errors.js';
import { SystemdClient } from '../../../src/targets/quadlet/systemd.js';
import { startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';

const APPS = [
  'flightctl-api.service',
  'flightctl-worker.service',
  'flightctl-periodic.service',
  'flightctl-alert-exporter.service',
  'flightctl-alertmanager-proxy.service',
];

describe('systemd over D-Bus (sandbox Quadlets host)', () => {
  let sb: Sandbox;
  let sd: SystemdClient;

  beforeAll(async () => {
    sb = await startSandbox();
    sd = await SystemdClient.connect({ address: sb.busAddress });
  });
  afterAll(async () => {
    sd?.close();
    await sb?.stop();
  });

  it('reads states and the SourcePath of quadlet units via LoadUnit', async () => {
    const st = await sd.status('flightctl-db.service');
    expect(st).toMatchObject({ loadState: 'loaded', activeState: 'active', subState: 'running' });
    expect(st.sourcePath).toBe('/usr/share/containers/systemd/flightctl-db.container');
    expect(st.dropInPaths).toEqual([]);
  });

  it('reports a unit that is not installed, and skips it in a job', async () => {
    expect((await sd.status('flightctl-gateway.service')).loadState).toBe('not-found');
    const out = await sd.runJob('StartUnit', 'flightctl-gateway.service', 5000);
    expect(out).toMatchObject({ result: 'not-found', ok: false });
  });

  it('stops several units concurrently, waits for every job, then starts them again', async () => {
    const t0 = Date.now();
    const stopped = await sd.runJobs('StopUnit', APPS, 60_000);
    expect(stopped.map((o) => [o.unit, o.result, o.activeState, o.ok])).toEqual(APPS.map((u) => [u, 'done', 'inactive', true]));
    // a stopped unit is unloaded; LoadUnit still answers
    expect((await sd.status('flightctl-api.service')).activeState).toBe('inactive');
    const started = await sd.runJobs('StartUnit', APPS, 60_000);
    expect(started.every((o) => o.ok && o.activeState === 'active')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('reports a job that fails', async () => {
    writeFileSync(path.join(sb.unitDir, 'qh-fail.service'), '[Service]\nType=oneshot\nExecStart=/bin/false\n');
    await sd.reload();
    const out = await sd.runJob('StartUnit', 'qh-fail.service', 10_000);
    expect(out).toMatchObject({ result: 'failed', activeState: 'failed', ok: false });
  });

  it('checks ActiveState after a start job ends done (a process that dies at once)', async () => {
    writeFileSync(path.join(sb.unitDir, 'qh-dies.service'), '[Service]\nType=simple\nExecStart=/bin/sh -c "exit 3"\n');
    await sd.reload();
    const out = await sd.runJob('StartUnit', 'qh-dies.service', 10_000);
    // systemd ends the job 'done'; the client looks again and sees the unit failed
    expect(out.result).toBe('done');
    expect(out.activeState).toBe('failed');
    expect(out.ok).toBe(false);
  });

  it('gives up on a unit that does not stop in time (bounded wait)', async () => {
    writeFileSync(
      path.join(sb.unitDir, 'qh-stubborn.service'),
      '[Service]\nExecStart=/bin/sh -c "trap \'\' TERM; while :; do sleep 1; done"\nKillMode=process\nTimeoutStopSec=60\n',
    );
    await sd.reload();
    expect((await sd.runJob('StartUnit', 'qh-stubborn.service', 10_000)).ok).toBe(true);
    const t0 = Date.now();
    const err = await sd.runJob('StopUnit', 'qh-stubborn.service', 800).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).code).toBe('RESTORE_ERR_UNIT_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(5000);
    const many = await sd.runJobs('StopUnit', ['qh-stubborn.service', 'flightctl-gateway.service'], 500);
    expect(many.map((o) => o.result)).toEqual(['timeout', 'not-found']);
    await sb.nsExec(['systemctl', 'kill', '-s', 'KILL', 'qh-stubborn.service']);
  });

  it('daemon-reload re-runs the quadlet generator', async () => {
    const q = path.join(sb.dir, 'etc-containers-systemd', 'qh-probe.container');
    writeFileSync(q, '[Container]\nImage=localhost/busybox:latest\nExec=sleep 1000\n');
    await sd.reload();
    const st = await sd.status('qh-probe.service');
    expect(st.loadState).toBe('loaded');
    expect(st.sourcePath).toBe('/etc/containers/systemd/qh-probe.container');
    expect((await sd.execStart('qh-probe.service')).join(' ')).toContain('localhost/busybox:latest');
  });

  it('fails clearly when the bus cannot be reached', async () => {
    const err = await SystemdClient.connect({ address: `unix:path=${sb.dir}/no-such-bus`, connectTimeoutMs: 3000 }).catch((e: unknown) => e);
    expect((err as RestoreError).code).toBe('RESTORE_ERR_DBUS_UNREACHABLE');
  });
});
