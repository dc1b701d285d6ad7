import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeSlow } from '../context.js';
import { leaks, spawnHeld } from '../cli/run-cli.js';
import { serveKit } from '../api/serve-env.js';
import { APPS, restoredFacts, startRestoreEnv, type RestoreEnv } from './restore-env.js';

/**
 * The host rebooted in the middle of a restore (a power loss: the agent and every process of the
 * host killed at once, /run emptied, the KV store back empty), then booted on the same disk. No
 * application unit may serve a restored database before its keys are written again: the units
 * the run stopped stay down at boot until the agent has finished the run; then they all run.
 */
describeSlow('a reboot in the middle of a restore (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 1500 }); // enough keys for a progress report inside stage-kv;
  });
  afterAll(async () => {
    await env?.stop();
  });

  /** Runs a restore to the point, then pulls the plug on the host and boots it again. */
  async function rebootAt(point: string, opts: { dbStartDelaySec?: number; noDump?: boolean } = {}): Promise<void> {
    await env.reset();
    const run = opts.noDump ? ['run', '--json'] : ['run', '--dump', env.dumps.plain, '--json'];
    const agent = await spawnHeld((fault) => env.spawn(run, fault), point, path.join(env.dir, 'hold'));
    agent.process.kill('SIGKILL');
    printed.push((await agent.done).all);
    await env.sb.reboot(opts);
  }

  async function appsRunning(): Promise<Record<string, boolean>> {
    const snap = await env.snapshot();
    return Object.fromEntries(APPS.map((a) => [a, snap.apps[a] !== '']));
  }

  const allDown = Object.fromEntries(APPS.map((a) => [a, false]));
  const allUp = Object.fromEntries(APPS.map((a) => [a, true]));

  for (const [point, expected, atBoot, noDump] of [
    // Before the window nothing is held: the boot starts every unit on the original database.
    ['progress:load-dump', 'original', allUp, false],
    ['progress:stage-kv', 'original', allUp, false],
    ['after:stop-services', 'original', allDown, false],
    ['after:swap-database', 'restored', allDown, false],
    ['after:prepare-kv', 'restored', allDown, false], // SWAPDB done, then the KV store lost with the reboot
    ['before:start-services', 'restored', allDown, false],
    // A run without a dump prepares the live database in the window: from then on it is completed.
    ['after:stop-services', 'original', allDown, true],
    ['after:prepare-database', 'restored', allDown, true],
    ['after:prepare-kv', 'restored', allDown, true],
  ] as const) {
    it(`${noDump ? 'a run without a dump ' : ''}rebooted at ${point}: at boot the units are ${atBoot === allUp ? 'up' : 'held down'}; recover leaves the ${expected} database and every unit running`, async () => {
      await rebootAt(point, { noDump });
      expect(await appsRunning()).toEqual(atBoot);
      const rec = await env.agent(['recover', '--json']);
      printed.push(rec.all);
      expect(rec.code, rec.stderr).toBe(0);
      expect((JSON.parse(rec.stdout) as { recovered: { phase: string }[] }).recovered.map((r) => r.phase)).toEqual(['Recovered']);
      expect(await appsRunning()).toEqual(allUp);
      const snap = await env.snapshot();
      expect(snap.dropins, 'no publish or hold drop-in is left').toEqual([]);
      expect(snap.databases.filter((d) => d.includes('_restore_'))).toEqual([]);
      expect(existsSync(path.join(env.stateDir, 'services-held'))).toBe(false);
      if (expected === 'original') {
        expect(snap.live).toEqual(env.mutated);
      } else {
        // The keys were lost with the KV store: written again before any unit started.
        const facts = await restoredFacts(env.sb);
        expect(facts.unmarked).toEqual([]);
        expect(snap.kv).toEqual(facts.expectedKeys);
      }
    });
  }

  it('rebooted inside the window with a database slow to come up: recover waits for it, saying so, then completes', async () => {
    await rebootAt('after:swap-database', { dbStartDelaySec: 6 });
    const rec = await env.agent(['recover', '--json']);
    printed.push(rec.all);
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stderr).toMatch(/recovery waits: RESTORE_ERR_DB_UNREACHABLE: .*; trying again in \d/);
    expect(await appsRunning()).toEqual(allUp);
    const facts = await restoredFacts(env.sb);
    expect((await env.snapshot()).kv).toEqual(facts.expectedKeys);
  });

  it('serve at boot with the database not back yet: recovering (reads answer, restores are refused with a reason), then ready with the run finished', async () => {
    await rebootAt('after:swap-database', { dbStartDelaySec: 6 });
    const kit = await serveKit(env, printed);
    const s = await kit.serve([], {}, { until: 'listening' });
    // Recovering, first attempt, then waiting for the database with the reason named.
    const seen: { code: number; status: string; reason?: string }[] = [];
    for (const deadline = Date.now() + 5_000; Date.now() < deadline && !/DB_UNREACHABLE/.test(seen.at(-1)?.reason ?? '');) {
      const health = await fetch(`${s.base}/healthz`);
      seen.push({ code: health.status, ...((await health.json()) as { status: string; reason?: string }) });
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen[0]).toMatchObject({ code: 503, status: 'recovering' });
    expect(seen.at(-1)).toMatchObject({ code: 503, status: 'recovering', reason: expect.stringMatching(/^RESTORE_ERR_DB_UNREACHABLE: /) as unknown });
    expect((await s.call('GET', '/v1/restores')).status).toBe(200);
    const refused = await s.call('POST', '/v1/restores', { check: true });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('10');
    expect(refused.json()).toMatchObject({ code: 'RESTORE_ERR_RECOVERING', retryable: true });
    for (const deadline = Date.now() + 90_000; ; await new Promise((r) => setTimeout(r, 250))) {
      const now = (await (await fetch(`${s.base}/healthz`)).json()) as { status: string };
      if (now.status === 'ready') break;
      if (Date.now() > deadline) throw new Error('serve never finished the recovery');
    }
    expect(await appsRunning()).toEqual(allUp);
    const facts = await restoredFacts(env.sb);
    expect((await env.snapshot()).kv).toEqual(facts.expectedKeys);
    printed.push((await s.stop()).all);
  });

  it('nothing printed holds a secret', () => {
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
  });
});
