import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newRunId } from '../../src/runbook/runner.js';
import { memoryFixture } from '../harness/memory/fixtures.js';
import { MemoryWorld, restoreOn } from '../harness/memory/memory-host.js';

const HOUR = 3_600_000;

/**
 * The host's clock set back or forward mid-run (issue 22, row 7). Only Date is faked: the timers
 * and performance.now() run as they do, as they do on a host whose clock an NTP step or an
 * operator moves. Deadlines and durations follow the monotonic clock; run ids keep their order.
 */
describe('a clock jump in the middle of a run', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-07T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** An external-database restore whose wait the test ends; the clock moves `by` once the wait has begun. */
  async function externalRestore(by: number, opts: { continueAfterMs?: number; waitTimeoutMs: number }) {
    const world = new MemoryWorld();
    const fx = memoryFixture(world);
    const archive = await fx.archive({ databaseIncluded: false });
    world.autoContinue = false;
    const timers: NodeJS.Timeout[] = [];
    try {
      return await restoreOn(
        world,
        { archive },
        {
          config: { ...fx.config, restore: { databaseWaitTimeoutMs: opts.waitTimeoutMs } },
          onStepStarted: (step) => {
            if (step === 'wait-for-database') {
              // The step takes its deadline as it starts; the clock moves a moment later.
              timers.push(setTimeout(() => vi.setSystemTime(Date.now() + by), 100));
              if (opts.continueAfterMs !== undefined) timers.push(setTimeout(() => (world.autoContinue = true), opts.continueAfterMs));
            }
            // Stepped on each later step too, as repeated NTP steps would.
            else vi.setSystemTime(Date.now() + by);
          },
        },
      );
    } finally {
      for (const t of timers) clearTimeout(t);
    }
  }

  it('set forward two hours while the run waits for the operator: the wait does not time out, and the durations stay true', async () => {
    const end = await externalRestore(2 * HOUR, { continueAfterMs: 1500, waitTimeoutMs: 60_000 });
    if (!('run' in end)) throw new Error('the process was not meant to die');
    expect(end.run.error?.code).toBeUndefined();
    expect(end.run.phase).toBe('Succeeded');
    // Hours passed on the wall clock; the run took seconds, and says so.
    expect(Date.parse(end.run.finishedAt!) - Date.parse(end.run.startedAt)).toBeGreaterThan(2 * HOUR);
    expect(end.run.durationMs).toBeLessThan(HOUR);
    for (const s of end.run.steps) expect(s.durationMs, s.name).toBeLessThan(HOUR);
    expect(end.run.downtimeMs).toBeLessThan(HOUR);
  });

  it('set back two hours while the run waits: the wait still ends at its timeout, not two hours later', async () => {
    const end = await externalRestore(-2 * HOUR, { waitTimeoutMs: 1000 });
    if (!('run' in end)) throw new Error('the process was not meant to die');
    expect(end.run.steps.find((s) => s.status === 'failed')).toMatchObject({ name: 'wait-for-database', error: { code: 'RESTORE_ERR_DATABASE_WAIT_TIMEOUT' } });
    // Finished "before" it started by the wall clock; its duration is still a true, positive one.
    expect(Date.parse(end.run.finishedAt!)).toBeLessThan(Date.parse(end.run.startedAt));
    expect(end.run.durationMs).toBeGreaterThanOrEqual(1000);
    expect(end.run.durationMs).toBeLessThan(HOUR);
  });

  it('run ids keep the order the runs began in when the clock was set back between them', () => {
    const first = newRunId(new Date('2026-12-07T12:00:00Z'));
    const afterSetBack = newRunId(new Date('2026-12-07T11:00:00Z'), first);
    expect(afterSetBack > first).toBe(true);
    expect(afterSetBack).toMatch(/^20261207T120001Z-[0-9a-f]{8}$/);
    // With the clock where it should be, the id is the clock's.
    expect(newRunId(new Date('2026-12-07T13:00:00Z'), first)).toMatch(/^20261207T130000Z-/);
  });
});
