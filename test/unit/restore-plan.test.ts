import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RESTORE_STEPS, restorePlan } from '../../src/runbook/restore/plan.js';
import { STEP_NAMES, type Run } from '../../src/model/run.js';
import { memoryFixture } from '../harness/memory/fixtures.js';
import { MemoryWorld, restoreOn } from '../harness/memory/memory-host.js';

const names = (opts: Parameters<typeof restorePlan>[0]) => restorePlan(opts).map((s) => s.name);
const TAIL = ['prepare-kv', 'start-services', 'verify', 'drop-old-database'];
const FILES = ['restore-pki', 'restore-encryption', 'restore-config', 'restore-pam-volume'];

describe('the restore plan: the order of the steps for every option', () => {
  it('with a dump, everything that grows with the fleet runs before the stop; only the swap and SWAPDB inside', () => {
    expect(names({ dump: true, reachRestartsDatabase: false })).toEqual([
      'preflight',
      'version-check',
      'load-dump',
      'prepare-database',
      'stage-kv',
      'stop-services',
      'swap-database',
      ...TAIL,
    ]);
  });

  it('where reaching the database restarts it, its preparation moves into the window', () => {
    expect(names({ dump: true, reachRestartsDatabase: true })).toEqual([
      'preflight',
      'version-check',
      'load-dump',
      'stop-services',
      'prepare-database',
      'stage-kv',
      'swap-database',
      ...TAIL,
    ]);
  });

  it('without a dump the live database is prepared inside the window, whatever the strategy', () => {
    const plan = ['preflight', 'version-check', 'load-dump', 'stage-kv', 'stop-services', 'prepare-database', 'swap-database', ...TAIL];
    expect(names({ dump: false, reachRestartsDatabase: false })).toEqual(plan);
    expect(names({ dump: false, reachRestartsDatabase: true })).toEqual(plan);
  });

  it('an archive adds its unpacking first, the wait for an external database and the files', () => {
    expect(names({ dump: false, archive: true, reachRestartsDatabase: false })).toEqual([
      'unpack-archive',
      'preflight',
      'version-check',
      'load-dump',
      'prepare-database',
      'stage-kv',
      'stop-services',
      'wait-for-database',
      'swap-database',
      ...FILES,
      ...TAIL,
    ]);
    expect(names({ dump: false, archive: true, reachRestartsDatabase: true })).toEqual([
      'unpack-archive',
      'preflight',
      'version-check',
      'load-dump',
      'stop-services',
      'wait-for-database',
      'prepare-database',
      'stage-kv',
      'swap-database',
      ...FILES,
      ...TAIL,
    ]);
  });

  it("the steps are the run model's vocabulary; each that is settled after a crash records what it needs", () => {
    expect(RESTORE_STEPS.map((s) => s.name)).toEqual([...STEP_NAMES]);
    for (const s of RESTORE_STEPS) {
      if (s.undo || s.release || s.pointOfNoReturn) expect(s.intent, `${s.name} records its intent`).toBeDefined();
    }
    // Exactly three steps can make the live database hold restored, marked devices.
    expect(RESTORE_STEPS.filter((s) => s.pointOfNoReturn).map((s) => s.name)).toEqual(['prepare-database', 'wait-for-database', 'swap-database']);
  });
});

/** The steps that ran (not skipped) while the services were stopped. */
function windowOf(run: Run): string[] {
  const ran = run.steps.filter((s) => s.status !== 'skipped').map((s) => s.name);
  return ran.slice(ran.indexOf('stop-services') + 1, ran.indexOf('start-services'));
}

interface Case {
  what: string;
  source: 'none' | 'plain' | 'custom' | 'archive' | 'archive-external';
  reach?: boolean;
  kvDatabases?: number;
  config?: Record<string, unknown>;
  keepOldDb?: boolean;
  /** The steps inside the stop window. */
  window: string[];
}

const CASES: Case[] = [
  { what: 'a plain dump', source: 'plain', window: ['swap-database', 'prepare-kv'] },
  { what: 'a custom-format dump', source: 'custom', window: ['swap-database', 'prepare-kv'] },
  { what: 'a dump, keeping the old database', source: 'plain', keepOldDb: true, window: ['swap-database', 'prepare-kv'] },
  { what: 'a dump, staging off', source: 'plain', config: { kv: { stagingDb: 0 } }, window: ['swap-database', 'prepare-kv'] },
  { what: 'a dump, a KV store without a spare database', source: 'plain', kvDatabases: 1, window: ['swap-database', 'prepare-kv'] },
  { what: 'a dump, reaching the database restarts it', source: 'plain', reach: true, window: ['prepare-database', 'swap-database', 'prepare-kv'] },
  { what: 'no dump', source: 'none', window: ['prepare-database', 'prepare-kv'] },
  { what: 'no dump, reaching the database restarts it', source: 'none', reach: true, window: ['prepare-database', 'prepare-kv'] },
  { what: 'an archive with its database', source: 'archive', window: ['swap-database', ...FILES, 'prepare-kv'] },
  {
    what: 'an archive with its database, reaching the database restarts it',
    source: 'archive',
    reach: true,
    window: ['prepare-database', 'swap-database', ...FILES, 'prepare-kv'],
  },
  { what: 'an archive of a deployment with an external database', source: 'archive-external', window: ['wait-for-database', ...FILES, 'prepare-kv'] },
];

