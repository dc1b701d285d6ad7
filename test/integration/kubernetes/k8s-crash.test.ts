import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaks, spawnHeld, type RunningAgent } from '../cli/run-cli.js';
import { finishedRun } from '../runbook/restore-env.js';
import { fingerprint } from '../../harness/restore-scenario.js';
import { kvKeys, restoredFacts, startKubeEnv, type KubeEnv } from './kube-env.js';

const RESTORED = { 'flightctl-api': 3, 'flightctl-alertmanager-proxy': 1, 'flightctl-worker': 2, 'flightctl-periodic': 1, 'flightctl-alert-exporter': 0 };
const AT_ZERO = { 'flightctl-api': 0, 'flightctl-alertmanager-proxy': 0, 'flightctl-worker': 0, 'flightctl-periodic': 0, 'flightctl-alert-exporter': 0 };
const RECORDED = {
  'flightctl-api': '3',
  'flightctl-alertmanager-proxy': '1',
  'flightctl-worker': '2',
  'flightctl-periodic': '1',
  'flightctl-alert-exporter': undefined,
};

/**
 * A Job's process killed (kill -9: its pod evicted, its node gone) at a step boundary or in the
 * middle of the load; its filesystem is gone with it, so whoever comes next (a rerun of the Job,
 * `recover` in a second Job) finds everything in the cluster: the counts on the deployments, the
 * intent and the journal in ConfigMaps, a lease nobody renews.
 */
describe('run --target kubernetes: a Job killed mid-run', () => {
  let env: KubeEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startKubeEnv({ devices: 1500 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  /** Starts a run that holds at the point; answers once it is there. */
  async function runUntil(point: string, args: string[] = ['--dump', env.dump, '--json']): Promise<RunningAgent> {
    return spawnHeld((fault) => env.spawn('run', args, fault), point, path.join(env.dir, 'hold'));
  }

  async function kill(agent: RunningAgent): Promise<void> {
    agent.process.kill('SIGKILL');
    printed.push((await agent.done).all);
  }

  /** After whoever came next: every count back, nothing of the run left, the database whole. */
  async function expectWhole(): Promise<'original' | 'restored'> {
    expect(env.replicas()).toEqual(RESTORED);
    expect(Object.values(env.annotations()).filter(Boolean)).toEqual([]);
    expect(env.api.model.configmaps.has(`${env.ns.internal}/flightctl-restore-intent`)).toBe(false);
    // No temporary database is left; a completed restore keeps the previous one (<db>_old_<id>).
    const dbs = await env.databases();
    expect(dbs.filter((d) => d.includes('_restore_'))).toEqual([]);
    expect(dbs).toContain(env.database);
    const db = await env.live();
    let live;
    try {
      live = await fingerprint(db);
    } finally {
      await db.end();
    }
    if (JSON.stringify(live) === JSON.stringify(env.mutated)) {
      expect(dbs).toEqual([env.database]);
      return 'original';
    }
    const facts = await restoredFacts(env);
    for (const d of env.changes.addedDevices) expect(facts.devices.has(d.name)).toBe(false);
    expect(facts.unmarked).toEqual([]);
    expect(await kvKeys()).toEqual(facts.expectedKeys);
    return 'restored';
  }

  it('a rerun of the Job after its first run was killed with everything scaled to 0 restores every count, then restores', async () => {
    await env.reset();
    const first = await runUntil('after:stop-services');
    // Recorded on the deployments before they were scaled: the only copy that survives the Job.
    expect(env.replicas()).toEqual(AT_ZERO);
    expect(env.annotations()).toEqual(RECORDED);
    await kill(first);
    const t0 = Date.now();
    const r = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    // It told the dead holder's lease from a live one by watching it (2 s here), not forever.
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.stderr).toContain('did not renew it');
    expect(finishedRun(r.stdout).phase).toBe('Succeeded');
    expect(await expectWhole()).toBe('restored');
    const runs = [...env.api.model.configmaps.values()]
      .filter((c) => c.metadata.name.startsWith('flightctl-restore-run-'))
      .map((c) => JSON.parse(c.data['run.json']));
    const killed = runs.find((x) => x.phase !== 'Succeeded');
    expect(killed?.phase).toBe('Recovered');
    expect(killed?.recovery?.actions.join('\n')).toMatch(/started flightctl-api/);
  });

  // Before the swap commits, recovery rolls back; after it, it completes the restore.
  const cases: [string, 'original' | 'restored'][] = [
    ['before:load-dump', 'original'],
    ['progress:load-dump', 'original'],
    ['after:stop-services', 'original'],
    ['after:swap-database', 'restored'],
    ['before:start-services', 'restored'],
  ];
  for (const [point, expected] of cases) {
    it(`killed at ${point}: recover (a second Job) leaves the ${expected} database and every count back`, async () => {
      await env.reset();
      await kill(await runUntil(point));
      const r = await env.agent('recover', ['--json']);
      printed.push(r.all);
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { recovered: { phase: string; actions: string[] }[] };
      expect(report.recovered.map((x) => x.phase)).toEqual(['Recovered']);
      expect(await expectWhole()).toBe(expected);
    });
  }

  it('a second Job while the first is alive is refused (the lease is renewed), and the first, stopped by SIGTERM, scales everything back', async () => {
    await env.reset();
    const first = await runUntil('after:stop-services');
    const second = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(second.all);
    expect(second.code).toBe(19);
    expect(second.stdout).toContain('RESTORE_ERR_RUN_ACTIVE');
    expect(env.replicas()).toEqual(AT_ZERO);
    first.process.kill('SIGTERM');
    const r = await first.done;
    printed.push(r.all);
    expect(r.code).toBe(130);
    expect(await expectWhole()).toBe('original');
  });

  it('a Job frozen past its lease loses the lock: it stops without touching anything more, and whoever took the lock over finishes its run', async () => {
    await env.reset();
    const first = await runUntil('after:stop-services');
    // Another Job found the lease unrenewed and took it over (as if this one had been frozen).
    const lease = [...env.api.model.leases.values()][0]!;
    lease.spec.holderIdentity = 'another-job/1/0000';
    lease.metadata.resourceVersion = env.api.model.nextVersion();
    const r = await first.done;
    printed.push(r.all);
    expect(r.code).toBe(19);
    const run = finishedRun(r.stdout);
    expect(run.phase).toBe('Interrupted');
    expect(run.error?.message).toBe('the lock was taken over by another operation');
    expect(run.finalizers).toEqual(['the lock was taken over by another operation, which finishes this run: nothing more was done here']);
    expect(env.replicas()).toEqual(AT_ZERO);
    expect(env.annotations()).toEqual(RECORDED);
    // That other holder never renews here: recover waits out its lease, takes over and finishes the run.
    const rec = await env.agent('recover', ['--json']);
    printed.push(rec.all);
    expect(rec.code, rec.stderr).toBe(0);
    expect(await expectWhole()).toBe('original');
  });

  it('nothing printed or stored in the cluster holds a secret', () => {
    for (const text of printed) expect(leaks(text, env.secrets)).toEqual([]);
    expect(leaks(env.clusterText(), env.secrets)).toEqual([]);
  });
});
