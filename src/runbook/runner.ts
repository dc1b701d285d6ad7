import { randomBytes } from 'node:crypto';
import type { Logger } from 'winston';
import { asRestoreError, RestoreError } from '../lib/errors.js';
import { redactText } from '../lib/secrets.js';
import { faultPoint } from './faults.js';
import type { SettleResult } from './settle.js';
import type { AnyStep, StepRuntime } from './step.js';
import type { JournalStore } from './store/run-store.js';
import type { FaultMet, Run, RunEvent, StepName, StepResult } from '../model/run.js';

export type { Step, StepOutcome, StepRuntime } from './step.js';

export type Outcome = 'succeeded' | 'failed' | 'interrupted';

/** An event before the runner numbers and stamps it (Omit does not distribute over a union). */
type EventBody = RunEvent extends infer E ? (E extends RunEvent ? Omit<E, 'seq' | 'time'> : never) : never;

/** Where the steps record their intent (IntentRecord.recordStep); none in check mode. */
export interface StepRecorder {
  record(step: StepName, data: unknown): Promise<void>;
}

export interface ExecuteOptions<C extends StepRuntime> {
  run: Run;
  steps: readonly AnyStep<C>[];
  journal: JournalStore;
  logger: Logger;
  signal: AbortSignal;
  recorder?: StepRecorder | undefined;
  context(runtime: StepRuntime): C;
  /** Undo, complete or release whatever the run left (also after success: it clears the intent). */
  finalize(outcome: Outcome, ctx: C): Promise<SettleResult>;
  onEvent?(event: RunEvent): void;
}

/**
 * 20261128T061500Z-1a2b3c4d: sorts by start time; the hex part names the run's databases. Never
 * before `after` (the newest run so far) plus a second, so that runs sort in the order they began
 * even when the clock was set back since: the journal lists and prunes by id.
 */
export function newRunId(now = new Date(), after?: string): string {
  const stampOf = (d: Date) =>
    d
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}Z$/, 'Z');
  let stamp = stampOf(now);
  const last = after?.slice(0, after.indexOf('-'));
  if (last && stamp <= last) {
    const t = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(last);
    if (t) stamp = stampOf(new Date(Date.UTC(+t[1]!, +t[2]! - 1, +t[3]!, +t[4]!, +t[5]!, +t[6]! + 1)));
  }
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

export function runSuffix(runId: string): string {
  return runId.slice(runId.lastIndexOf('-') + 1);
}

const PROGRESS_EVERY_MS = 250;
const PROGRESS_JOURNAL_EVERY_MS = 2000;

/**
 * Runs the steps in order and records everything: each step start, progress and result is an
 * event, appended to the journal and passed to onEvent; the run document is saved at each step
 * boundary. After the last step, a failure or a signal, the finalizers run, and the run ends
 * Succeeded, Failed or Interrupted.
 */
/** Keeps a fault the run met in its record (`faults`), redacted; answers what was kept. */
export function noteFault(run: Run, f: Pick<FaultMet, 'kind' | 'code' | 'message' | 'action'>, step?: StepName): FaultMet {
  const met: FaultMet = { at: new Date().toISOString(), ...(step ? { step } : {}), ...f, message: redactText(f.message) };
  (run.faults ??= []).push(met);
  return met;
}

