import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RestoreError } from '../../src/lib/errors.js';
import { createLogger } from '../../src/lib/logger.js';
import { clearSecretsForTest, registerSecret } from '../../src/lib/secrets.js';
import { RunJournal } from '../../src/runbook/store/file/run-journal.js';
import type { Run, RunEvent, StepName } from '../../src/model/run.js';
import { executeRun, newRunId, runSuffix, type Outcome, type Step, type StepRuntime } from '../../src/runbook/runner.js';

const logger = createLogger('error');

function newRun(check = false): Run {
  return {
    id: newRunId(),
    phase: 'Pending',
    check,
    target: 'quadlet',
    options: { force: false, keepOldDb: false, database: 'flightctl' },
    plan: [],
    steps: [],
    requestedBy: 'test',
    pid: process.pid,
    startedAt: new Date().toISOString(),
    finalizers: [],
  };
}

/** Steps that record what the runner called on them. */
function recordingSteps(calls: string[], over: Partial<Record<StepName, Partial<Step<StepRuntime>>>> = {}): Step<StepRuntime>[] {
  const names: StepName[] = ['preflight', 'load-dump', 'stop-services', 'start-services'];
  return names.map((name) => ({
    name,
    check: async () => {
      calls.push(`check ${name}`);
      return { changed: name !== 'preflight', msg: `would ${name}` };
    },
    apply: async () => {
      calls.push(`apply ${name}`);
      return { changed: name !== 'preflight', msg: `did ${name}` };
    },
    ...over[name],
  }));
}

async function execute(steps: Step<StepRuntime>[], opts: { check?: boolean; signal?: AbortSignal } = {}) {
  const journal = new RunJournal(mkdtempSync(path.join(tmpdir(), 'runner-')));
  const events: RunEvent[] = [];
  const finalized: Outcome[] = [];
  const run = await executeRun({
    run: newRun(opts.check),
    steps,
    journal,
    logger,
    signal: opts.signal ?? new AbortController().signal,
    context: (rt) => rt,
    finalize: async (outcome) => {
      finalized.push(outcome);
      return { actions: outcome === 'succeeded' ? [] : [{ kind: 'release' as const, msg: 'started what was stopped' }], completed: false };
    },
    onEvent: (e) => events.push(e),
  });
  return { run, events, finalized, journal };
}

describe('runbook runner', () => {
  it('a real run applies every step in order, records results, events and the journal', async () => {
    const calls: string[] = [];
    const { run, events, journal } = await execute(recordingSteps(calls));
    expect(calls).toEqual(['apply preflight', 'apply load-dump', 'apply stop-services', 'apply start-services']);
    expect(run.phase).toBe('Succeeded');
    expect(run.steps.map((s) => [s.name, s.status, s.changed])).toEqual([
      ['preflight', 'ok', false],
      ['load-dump', 'changed', true],
      ['stop-services', 'changed', true],
      ['start-services', 'changed', true],
    ]);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', run: { phase: 'Succeeded' } });
    expect(await journal.events(run.id)).toEqual(events);
    expect(await journal.read(run.id)).toEqual(run);
  });

  it('check mode runs the checks only', async () => {
    const calls: string[] = [];
    const { run } = await execute(recordingSteps(calls), { check: true });
    expect(calls.every((c) => c.startsWith('check '))).toBe(true);
    expect(run.steps.map((s) => s.msg)).toEqual(['would preflight', 'would load-dump', 'would stop-services', 'would start-services']);
  });

  it('a skipped step is reported as skipped with its reason and neither checked nor applied', async () => {
    const calls: string[] = [];
    const { run } = await execute(recordingSteps(calls, { 'load-dump': { skip: () => 'no --dump' } }));
    expect(run.steps[1]).toMatchObject({ name: 'load-dump', status: 'skipped', msg: 'no --dump' });
    expect(calls).not.toContain('apply load-dump');
  });

  it('a failing step stops the run; the finalizers run and the error keeps its code', async () => {
    const calls: string[] = [];
    const steps = recordingSteps(calls, {
      'stop-services': {
        apply: async () => {
          throw new RestoreError('RESTORE_ERR_UNIT_TIMEOUT', 'flightctl-api.service did not stop');
        },
      },
    });
    const { run, finalized } = await execute(steps);
    expect(calls).not.toContain('apply start-services');
    expect(run.phase).toBe('Failed');
    expect(run.error).toMatchObject({ code: 'RESTORE_ERR_UNIT_TIMEOUT' });
    expect(run.steps.at(-1)).toMatchObject({ name: 'stop-services', status: 'failed', error: { code: 'RESTORE_ERR_UNIT_TIMEOUT' } });
    expect(finalized).toEqual(['failed']);
    expect(run.finalizers).toEqual(['started what was stopped']);
  });

  it('a signal ends the run at the next step boundary as Interrupted', async () => {
    const calls: string[] = [];
    const controller = new AbortController();
    const steps = recordingSteps(calls, {
      'load-dump': {
        apply: async () => {
          controller.abort();
          return { changed: true, msg: 'loaded' };
        },
      },
    });
    const { run, finalized } = await execute(steps, { signal: controller.signal });
    expect(calls).toEqual(['apply preflight']);
    expect(run.phase).toBe('Interrupted');
    expect(run.error?.code).toBe('RESTORE_ERR_CANCELLED');
    expect(finalized).toEqual(['interrupted']);
  });

  it('progress is reported as events and nothing a step says reaches the journal with a secret in it', async () => {
    registerSecret('s3cr3t-value-xyz');
    try {
      const steps: Step<StepRuntime>[] = [
        {
          name: 'load-dump',
          check: async () => ({ changed: true, msg: '' }),
          apply: async (ctx) => {
            for (let i = 1; i <= 4; i++) await ctx.progress({ done: i * 25, total: 100, unit: 'bytes' });
            ctx.warn('connected with s3cr3t-value-xyz');
            return { changed: true, msg: 'loaded with s3cr3t-value-xyz' };
          },
        },
      ];
      const { run, events, journal } = await execute(steps);
      expect(events.filter((e) => e.type === 'progress').at(-1)).toMatchObject({ progress: { done: 100, total: 100 } });
      const file = readFileSync(path.join(journal.dir, `${run.id}.json`), 'utf8') + readFileSync(path.join(journal.dir, `${run.id}.events.ndjson`), 'utf8');
      expect(file).not.toContain('s3cr3t-value-xyz');
      expect(run.steps[0]!.msg).toBe('loaded with [REDACTED]');
    } finally {
      clearSecretsForTest();
    }
  });

  it('run ids sort by time and end in the suffix the databases are named with', () => {
    const id = newRunId(new Date('2026-11-28T06:15:00.123Z'));
    expect(id).toMatch(/^20261128T061500Z-[0-9a-f]{8}$/);
    expect(runSuffix(id)).toBe(id.slice(-8));
  });
});
