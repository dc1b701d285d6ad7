import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanForOurs } from '../../../src/targets/quadlet/dropins.js';
import { leaks, spawnHeld } from '../cli/run-cli.js';
import { finishedRun, restoredFacts, startRestoreEnv, statuses, APPS, type RestoreEnv } from './restore-env.js';

/**
 * With endpoint strategy publish-dropin the database restarts to publish its port (127.0.0.1
 * only), so everything that needs it moves into the stop window, and the drop-in is gone before
 * the services start again. The KV store is written through its own client in its container.
 */
describe('run with publish-dropin (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 1000, strategy: 'publish-dropin' });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('restores with the work inside the window and no drop-in left', async () => {
    await env.reset();
    const r = await env.agent(['run', '--dump', env.dumps.custom, '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(run.steps.map((s) => s.name)).toEqual([
      'preflight',
      'version-check',
      'load-dump',
      'stop-services',
      'prepare-database',
      'stage-kv',
      'swap-database',
      'prepare-kv',
      'start-services',
      'verify',
      'drop-old-database',
    ]);
    expect(statuses(run)['stage-kv']).toBe('skipped');
    // The KV store keeps nothing on disk: publishing it would restart it and lose the keys, so
    // they go in through its own client, and only the database is published.
    expect(run.steps.find((s) => s.name === 'prepare-kv')?.data).toMatchObject({ method: 'client-pipe' });
    expect(run.steps.find((s) => s.name === 'start-services')?.data?.dropinsRemoved).toEqual([
      expect.stringMatching(/flightctl-db.container.d\/10-publish-port.conf$/),
    ]);
    expect(r.all).toMatch(/publish-dropin: the database restarts to publish its port/);
    const snap = await env.snapshot();
    expect(snap.dropins).toEqual([]);
    const facts = await restoredFacts(env.sb);
    expect(facts.unmarked).toEqual([]);
    expect(snap.kv).toEqual(facts.expectedKeys);
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
  });

  it('killed with the ports published: recover removes the drop-ins and starts everything', async () => {
    await env.reset();
    const agent = await spawnHeld(
      (fault) => env.spawn(['run', '--dump', env.dumps.plain, '--json'], fault),
      'before:swap-database',
      path.join(env.dir, 'hold'),
      90_000,
    );
    expect((await scanForOurs(env.sb.dropinDir)).map((d) => d.unit)).toEqual(['flightctl-db.service']);
    agent.process.kill('SIGKILL');
    printed.push((await agent.done).all);
    const rec = await env.agent(['recover', '--json']);
    printed.push(rec.all);
    expect(rec.code, rec.stderr).toBe(0);
    const actions = (JSON.parse(rec.stdout) as { recovered: { actions: string[] }[] }).recovered[0]!.actions.join('\n');
    expect(actions).toMatch(/dropped the temporary database/);
    expect(actions).toMatch(/removed leftover drop-in .*flightctl-db.container.d\/10-publish-port.conf/);
    expect(actions).toMatch(/started flightctl-api.service/);
    const snap = await env.snapshot();
    expect(snap.dropins).toEqual([]);
    expect(snap.live).toEqual(env.mutated);
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
  });
});