export async function executeRun<C extends StepRuntime>(opts: ExecuteOptions<C>): Promise<Run> {
  const { run, journal, logger } = opts;
  const runT0 = performance.now();
  let seq = 0;
  const emit = async (event: EventBody, durable = true): Promise<void> => {
    const full = { ...event, seq: ++seq, time: new Date().toISOString() } as RunEvent;
    opts.onEvent?.(full);
    if (durable) await journal.append(run.id, full);
  };
  let current: { step: StepName; warnings: string[]; lastEmit: number; lastJournal: number; pending?: Promise<void> } | undefined;
  const runtime: StepRuntime = {
    check: run.check,
    signal: opts.signal,
    logger,
    progress(p) {
      if (!current) return Promise.resolve();
      const step = current.step;
      // A test's hold point sits in the middle of the work (half the bytes of a dump loaded).
      const hold = p.total === undefined || p.done * 2 >= p.total ? faultPoint(`progress:${step}`, opts.signal) : Promise.resolve();
      const now = performance.now();
      if (now - current.lastEmit < PROGRESS_EVERY_MS && p.done !== p.total) return hold;
      current.lastEmit = now;
      const durable = now - current.lastJournal >= PROGRESS_JOURNAL_EVERY_MS;
      if (durable) current.lastJournal = now;
      // Journal writes are chained, never concurrent, and awaited before the step finishes.
      const c = current;
      c.pending = (c.pending ?? Promise.resolve()).then(() => emit({ type: 'progress', step, progress: p }, durable)).catch(() => undefined);
      return hold;
    },
    warn(text) {
      const clean = redactText(text);
      current?.warnings.push(clean);
      logger.warn(clean, { runId: run.id, step: current?.step });
    },
    fault(f) {
      const met = noteFault(run, f, current?.step);
      runtime.warn(`${met.code}: ${met.message}; ${met.action}`);
    },
    async setPhase(phase) {
      run.phase = phase;
      await journal.save(run);
    },
    async record(data) {
      if (current && opts.recorder) await opts.recorder.record(current.step, data);
    },
  };
  const ctx = opts.context(runtime);
  let outcome: Outcome = 'succeeded';
  let failure: RestoreError | undefined;

  run.phase = 'Running';
  await journal.save(run);
  for (const step of opts.steps) {
    if (opts.signal.aborted) {
      outcome = 'interrupted';
      break;
    }
    current = { step: step.name, warnings: [], lastEmit: 0, lastJournal: 0 };
    run.currentStep = step.name;
    await journal.save(run);
    await emit({ type: 'step-started', step: step.name });
    logger.debug(`step ${step.name} started`, { runId: run.id, step: step.name });
    const startedAt = new Date();
    const t0 = performance.now();
    let result: StepResult;
    try {
      await faultPoint(`before:${step.name}`, opts.signal);
      if (opts.signal.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', `interrupted before ${step.name}`);
      const skipWhy = step.skip?.(ctx);
      if (skipWhy !== undefined) {
        result = stepResult(step.name, 'skipped', false, skipWhy, startedAt, t0, current.warnings);
      } else {
        if (!run.check && step.intent && opts.recorder) {
          // Intent before action: what the step will leave behind is durable before it starts.
          const intent = step.intent.before(ctx);
          if (intent !== undefined) await opts.recorder.record(step.name, intent);
        }
        const out = run.check ? await step.check(ctx) : await step.apply(ctx);
        result = stepResult(step.name, out.changed ? 'changed' : 'ok', out.changed, out.msg, startedAt, t0, current.warnings, out.data);
      }
      await faultPoint(`after:${step.name}`, opts.signal);
    } catch (err) {
      failure = asRestoreError(err);
      result = stepResult(step.name, 'failed', false, failure.message, startedAt, t0, current.warnings);
      result.error = failure.toJSON();
      outcome = opts.signal.aborted || failure.code === 'RESTORE_ERR_CANCELLED' ? 'interrupted' : 'failed';
    }
    await current.pending;
    run.steps.push(result);
    await emit({ type: 'step-finished', step: step.name, result });
    logger.info(`step ${step.name} ${result.status}: ${result.msg}`, { runId: run.id, step: step.name, durationMs: result.durationMs });
    if (outcome !== 'succeeded') break;
  }
  current = undefined;
  run.currentStep = undefined;
  if (outcome === 'succeeded' && opts.signal.aborted) outcome = 'interrupted';
  // An abort with a reason of its own (the lock was lost) says so; a signal is a cancellation.
  if (outcome === 'interrupted' && (!failure || failure.code === 'RESTORE_ERR_CANCELLED') && opts.signal.reason instanceof RestoreError)
    failure = opts.signal.reason;
  if (outcome === 'interrupted' && !failure) failure = new RestoreError('RESTORE_ERR_CANCELLED', 'the run was interrupted by a signal before it finished');

  let settled: SettleResult;
  try {
    settled = await opts.finalize(outcome, ctx);
  } catch (err) {
    const e = asRestoreError(err);
    settled = { actions: [{ kind: 'note', msg: `finalizers did not complete: ${e.code}: ${e.message}`, error: e.toJSON() }], failure: e, completed: false };
  }
  run.finalizers = settled.actions.map((a) => a.msg);
  if (settled.actions.length) run.finalizerActions = settled.actions;
  if (settled.failure && !failure) {
    failure = settled.failure;
    outcome = 'failed';
  }
  run.phase = outcome === 'succeeded' ? 'Succeeded' : outcome === 'interrupted' ? 'Interrupted' : 'Failed';
  if (failure && outcome !== 'succeeded') run.error = failure.toJSON();
  run.finishedAt = new Date().toISOString();
  run.durationMs = Math.max(0, Math.round(performance.now() - runT0));
  await journal.save(run);
  await emit({ type: 'run-finished', run: structuredClone(run) });
  return run;
}

function stepResult(
  name: StepName,
  status: StepResult['status'],
  changed: boolean,
  msg: string,
  startedAt: Date,
  t0: number,
  warnings: string[],
  data?: Record<string, unknown>,
): StepResult {
  return {
    name,
    status,
    changed,
    msg: redactText(msg),
    warnings: [...warnings],
    startedAt: startedAt.toISOString(),
    durationMs: Math.max(0, Math.round(performance.now() - t0)),
    ...(data ? { data } : {}),
  };
}
