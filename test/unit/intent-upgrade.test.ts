import { describe, expect, it } from 'vitest';
import type { Run } from '../../src/model/run.js';
import { memoryFixture } from '../harness/memory/fixtures.js';
import { MemoryWorld, recoverOn } from '../harness/memory/memory-host.js';

/**
 * A host upgraded while a run of the previous agent was interrupted: its intent is in format 1
 * (one flat record). The new agent reads it step by step and settles the run as the old one would
 * have: rolled back before the swap, completed after it.
 */
const RUN_ID = '20261128T090000Z-0123abcd';
const names = { name: 'flightctl', temp: 'flightctl_restore_0123abcd', old: 'flightctl_old_0123abcd' };

function interruptedRun(world: MemoryWorld, plan: Run['plan']): void {
  world.runs.set(RUN_ID, {
    id: RUN_ID,
    phase: 'Running',
    check: false,
    target: 'quadlet',
    options: { dump: '/backups/flightctl.sql', force: false, keepOldDb: false, database: 'flightctl', endpointStrategy: 'container-ip' },
    plan,
    steps: [],
    currentStep: 'swap-database',
    requestedBy: 'cli:root',
    pid: 999_999,
    startedAt: '2026-11-28T09:00:00.000Z',
    finalizers: [],
  });
}

const PLAN: Run['plan'] = [
  'preflight',
  'version-check',
  'load-dump',
  'prepare-database',
  'stage-kv',
  'stop-services',
  'swap-database',
  'prepare-kv',
  'start-services',
  'verify',
  'drop-old-database',
];

function v1(over: Record<string, unknown>): string {
  return JSON.stringify({
    version: 1,
    runId: RUN_ID,
    pid: 999_999,
    startedAt: '2026-11-28T09:00:00.000Z',
    withDump: true,
    keepOldDb: false,
    database: names,
    kvStagingDb: 1,
    liveTouched: false,
    ...over,
  });
}

/** The services stopped and the loaded copy beside the live database, as the old agent left them. */
function stoppedMidRun(world: MemoryWorld): void {
  for (const u of world.services.keys()) {
    world.services.set(u, false);
    world.stoppedByAgent.add(u);
  }
  world.databases.set(names.temp, { origin: 'backup', devices: world.dumpDevices, marked: true });
  for (const k of world.keysOf(names.temp)) world.kvDb(1).add(k);
}

describe('an intent written by the previous agent (format 1)', () => {
  it('before the swap: rolled back, the services started, the run marked Recovered', async () => {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    const kvBefore = [...world.kvDb(0)];
    stoppedMidRun(world);
    interruptedRun(world, PLAN);
    world.intentText = v1({ database: { name: 'flightctl', temp: names.temp } });
    const report = await recoverOn(world, { config: fx.config });
    expect(report.recovered).toEqual([
      {
        runId: RUN_ID,
        phase: 'Recovered',
        actions: expect.arrayContaining([expect.stringMatching(/dropped the temporary database flightctl_restore_0123abcd/)]),
      },
    ]);
    expect(world.databaseNames()).toEqual(['flightctl']);
    expect(world.databases.get('flightctl')).toMatchObject({ origin: 'original', marked: false });
    expect([...world.kvDb(0)]).toEqual(kvBefore);
    expect(world.kvDb(1).size).toBe(0);
    expect([...world.services.values()].every(Boolean)).toBe(true);
    expect(world.intentText).toBeUndefined();
    expect(world.runs.get(RUN_ID)?.phase).toBe('Recovered');
  });

  it('after the swap: completed (the keys written), the previous database kept', async () => {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    stoppedMidRun(world);
    world.databases.set(names.old, world.databases.get('flightctl')!);
    world.databases.set('flightctl', world.databases.get(names.temp)!);
    world.databases.delete(names.temp);
    interruptedRun(world, PLAN);
    world.intentText = v1({ liveTouched: true, database: { ...names } });
    const report = await recoverOn(world, { config: fx.config });
    expect(report.recovered[0]!.phase).toBe('Recovered');
    expect(report.recovered[0]!.actions.join('\n')).toMatch(/awaiting-reconnect keys written\n.*kept the previous database as flightctl_old_0123abcd/);
    expect(world.databases.get('flightctl')).toMatchObject({ origin: 'backup', marked: true });
    expect([...world.kvDb(0)].sort()).toEqual([...world.keysOf('flightctl')].sort());
    expect(world.databaseNames()).toEqual(['flightctl', names.old]);
    expect([...world.services.values()].every(Boolean)).toBe(true);
  });

  it('without a dump, once the live database was touched: its preparation completed, even with no journal record', async () => {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    for (const u of world.services.keys()) {
      world.services.set(u, false);
      world.stoppedByAgent.add(u);
    }
    world.intentText = v1({ withDump: false, liveTouched: true, kvStagingDb: undefined, database: { name: 'flightctl' } });
    const report = await recoverOn(world, { config: fx.config });
    expect(report.recovered[0]!.phase).toBe('Recovered');
    expect(world.databases.get('flightctl')).toMatchObject({ origin: 'original', marked: true });
    expect([...world.kvDb(0)].sort()).toEqual([...world.keysOf('flightctl')].sort());
    expect([...world.services.values()].every(Boolean)).toBe(true);
    expect(world.intentText).toBeUndefined();
  });
});
