import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/lib/atomic-file.js';
import { dropinsInEffect, publishPorts } from '../../../src/targets/quadlet/dropins.js';
import { acquireEndpoints, removeLeftoverDropins } from '../../../src/targets/quadlet/endpoints.js';
import { openQuadletHost, type QuadletHost } from '../../../src/targets/quadlet/host.js';
import { startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';
import { hostSettings, waitFor } from './helpers.js';

/** Resolves true when a TCP connection to host:port is accepted. */
function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1500 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

describe('DB/KV endpoints and publish drop-ins (sandbox Quadlets host)', () => {
  let sb: Sandbox;
  let host: QuadletHost;
  let gateway: string;

  beforeAll(async () => {
    sb = await startSandbox();
    host = openQuadletHost(hostSettings(sb));
    // the bridge's own address on the host: a non-loopback address this test created
    gateway = sb.bridgeSubnet.replace(/\.0\/\d+$/, '.1');
  });
  afterAll(async () => {
    host?.close();
    await sb?.stop();
  });

  it('writeFileAtomic replaces a file whole and leaves no temp file', async () => {
    const f = path.join(sb.dir, 'atomic', 'x.json');
    mkdirSync(path.dirname(f), { recursive: true });
    await writeFileAtomic(f, 'one');
    await writeFileAtomic(f, 'two');
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(existsSync(path.dirname(f)) && (await import('node:fs')).readdirSync(path.dirname(f))).toEqual(['x.json']);
  });

  it('container-ip: DB and KV on their flightctl network IPs', async () => {
    const lease = await acquireEndpoints(host, 'container-ip');
    expect(lease.db.port).toBe(5432);
    expect(lease.kv.port).toBe(6379);
    expect(await connects(lease.db.host, 5432)).toBe(true);
    expect(await connects(lease.kv.host, 6379)).toBe(true);
    expect(await lease.release()).toEqual([]);
  });

  it('publish-dropin: 127.0.0.1 and a free port only, recorded before written, removed again', async () => {
    const lease = await acquireEndpoints(host, 'publish-dropin');
    try {
      for (const ep of [lease.db, lease.kv]) {
        expect(ep.host).toBe('127.0.0.1');
        expect(ep.inEffect).toBe(true);
        expect(ep.dropin).toBe(path.join(sb.dropinDir, `${ep.container}.container.d`, '10-publish-port.conf'));
        expect(readFileSync(ep.dropin!, 'utf8')).toContain(`PublishPort=127.0.0.1:${ep.port}:${ep.name === 'db' ? 5432 : 6379}\n`);
      }
      const state = await host.state.read();
      expect(state.dropins.map((d) => d.path).sort()).toEqual([lease.db.dropin, lease.kv.dropin].sort());
      // quadlet merged it: systemd lists no drop-in, our scan of the quadlet dirs does
      const st = await (await host.systemd()).status('flightctl-db.service');
      expect(st.dropInPaths).toEqual([]);
      expect((await dropinsInEffect(st.sourcePath, host.settings.quadletDirs)).map((d) => d.file)).toEqual([lease.db.dropin]);
      expect(await waitFor(async () => ((await connects('127.0.0.1', lease.db.port)) ? true : undefined))).toBe(true);
      expect(await waitFor(async () => ((await connects('127.0.0.1', lease.kv.port)) ? true : undefined))).toBe(true);
      // never on another address: the bridge's host address has nothing on those ports
      expect(await connects(gateway, lease.db.port)).toBe(false);
      expect(await connects(gateway, lease.kv.port)).toBe(false);
    } finally {
      const removed = await lease.release();
      expect(removed.map((r) => r.removed)).toEqual([true, true]);
    }
    expect(existsSync(lease.db.dropin!)).toBe(false);
    expect((await host.state.read()).dropins).toEqual([]);
    expect(await connects('127.0.0.1', lease.db.port)).toBe(false);
    expect(await connects('127.0.0.1', lease.kv.port)).toBe(false);
    const st = await (await host.systemd()).status('flightctl-db.service');
    expect(st.activeState).toBe('active');
    expect(await dropinsInEffect(st.sourcePath, host.settings.quadletDirs)).toEqual([]);
  });

  it('finds and removes a drop-in left behind by an earlier crash (recorded in the state file)', async () => {
    const systemd = await host.systemd();
    const ctx = { systemd, state: host.state, dropinDir: sb.dropinDir, timeoutMs: 60_000 };
    const st = await systemd.status('flightctl-kv.service');
    // the "crashed" run: published and never released
    const [p] = await publishPorts(ctx, [{ unit: 'flightctl-kv.service', sourcePath: st.sourcePath, containerPort: 6379 }]);
    expect(await waitFor(async () => ((await connects('127.0.0.1', p!.hostPort)) ? true : undefined))).toBe(true);
    const next = openQuadletHost(host.settings); // a new process
    try {
      const removed = await removeLeftoverDropins(next);
      expect(removed).toEqual([{ path: p!.path, unit: 'flightctl-kv.service', removed: true, source: 'state' }]);
    } finally {
      next.close();
    }
    expect(existsSync(p!.path)).toBe(false);
    expect(await connects('127.0.0.1', p!.hostPort)).toBe(false);
  });

  it('finds our drop-in by scanning when the state file was lost, and leaves other files alone', async () => {
    const systemd = await host.systemd();
    const ctx = { systemd, state: host.state, dropinDir: sb.dropinDir, timeoutMs: 60_000 };
    const st = await systemd.status('flightctl-db.service');
    const [p] = await publishPorts(ctx, [{ unit: 'flightctl-db.service', sourcePath: st.sourcePath, containerPort: 5432 }]);
    rmSync(host.state.file);
    const foreign = path.join(sb.dropinDir, 'flightctl-api.container.d', '10-publish-port.conf');
    mkdirSync(path.dirname(foreign), { recursive: true });
    writeFileSync(foreign, '[Container]\n# an admin file with our name but not our marker\n');
    const removed = await removeLeftoverDropins(host);
    expect(removed).toEqual([{ path: p!.path, unit: 'flightctl-db.service', removed: true, source: 'scan' }]);
    expect(existsSync(p!.path)).toBe(false);
    expect(existsSync(foreign)).toBe(true);
    rmSync(path.dirname(foreign), { recursive: true });
    expect(await removeLeftoverDropins(host)).toEqual([]);
  });

  it('lists drop-ins in effect from every quadlet dir, /run over /etc for the same name', async () => {
    const etc = path.join(sb.dir, 'etc-containers-systemd', 'flightctl-worker.container.d');
    const run = path.join(sb.dropinDir, 'flightctl-worker.container.d');
    const typeWide = path.join(sb.dir, 'etc-containers-systemd', 'flightctl-.container.d');
    for (const d of [etc, run, typeWide]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(etc, '20-x.conf'), '[Container]\nEnvironment=A=etc\n');
    writeFileSync(path.join(run, '20-x.conf'), '[Container]\nEnvironment=A=run\n');
    writeFileSync(path.join(etc, '30-y.conf'), '[Container]\nEnvironment=B=1\n');
    writeFileSync(path.join(typeWide, '40-z.conf'), '[Container]\nEnvironment=C=1\n');
    try {
      const systemd = await host.systemd();
      await systemd.reload();
      const st = await systemd.status('flightctl-worker.service');
      const eff = await dropinsInEffect(st.sourcePath, host.settings.quadletDirs);
      expect(eff.map((e) => e.file)).toEqual([path.join(run, '20-x.conf'), path.join(etc, '30-y.conf'), path.join(typeWide, '40-z.conf')]);
      // and the generated unit agrees
      const argv = (await systemd.execStart('flightctl-worker.service')).join(' ');
      expect(argv).toContain('A=run');
      expect(argv).not.toContain('A=etc');
      expect(argv).toContain('B=1');
      expect(argv).toContain('C=1');
    } finally {
      for (const d of [etc, run, typeWide]) rmSync(d, { recursive: true, force: true });
      await (await host.systemd()).reload();
    }
  });
});
