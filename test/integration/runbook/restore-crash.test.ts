import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeSlow } from '../context.js';
import { leaks, spawnHeld } from '../cli/run-cli.js';
import { restoredFacts, startRestoreEnv, APPS, type RestoreEnv } from './restore-env.js';

/**
 * kill -9 of the agent at every step boundary and in the middle of the long parts, then
 * `recover`: the host always ends whole. Services run, no drop-in is left, `flightctl` exists and is
 * either the database as it was before the run or the fully prepared restored one, no temporary
 * database is left, and the run is marked Recovered.
 */
describeSlow('kill -9 during a run, then recover (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 1500 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function killAt(point: string, args: string[]): Promise<string> {
    await env.reset();
    const agent = await spawnHeld((fault) => env.spawn(['run', ...args, '--json'], fault), point, path.join(env.dir, 'hold'));
    agent.process.kill('SIGKILL');
    const r = await agent.done;
    printed.push(r.all);
    const first = r.stdout.split('\n').find((l) => l.includes('"step-started"'));
    const runs = JSON.parse((await env.agent(['runs', '--json'])).stdout) as { runs: { id: string; phase: string }[] };
    expect(first, 'the run started').toBeDefined();
    expect(runs.runs[0]!.phase).toBe('Running');
    return runs.runs[0]!.id;
  }

  /** After recover: whole, and which database `flightctl` is. */
  async function expectWhole(runId: string, withDump = true): Promise<'original' | 'restored' | 'prepared'> {
    const rec = await env.agent(['recover', '--json']);
    printed.push(rec.all);
    expect(rec.code, rec.stderr).toBe(0);
    const report = JSON.parse(rec.stdout) as { recovered: { runId: string; phase: string; actions: string[] }[] };
    expect(report.recovered.map((r) => [r.runId, r.phase])).toEqual([[runId, 'Recovered']]);
    const snap = await env.snapshot();
    for (const a of APPS) expect(snap.apps[a], `${a} runs again`).not.toBe('');
    expect(snap.dropins).toEqual([]);
    expect(snap.databases.filter((d) => d.includes('_restore_'))).toEqual([]);
    expect(snap.databases).toContain('flightctl');
    const journal = JSON.parse((await env.agent(['runs', runId, '--json'])).stdout) as { run: { phase: string; recovery?: { actions: string[] } } };
    expect(journal.run.phase).toBe('Recovered');
    expect(journal.run.recovery?.actions).toEqual(report.recovered[0]!.actions);
    expect(existsSync(path.join(env.stateDir, 'active-run.json'))).toBe(false);
    if (JSON.stringify(snap.live) === JSON.stringify(env.mutated)) return 'original';
    const facts = await restoredFacts(env.sb);
    // Without a dump the live database is prepared in place: its later changes stay.
    for (const d of env.changes.addedDevices) expect(facts.devices.has(d.name)).toBe(!withDump);
    expect(facts.unmarked).toEqual([]);
    expect(snap.kv).toEqual(facts.expectedKeys);
    return withDump ? 'restored' : 'prepared';
  }

  // Before the swap commits the run is rolled back; from then on it is completed.
  const cases: [string, 'original' | 'restored'][] = [
    ['before:preflight', 'original'],
    ['before:version-check', 'original'],
    ['before:load-dump', 'original'],
    ['progress:load-dump', 'original'],
    ['before:prepare-database', 'original'],
    ['before:stage-kv', 'original'],
    ['progress:stage-kv', 'original'],
    ['before:stop-services', 'original'],
    ['before:swap-database', 'original'],
    ['before:prepare-kv', 'restored'],
    ['before:start-services', 'restored'],
    ['before:verify', 'restored'],
    ['before:drop-old-database', 'restored'],
    ['after:drop-old-database', 'restored'],
  ];
  for (const [point, expected] of cases) {
    it(`with a dump, killed at ${point}: recover leaves the ${expected} database`, async () => {
      const runId = await killAt(point, ['--dump', env.dumps.custom]);
      expect(await expectWhole(runId)).toBe(expected);
    });
  }

  it('without a dump, killed in the middle of the key writes: recover completes the preparation', async () => {
    const runId = await killAt('progress:prepare-kv', []);
    expect(await expectWhole(runId, false)).toBe('prepared');
  });

  it('with a dump, killed in the middle of the plain-SQL load', async () => {
    const runId = await killAt('progress:load-dump', ['--dump', env.dumps.plain]);
    expect(await expectWhole(runId)).toBe('original');
  });

  it('a run after a crash recovers it first, then does its own work', async () => {
    const crashed = await killAt('before:swap-database', ['--dump', env.dumps.plain]);
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    const journal = JSON.parse((await env.agent(['runs', crashed, '--json'])).stdout) as { run: { phase: string; recovery: { by: string } } };
    expect(journal.run).toMatchObject({ phase: 'Recovered', recovery: { by: 'the next run' } });
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
  });

  it('recover with nothing to do says ok', async () => {
    const r = await env.agent(['recover', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ recovered: [], leftovers: [], notes: [], ok: true });
  });

  it('nothing printed or journaled holds a secret', () => {
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
    expect(leaks(env.journalText(), env.secrets)).toEqual([]);
    expect(readFileSync(env.configFile, 'utf8')).not.toMatch(/password/i);
  });
});
