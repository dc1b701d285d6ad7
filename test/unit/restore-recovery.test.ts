import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Run, StepName } from '../../src/model/run.js';
import { memoryFixture, type MemoryFixture } from '../harness/memory/fixtures.js';
import { MemoryWorld, recoverOn, restoreOn, type HostOptions } from '../harness/memory/memory-host.js';
import type { CrashPoint } from '../harness/memory/memory-world.js';

/**
 * Recovery for every step of every kind of plan, crashed (the process gone, as with kill -9 or a
 * reboot) before its apply, right after recording its intent, in the middle of its apply (its first
 * change made, the answer lost) and after it; and the same run failing or interrupted in its own
 * process. Whoever settles it (recover in a new process, or the run's own finalizers) must leave
 * the host whole: rolled back before the point of no return, completed past it.
 */
interface Shape {
  what: string;
  source: 'plain' | 'custom' | 'none' | 'archive' | 'archive-external';
  reach?: boolean;
  /** The step past which the run is completed, and from which of its moments on. */
  ponr: { step: StepName; crash: CrashPoint['when']; failCrosses: boolean };
}

const SHAPES: Shape[] = [
  { what: 'a plain dump', source: 'plain', ponr: { step: 'swap-database', crash: 'during', failCrosses: false } },
  { what: 'a custom-format dump', source: 'custom', ponr: { step: 'swap-database', crash: 'during', failCrosses: false } },
  { what: 'a dump, reaching the database restarts it', source: 'plain', reach: true, ponr: { step: 'swap-database', crash: 'during', failCrosses: false } },
  { what: 'no dump', source: 'none', ponr: { step: 'prepare-database', crash: 'recorded', failCrosses: true } },
  { what: 'an archive with its database', source: 'archive', ponr: { step: 'swap-database', crash: 'during', failCrosses: false } },
  { what: 'an archive with an external database', source: 'archive-external', ponr: { step: 'wait-for-database', crash: 'during', failCrosses: true } },
];

const WHEN: CrashPoint['when'][] = ['before', 'recorded', 'during', 'after'];

async function prepare(shape: Shape) {
  const world = new MemoryWorld();
  const fx = memoryFixture(world);
  const source =
    shape.source === 'plain'
      ? { dump: fx.dump }
      : shape.source === 'custom'
        ? { dump: fx.customDump }
        : shape.source === 'none'
          ? {}
          : { archive: await fx.archive({ databaseIncluded: shape.source === 'archive' }) };
  const opts: HostOptions = { reachRestartsDatabase: shape.reach, config: fx.config };
  return { world, fx, source, opts, kvBefore: [...world.kvDb(0)].sort() };
}

/** A run of the shape to its end: which steps ran, which of them changed the world, which recorded an intent. */
async function reference(shape: Shape) {
  const { world, source, opts } = await prepare(shape);
  const recorded = new Set<StepName>();
  const end = await restoreOn(world, source, opts);
  if (!('run' in end) || end.run.phase !== 'Succeeded') throw new Error(`the reference run of ${shape.what} did not succeed`);
  for (const c of world.changes) recorded.add(c.slice(0, c.indexOf(':')) as StepName);
  const ran = end.run.steps.filter((s) => s.status !== 'skipped').map((s) => s.name);
  return { plan: end.run.plan, ran, changing: recorded };
}

const RECORDS: StepName[] = ['unpack-archive', 'load-dump', 'prepare-database', 'stage-kv', 'stop-services', 'wait-for-database', 'swap-database'];

function crosses(shape: Shape, plan: StepName[], step: StepName, when: CrashPoint['when'] | 'fail'): boolean {
  const at = plan.indexOf(step);
  const ponr = plan.indexOf(shape.ponr.step);
  if (at !== ponr) return at > ponr;
  if (when === 'fail') return shape.ponr.failCrosses;
  return WHEN.indexOf(when) >= WHEN.indexOf(shape.ponr.crash);
}