async function setUp(c: Case) {
  const world = new MemoryWorld();
  if (c.kvDatabases) world.kvDatabases = c.kvDatabases;
  const fx = memoryFixture(world);
  const source =
    c.source === 'plain'
      ? { dump: fx.dump }
      : c.source === 'custom'
        ? { dump: fx.customDump }
        : c.source === 'none'
          ? {}
          : { archive: await fx.archive({ databaseIncluded: c.source === 'archive' }) };
  const opts = { reachRestartsDatabase: c.reach, config: { ...fx.config, ...c.config } };
  return { world, fx, source, opts };
}

describe('every option combination, run on the in-memory target', () => {
  for (const c of CASES) {
    it(`${c.what}: the window holds ${c.window.join(', ')}; the host ends restored, prepared and running`, async () => {
      const { world, fx, source, opts } = await setUp(c);
      const kvBefore = [...world.kvDb(0)];
      const end = await restoreOn(world, { ...source, keepOldDb: c.keepOldDb === true }, opts);
      if (!('run' in end)) throw new Error('the process died');
      const { run } = end;
      expect(run.phase, JSON.stringify(run.error)).toBe('Succeeded');
      expect(windowOf(run)).toEqual(c.window);
      const live = world.databases.get('flightctl')!;
      const loads = c.source !== 'none' && c.source !== 'archive-external';
      expect(live).toMatchObject({ origin: loads ? 'backup' : 'original', marked: true });
      expect([...world.kvDb(0)].sort()).toEqual([...world.keysOf('flightctl')].sort());
      expect(kvBefore).not.toEqual([...world.kvDb(0)]);
      for (const [n, keys] of world.kv) if (n !== 0) expect(keys.size, `KV database ${n} is empty`).toBe(0);
      expect(world.databaseNames()).toEqual(loads && c.keepOldDb ? ['flightctl', `flightctl_old_${run.id.slice(-8)}`] : ['flightctl']);
      expect([...world.services.values()].every(Boolean)).toBe(true);
      expect(world.stoppedByAgent.size + world.dropins.size + world.containerFiles.size).toBe(0);
      expect(world.intentText).toBeUndefined();
      expect(run.finalizers).toEqual([]);
      if (c.source.startsWith('archive')) {
        expect(fx.etc()).toEqual(fx.archived);
        expect(world.volume.content).toBe('restored');
        expect(readdirSync(fx.stateDir).filter((f) => f.startsWith('extract-'))).toEqual([]);
      }
      if (c.source === 'custom') expect(world.changes.some((x) => x.startsWith('load-dump: copy the dump'))).toBe(true);
      if (c.kvDatabases === 1) expect(run.steps.find((s) => s.name === 'stage-kv')?.warnings).toEqual([expect.stringMatching(/has no database 1/)]);
    });

    it(`${c.what}, check mode: every check, nothing changed, nothing recorded`, async () => {
      const { world, fx, source, opts } = await setUp(c);
      const end = await restoreOn(world, { ...source, check: true }, opts);
      if (!('run' in end)) throw new Error('the process died');
      expect(end.run.phase, JSON.stringify(end.run.error)).toBe('Succeeded');
      expect(end.run.steps.filter((s) => s.status !== 'skipped').every((s) => s.status === 'ok' || s.status === 'changed')).toBe(true);
      expect(world.changes).toEqual([]);
      expect(world.intentText).toBeUndefined();
      expect(existsSync(fx.stateDir) ? readdirSync(fx.stateDir) : []).toEqual([]);
    });
  }

  it('a second run without a dump on a prepared host stops nothing and changes nothing', async () => {
    const { world, opts } = await setUp({ what: '', source: 'none', window: [] });
    await restoreOn(world, {}, opts);
    world.changes = [];
    const end = await restoreOn(world, {}, opts);
    if (!('run' in end)) throw new Error('the process died');
    expect(end.run.phase).toBe('Succeeded');
    expect(end.run.steps.filter((s) => s.changed).map((s) => s.name)).toEqual([]);
    expect(world.changes).toEqual([]);
  });
});
