import type { z } from 'zod';
import type { Logger } from 'winston';
import type { FaultMet, Progress, StepName } from '../model/run.js';

/** What a step reports: whether it changed (or, in check mode, would change) anything. */
export interface StepOutcome {
  changed: boolean;
  msg: string;
  data?: Record<string, unknown>;
}

/** What every step gets from the runner, whatever the plan. */
export interface StepRuntime {
  readonly check: boolean;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /**
   * Reports progress of long work (bytes loaded, keys written); throttled by the runner. Awaiting
   * it is how a test's fault injection pauses the work half-way; otherwise it resolves at once.
   */
  progress(p: Progress): Promise<void>;
  warn(text: string): void;
  /** A fault beyond the agent met and what was done about it: kept in the run (`faults`) and said as a warning. */
  fault(f: Pick<FaultMet, 'kind' | 'code' | 'message' | 'action'>): void;
  /** A phase other than Running while a step waits for someone (WaitingForDatabase); saved at once. */
  setPhase(phase: 'Running' | 'WaitingForDatabase'): Promise<void>;
  /**
   * Replaces what the running step recorded in the intent (its `intent` schema), durably, before it
   * resolves: a step that learns more as it goes (a file it is about to leave behind) records it
   * before acting on it. Undefined: the step leaves nothing behind after all. A no-op in check mode.
   */
  record(data: unknown): Promise<void>;
}

/**
 * What a step records before it changes anything, so that a later process can settle the run
 * without it: the schema (one per step; the intent document composes them), what to record, and
 * how to rebuild what the step taught the run from the record.
 */
export interface StepIntent<C, D> {
  schema: z.ZodType<D>;
  /** Recorded before apply; undefined: this apply changes nothing that outlives the process. */
  before(ctx: C): D | undefined;
  /** In the process that settles the run (maybe a later one): what the step found out, back in ctx. */
  reload?(ctx: C, recorded: D): void;
}

/**
 * A step as data, owning its whole life:
 * - `check` (read-only: what would change) and `apply` (change it, idempotently); check mode runs
 *   every check and no apply;
 * - `intent`: what it records before apply;
 * - `pointOfNoReturn`: once recorded, whether the run is past the point after which it is completed
 *   rather than rolled back (it may look: did the swap commit?);
 * - `undo` (rolled back: reverse what it changed), `complete` (rolled forward: bring its part to
 *   the end state, from a context rebuilt from the intent), `release` (after the run, whatever
 *   happened: let go of what it held for it; `settled` says whether the run ended settled, or a
 *   later recovery will need what it holds; `rolledBack`, whether the run was rolled back, even
 *   when an undo failed: nothing goes forward from it), `discard` (rolled back: what only a run going
 *   forward would use, such as an extracted archive's private keys, dropped before any undo, which
 *   may wait minutes for a server), `finally` (after every release: what must come last, such as
 *   starting the services once everything they depend on is in place).
 * What the engine does with them is decided in one place, runbook/settle.ts.
 */
export interface Step<C extends StepRuntime, D = unknown> {
  name: StepName;
  /** Why the step does not apply to this run (it is reported as skipped); undefined: it runs. */
  skip?(ctx: C): string | undefined;
  check(ctx: C): Promise<StepOutcome>;
  apply(ctx: C): Promise<StepOutcome>;
  intent?: StepIntent<C, D>;
  pointOfNoReturn?(ctx: C, recorded: D): Promise<boolean> | boolean;
  undo?(ctx: C, recorded: D): Promise<string[]>;
  complete?(ctx: C, recorded: D | undefined): Promise<string[]>;
  release?(ctx: C, recorded: D, how: { settled: boolean; rolledBack: boolean }): Promise<string[]>;
  discard?(ctx: C, recorded: D): Promise<string[]>;
  /**
   * `serveable`: what the services would find is whole: the original data (rolled back), or the
   * completed restore. False when a completion failed or the point could not be told: a restored
   * database must not be served before its KV keys are written.
   */
  finally?(ctx: C, recorded: D, how: { serveable: boolean }): Promise<string[]>;
}

/** A step of any intent type, as plans hold them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStep<C extends StepRuntime> = Step<C, any>;

/** Defines a step with its intent type inferred from its schema. */
export function defineStep<C extends StepRuntime, D = undefined>(step: Step<C, D>): Step<C, D> {
  return step;
}