/** The host after whoever settled the run: whole, and holding the original or the completed restore. */
function expectWhole(
  env: { world: MemoryWorld; fx: MemoryFixture; kvBefore: string[] },
  shape: Shape,
  run: Run,
  completed: boolean,
  droppedOld: boolean,
): void {
  const { world, fx } = env;
  expect([...world.services.values()].every(Boolean), 'every service runs').toBe(true);
  expect(world.stoppedByAgent.size, 'nothing is left stopped').toBe(0);
  expect([...world.dropins], 'no drop-in is left').toEqual([]);
  expect([...world.containerFiles], 'no dump copy is left').toEqual([]);
  expect(world.intentText, 'the intent is cleared').toBeUndefined();
  expect(
    world.databaseNames().filter((d) => d.includes('_restore_')),
    'no temporary database is left',
  ).toEqual([]);
  for (const [n, keys] of world.kv) if (n !== 0) expect(keys.size, `KV database ${n} is empty`).toBe(0);
  if (shape.source.startsWith('archive'))
    expect(
      readdirSync(fx.stateDir).filter((f) => f.startsWith('extract-')),
      'the extracted archive is gone',
    ).toEqual([]);
  const live = world.databases.get('flightctl')!;
  const loads = shape.source !== 'none' && shape.source !== 'archive-external';
  const actions = run.recovery?.stepActions ?? run.finalizerActions ?? [];
  if (!completed) {
    expect(live, 'the original database, untouched').toMatchObject({ origin: 'original', marked: false });
    expect([...world.kvDb(0)].sort(), 'the KV store untouched').toEqual(env.kvBefore);
    expect(actions.filter((a) => a.kind === 'complete')).toEqual([]);
    return;
  }
  expect(live, 'the restored database, prepared').toMatchObject({ origin: loads ? 'backup' : 'original', marked: true });
  expect([...world.kvDb(0)].sort(), 'exactly its keys').toEqual([...world.keysOf('flightctl')].sort());
  const old = `flightctl_old_${run.id.slice(-8)}`;
  if (loads) expect(world.databases.has(old), 'the previous database is kept').toBe(!droppedOld);
  if (shape.source.startsWith('archive')) expect(fx.etc(), "Flight Control's files as in the archive").toEqual(fx.archived);
}

for (const shape of SHAPES) {
  describe(`${shape.what}: a crash at every point, then recover in a new process`, async () => {
    const ref = await reference(shape);
    for (const step of ref.ran) {
      for (const when of WHEN) {
        if (when === 'recorded' && !RECORDS.includes(step)) continue;
        if (when === 'during' && !ref.changing.has(step)) continue;
        const completed = crosses(shape, ref.plan, step, when);
        it(`${step}, ${when}: ${completed ? 'completed' : 'rolled back'}`, async () => {
          const env = await prepare(shape);
          env.world.crashAt = { step, when };
          const end = await restoreOn(env.world, env.source, env.opts);
          expect('crashed' in end, 'the process died at the crash point').toBe(true);
          const report = await recoverOn(env.world, env.opts);
          expect(report.recovered.map((r) => r.phase)).toEqual(['Recovered']);
          const run = env.world.runs.get(report.recovered[0]!.runId)!;
          expect(run.phase).toBe('Recovered');
          expect(run.recovery?.actions).toEqual(report.recovered[0]!.actions);
          const droppedOld = step === 'drop-old-database' && (when === 'during' || when === 'after');
          expectWhole(env, shape, run, completed, droppedOld);
          // Nothing is left for a second recovery.
          expect((await recoverOn(env.world, env.opts)).ok).toBe(true);
        });
      }
    }
  });

  describe(`${shape.what}: failing or interrupted at every step, settled by the run itself`, async () => {
    const ref = await reference(shape);
    for (const step of ref.ran) {
      if (ref.changing.has(step)) {
        it(`${step} fails at its first change: ${crosses(shape, ref.plan, step, 'fail') ? 'completed' : 'rolled back'}`, async () => {
          const env = await prepare(shape);
          env.world.failAt = { step };
          const end = await restoreOn(env.world, env.source, env.opts);
          if (!('run' in end)) throw new Error('the process died');
          expect(end.run).toMatchObject({
            phase: 'Failed',
            error: { code: 'RESTORE_ERR_INTERNAL', message: expect.stringMatching(`injected failure at ${step}`) },
          });
          expectWhole(env, shape, end.run, crosses(shape, ref.plan, step, 'fail'), false);
        });
      }
      it(`interrupted (SIGTERM) as ${step} starts: ${crosses(shape, ref.plan, step, 'before') ? 'completed' : 'rolled back'}`, async () => {
        const env = await prepare(shape);
        const signal = new AbortController();
        const end = await restoreOn(env.world, env.source, { ...env.opts, signal: signal.signal, onStepStarted: (s) => s === step && signal.abort() });
        if (!('run' in end)) throw new Error('the process died');
        expect(end.run).toMatchObject({ phase: 'Interrupted', error: { code: 'RESTORE_ERR_CANCELLED' } });
        expectWhole(env, shape, end.run, crosses(shape, ref.plan, step, 'before'), false);
      });
    }
  });
}
