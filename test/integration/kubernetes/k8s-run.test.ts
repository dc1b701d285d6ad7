import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaks } from '../cli/run-cli.js';
import { finishedRun, statuses } from '../runbook/restore-env.js';
import { kvKeys, restoredFacts, startKubeEnv, type KubeEnv } from './kube-env.js';

const RESTORED = { 'flightctl-api': 3, 'flightctl-alertmanager-proxy': 1, 'flightctl-worker': 2, 'flightctl-periodic': 1, 'flightctl-alert-exporter': 0 };

/**
 * The whole restore on Kubernetes: the agent binary with --target kubernetes, the real client
 * library over TLS to the fake API server, the dump loaded over the PostgreSQL protocol into the
 * real PostgreSQL, the keys into the real Redis.
 */
describe('run --target kubernetes: a full restore', () => {
  let env: KubeEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startKubeEnv({ devices: 400 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('check mode reports what would change and changes nothing', async () => {
    const before = await env.databases();
    const r = await env.agent('run', ['--dump', env.dump, '--check', '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(run.phase).toBe('Succeeded');
    expect(statuses(run)['stop-services']).toBe('changed');
    expect(env.replicas()).toEqual(RESTORED);
    expect(await env.databases()).toEqual(before);
    const writes = env.api.requests.filter((q) => q.verb !== 'get' && q.verb !== 'list' && q.resource.startsWith('deployments'));
    expect(writes).toEqual([]);
  });

  it('restores the dump and every replica count: 3, 1, 2 and 1 come back, a deployment at 0 stays at 0, absent ones are skipped', async () => {
    env.api.requests.length = 0;
    const r = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(run.phase).toBe('Succeeded');
    expect(statuses(run)).toEqual({
      preflight: 'ok',
      'version-check': 'ok',
      'load-dump': 'changed',
      'prepare-database': 'changed',
      'stage-kv': 'changed',
      'stop-services': 'changed',
      'swap-database': 'changed',
      'prepare-kv': 'changed',
      'start-services': 'changed',
      verify: 'ok',
      'drop-old-database': 'changed',
    });
    const stop = run.steps.find((s) => s.name === 'stop-services')!;
    expect((stop.data?.stopped as string[]).sort()).toEqual(['flightctl-alertmanager-proxy', 'flightctl-api', 'flightctl-periodic', 'flightctl-worker']);
    expect((stop.data?.notInstalled as string[]).sort()).toEqual(['flightctl-imagebuilder-api', 'flightctl-imagebuilder-worker']);
    expect(env.replicas()).toEqual(RESTORED);
    expect(Object.values(env.annotations()).filter(Boolean)).toEqual([]);
    // The deployment an operator left at 0 was never written.
    expect(env.api.requests.filter((q) => q.name === 'flightctl-alert-exporter' && q.verb !== 'get')).toEqual([]);
    // The counts were recorded before each scale to 0, and every scale was conditioned.
    for (const name of Object.keys(RESTORED).filter((n) => n !== 'flightctl-alert-exporter')) {
      const mine = env.api.requests.filter((q) => q.name === name && q.verb !== 'get');
      expect(mine.map((q) => `${q.verb} ${q.resource}`).slice(0, 2)).toEqual(['patch deployments', 'update deployments/scale']);
    }
    // The swap happened while no application pod was left.
    expect(run.steps.find((s) => s.name === 'version-check')!.msg).toContain('1.2.0');

    const facts = await restoredFacts(env);
    for (const d of env.changes.addedDevices) expect(facts.devices.has(d.name)).toBe(false);
    expect(facts.unmarked).toEqual([]);
    expect(await kvKeys()).toEqual(facts.expectedKeys);
    expect(await env.databases()).toEqual([env.database]);
    // The run is journaled in the cluster and the lock released.
    const records = [...env.api.model.configmaps.values()].map((c) => c.metadata.name);
    expect(records).toContain(`flightctl-restore-run-${run.id.toLowerCase()}`);
    expect(records).not.toContain('flightctl-restore-intent');
    const lease = [...env.api.model.leases.values()][0];
    expect(lease?.spec?.holderIdentity).toBeUndefined();
  });

  it('runs reads the journal from the cluster: the runs newest first, one run with its events', async () => {
    const list = await env.agent('runs', ['--json']);
    expect(list.code, list.stderr).toBe(0);
    const { runs } = JSON.parse(list.stdout) as { runs: Array<{ id: string; phase: string; check: boolean; target: string }> };
    expect(runs.map((r) => [r.phase, r.check, r.target])).toEqual([
      ['Succeeded', false, 'kubernetes'],
      ['Succeeded', true, 'kubernetes'],
    ]);
    const one = await env.agent('runs', [runs[0]!.id, '--json']);
    expect(one.code, one.stderr).toBe(0);
    const { run, events } = JSON.parse(one.stdout) as { run: { id: string }; events: Array<{ seq: number; type: string; step?: string }> };
    expect(run.id).toBe(runs[0]!.id);
    // In order; progress reports may be thinned (a ConfigMap has a size budget), step events never.
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    const finished = events.filter((e) => e.type === 'step-finished').map((e) => e.step);
    expect(finished).toEqual(events.filter((e) => e.type === 'step-started').map((e) => e.step));
    expect(finished).toEqual(expect.arrayContaining(['load-dump', 'stop-services', 'swap-database', 'start-services']));
    expect(events.at(-1)!.type).toBe('run-finished');
    const missing = await env.agent('runs', ['20261128T061500Z-00000000']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/RESTORE_ERR_RUN_NOT_FOUND/);
    printed.push(list.all, one.all, missing.all);
  });

  it('a second run without a dump finds nothing to do and scales nothing', async () => {
    env.api.requests.length = 0;
    const r = await env.agent('run', ['--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(statuses(run)['stop-services']).toBe('ok');
    expect(env.api.requests.filter((q) => q.resource === 'deployments/scale')).toEqual([]);
    expect(env.replicas()).toEqual(RESTORED);
  });

  it('prints step lines without --json, and nothing secret anywhere (output, journal, lock)', async () => {
    const r = await env.agent('run', ['--check']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {2}ok +preflight/m);
    expect(r.stdout).toMatch(/Succeeded/);
    for (const text of printed) expect(leaks(text, env.secrets)).toEqual([]);
    expect(leaks(env.clusterText(), env.secrets)).toEqual([]);
  });
});
