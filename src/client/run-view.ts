import { z } from 'zod';
import { runDurationMs } from '../model/run.js';

/**
 * The run and its events as this client reads them from an agent. Deliberately more lenient
 * than the agent's own schemas (src/model/run.ts): a newer agent may add steps and phases
 * (archives add steps; an external database adds WaitingForDatabase), and an older client must
 * still follow its runs. Only what the client uses is required.
 */
const errorBody = z.object({ code: z.string(), message: z.string(), hint: z.string().default('') });
export type ErrorView = z.infer<typeof errorBody>;

export const stepView = z
  .object({
    name: z.string(),
    status: z.string(),
    changed: z.boolean().default(false),
    msg: z.string().default(''),
    warnings: z.array(z.string()).default([]),
    durationMs: z.number().default(0),
    error: errorBody.optional(),
  })
  .passthrough();
export type StepView = z.infer<typeof stepView>;

const summary = z.object({ total: z.number(), byStatus: z.record(z.number()) });

export const runView = z
  .object({
    id: z.string(),
    phase: z.string(),
    check: z.boolean().default(false),
    plan: z.array(z.string()).default([]),
    steps: z.array(stepView).default([]),
    currentStep: z.string().optional(),
    requestedBy: z.string().optional(),
    startedAt: z.string(),
    finishedAt: z.string().optional(),
    durationMs: z.number().optional(),
    downtimeMs: z.number().optional(),
    devices: z.object({ before: summary.optional(), after: summary.optional() }).optional(),
    finalizers: z.array(z.string()).default([]),
    error: errorBody.optional(),
  })
  .passthrough();
export type RunView = z.infer<typeof runView>;

export const eventView = z
  .object({
    seq: z.number().int().positive(),
    time: z.string(),
    type: z.string(),
    step: z.string().optional(),
    progress: z.object({ done: z.number(), total: z.number().optional(), unit: z.string() }).optional(),
    result: stepView.optional(),
    run: runView.optional(),
  })
  .passthrough();
export type EventView = z.infer<typeof eventView>;

const FINISHED = new Set(['Succeeded', 'Failed', 'Interrupted', 'Recovered']);

/** Phases after which the run changes no more. Unknown phases count as still going. */
export function isFinishedPhase(phase: string): boolean {
  return FINISHED.has(phase);
}

/** Steps that changed (or in check mode would change) the host. */
export function changedSteps(run: RunView): string[] {
  return run.steps.filter((s) => s.changed).map((s) => s.name);
}

export { runDurationMs };
