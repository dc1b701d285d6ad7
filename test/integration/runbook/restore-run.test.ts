import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaks } from '../cli/run-cli.js';
import { finishedRun, jsonLines, restoredFacts, startRestoreEnv, statuses, APPS, DUMP_RUN_STEPS, type RestoreEnv } from './restore-env.js';

/** A full restore, its check-mode twin and the run after it, on the sandbox Quadlets host. */
describe('run: restore from a dump (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 2000 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function expectRestored() {
    const facts = await restoredFacts(env.sb);
    const { changes } = env;
    for (const d of changes.addedDevices) expect(facts.devices.has(d.name), `${d.name} was added after the backup`).toBe(false);
    for (const d of [...changes.hardDeleted, ...changes.softDeleted]) expect(facts.devices.has(d.name), `${d.name} was deleted after the backup`).toBe(true);
    expect(facts.organizations).not.toContain(changes.addedOrganization);
    expect(facts.unmarked).toEqual([]);
    expect(facts.notAwaiting).toEqual([]);
    const snap = await env.snapshot();
    // Exactly one awaiting-reconnect key per device, in database 0, nothing else anywhere.
    expect(snap.kv).toEqual(facts.expectedKeys);
    expect(snap.databases).toEqual(['flightctl']);
    expect(snap.dropins).toEqual([]);
    for (const a of APPS) expect(snap.apps[a], `${a} runs`).not.toBe('');
    // What the preparation does not touch is exactly as backed up.
    for (const t of ['organizations', 'fleets', 'device_labels']) expect(snap.live.tables[t], t).toEqual(env.backedUp.tables[t]);
    return snap;
  }

  for (const format of ['plain', 'custom'] as const) {
    it(`check mode with a ${format} dump reports what would change and changes nothing`, async () => {
      await env.reset();
      const before = await env.snapshot();
      const r = await env.agent(['run', '--check', '--dump', env.dumps[format], '--json']);
      printed.push(r.all);
      expect(r.code, r.stderr).toBe(0);
      const run = finishedRun(r.stdout);
      expect(run.phase).toBe('Succeeded');
      expect(statuses(run)).toMatchObject({
        preflight: 'ok',
        'version-check': 'ok',
        'load-dump': 'changed',
        'stage-kv': 'changed',
        'stop-services': 'changed',
        'swap-database': 'changed',
        'prepare-kv': 'changed',
        'start-services': 'changed',
        'drop-old-database': 'changed',
      });
      expect(await env.snapshot()).toEqual(before);
    });

    it(`a real run with a ${format} dump restores it: later changes gone, devices marked, keys exact, services back`, async () => {
      const before = await env.snapshot();
      const r = await env.agent(['run', '--dump', env.dumps[format], '--json']);
      printed.push(r.all);
      expect(r.code, r.stderr).toBe(0);
      const events = jsonLines(r.stdout);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.some((e) => e.type === 'progress' && e.step === 'load-dump')).toBe(true);
      const run = finishedRun(r.stdout);
      expect(run.phase).toBe('Succeeded');
      expect(run.steps.map((s) => s.name)).toEqual(DUMP_RUN_STEPS);
      expect(run.steps.find((s) => s.name === 'prepare-kv')?.data).toMatchObject({ method: 'swapdb' });
      expect(run.downtimeMs).toBeGreaterThan(0);
      // Before: the fleet as it was changed after the backup (nothing awaiting reconnect but the seeded few).
      expect(run.devices?.before?.byStatus.Online).toBeGreaterThan(0);
      const snap = await expectRestored();
      // Every application container was restarted (stopped and started again).
      for (const a of APPS) expect(snap.apps[a]).not.toBe(before.apps[a]);
      expect(run.devices?.after?.byStatus.AwaitingReconnect).toBeGreaterThan(0);
      // The journal replays the run: the same events, in order.
      const replay = await env.agent(['runs', run.id, '--json']);
      const journaled = JSON.parse(replay.stdout) as { run: { phase: string }; events: unknown[] };
      expect(journaled.run.phase).toBe('Succeeded');
      expect(journaled.events.filter((e) => (e as { type: string }).type !== 'progress')).toEqual(events.filter((e) => e.type !== 'progress'));
    });
  }

  it('a second run without a dump finds nothing to do: ok everywhere, nothing stopped', async () => {
    const before = await env.snapshot();
    const r = await env.agent(['run', '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toEqual({
      preflight: 'ok',
      'version-check': 'ok',
      'load-dump': 'skipped',
      'stage-kv': 'skipped',
      'stop-services': 'ok',
      'prepare-database': 'ok',
      'swap-database': 'skipped',
      'prepare-kv': 'ok',
      'start-services': 'ok',
      verify: 'ok',
      'drop-old-database': 'skipped',
    });
    expect((await env.snapshot()).apps).toEqual(before.apps);
  });

  it('runs lists the runs newest first; --keep-old-db keeps the previous database', async () => {
    await env.reset();
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--keep-old-db', '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const run = finishedRun(r.stdout);
    expect(statuses(run)['drop-old-database']).toBe('skipped');
    const dbs = (await env.snapshot()).databases;
    expect(dbs).toEqual(['flightctl', `flightctl_old_${run.id.slice(-8)}`]);
    const list = JSON.parse((await env.agent(['runs', '--json'])).stdout) as { runs: { id: string }[] };
    expect(list.runs[0]!.id).toBe(run.id);
    expect(list.runs.length).toBe(6);
  });

  it('nothing printed or journaled holds a secret or a word Flight Control treats as a leak', () => {
    expect(printed.length).toBeGreaterThan(5);
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
    expect(leaks(env.journalText(), env.secrets)).toEqual([]);
  });
});
