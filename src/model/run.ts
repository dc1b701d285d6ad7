import { z } from 'zod';

/**
 * The restore run as every consumer sees it: `run --json`, `runs`, the journal on disk and (later)
 * the HTTP API. Defined once here; everything that writes or reads a run goes through these
 * schemas, so the journal cannot drift from what the API answers.
 */
export const STEP_NAMES = [
  'unpack-archive',
  'preflight',
  'version-check',
  'load-dump',
  'prepare-database',
  'stage-kv',
  'stop-services',
  'wait-for-database',
  'swap-database',
  'restore-pki',
  'restore-encryption',
  'restore-config',
  'restore-pam-volume',
  'prepare-kv',
  'start-services',
  'verify',
  'drop-old-database',
] as const;
export const stepNameSchema = z.enum(STEP_NAMES);
export type StepName = z.infer<typeof stepNameSchema>;

export const stepStatusSchema = z.enum(['ok', 'changed', 'skipped', 'failed']);
export type StepStatus = z.infer<typeof stepStatusSchema>;

export const errorBodySchema = z.object({ code: z.string(), message: z.string(), hint: z.string() });
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const stepResultSchema = z.object({
  name: stepNameSchema,
  status: stepStatusSchema,
  /** Whether the step changed (or, in check mode, would change) the host. */
  changed: z.boolean(),
  msg: z.string(),
  warnings: z.array(z.string()),
  startedAt: z.string(),
  durationMs: z.number().int().nonnegative(),
  /** Facts of the step for machines: counts, names, versions. Never a secret. */
  data: z.record(z.unknown()).optional(),
  error: errorBodySchema.optional(),
});
export type StepResult = z.infer<typeof stepResultSchema>;

/**
 * One thing the settling of a run did (runbook/settle.ts): a step's part undone, completed or
 * released, or a note; the step it belongs to; the error when it could not be done.
 */
export const settleActionSchema = z.object({
  step: stepNameSchema.optional(),
  kind: z.enum(['undo', 'complete', 'release', 'note']),
  msg: z.string(),
  error: errorBodySchema.optional(),
});
export type SettleAction = z.infer<typeof settleActionSchema>;

/**
 * A fault beyond the agent that a run met and got past (or that ended it): a server that went
 * away or was not back yet, a KV store that came back empty, a lost bus connection, a unit that
 * would not start. What happened, and what the agent did about it.
 */
export const FAULT_KINDS = ['server-unavailable', 'kv-keys-lost', 'connection-lost', 'unit-failed'] as const;
export const faultMetSchema = z.object({
  at: z.string(),
  /** The step it happened in; absent while the run was being settled. */
  step: stepNameSchema.optional(),
  kind: z.enum(FAULT_KINDS),
  /** The catalogue code of what stood in the way, and its message. */
  code: z.string(),
  message: z.string(),
  /** What the agent did: waited and tried again, wrote the keys again, reconnected, ... */
  action: z.string(),
});
export type FaultMet = z.infer<typeof faultMetSchema>;

export const RUN_PHASES = ['Pending', 'Running', 'WaitingForDatabase', 'Succeeded', 'Failed', 'Interrupted', 'Recovered'] as const;
export const runPhaseSchema = z.enum(RUN_PHASES);
export type RunPhase = z.infer<typeof runPhaseSchema>;

export const deviceSummarySchema = z.object({ total: z.number().int(), byStatus: z.record(z.number().int()) });

export const runSchema = z.object({
  id: z.string(),
  phase: runPhaseSchema,
  check: z.boolean(),
  target: z.enum(['quadlet', 'kubernetes']),
  options: z.object({
    dump: z.string().optional(),
    archive: z.string().optional(),
    force: z.boolean(),
    keepOldDb: z.boolean(),
    database: z.string(),
    endpointStrategy: z.string().optional(),
  }),
  /** Every step of this run in the order it runs (the order depends on the options). */
  plan: z.array(stepNameSchema),
  /** Results of the steps that ran so far, in order. */
  steps: z.array(stepResultSchema),
  currentStep: stepNameSchema.optional(),
  requestedBy: z.string(),
  /** Process that runs it: recovery treats a Running run whose process is gone as interrupted. */
  pid: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  /**
   * Start to finish on a monotonic clock (a clock set back or forward meanwhile does not change
   * it), when one process ran it whole; a run a later process finished has only its timestamps.
   */
  durationMs: z.number().int().nonnegative().optional(),
  /** First application service stopped to last one started again. */
  downtimeMs: z.number().int().nonnegative().optional(),
  devices: z.object({ before: deviceSummarySchema.optional(), after: deviceSummarySchema.optional() }).optional(),
  /** What the finalizers did after a failure or an interruption (restart, remove, roll back). */
  finalizers: z.array(z.string()),
  /** The same as data: which step did what (absent in runs of earlier versions). */
  finalizerActions: z.array(settleActionSchema).optional(),
  /** Set when a later process finished this run after it was killed. */
  recovery: z.object({ at: z.string(), by: z.string(), actions: z.array(z.string()), stepActions: z.array(settleActionSchema).optional() }).optional(),
  error: errorBodySchema.optional(),
  /** Every fault beyond the agent the run met, in order (absent: none). */
  faults: z.array(faultMetSchema).optional(),
});
export type Run = z.infer<typeof runSchema>;

export const progressSchema = z.object({
  done: z.number().nonnegative(),
  total: z.number().nonnegative().optional(),
  unit: z.enum(['bytes', 'keys', 'units']),
});
export type Progress = z.infer<typeof progressSchema>;

const eventBase = { seq: z.number().int().positive(), time: z.string() };
export const runEventSchema = z.discriminatedUnion('type', [
  z.object({ ...eventBase, type: z.literal('step-started'), step: stepNameSchema }),
  z.object({ ...eventBase, type: z.literal('progress'), step: stepNameSchema, progress: progressSchema }),
  z.object({ ...eventBase, type: z.literal('step-finished'), step: stepNameSchema, result: stepResultSchema }),
  z.object({ ...eventBase, type: z.literal('run-finished'), run: runSchema }),
]);
export type RunEvent = z.infer<typeof runEventSchema>;

const RUN_ID = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$/;

/** 20261128T061500Z-1a2b3c4d (runner.ts newRunId): anything else names no run. */
export function isRunId(id: string): boolean {
  return RUN_ID.test(id);
}

/** Phases after which nothing about the run changes any more (except a later recovery note). */
export function isFinished(phase: RunPhase): boolean {
  return phase !== 'Pending' && phase !== 'Running' && phase !== 'WaitingForDatabase';
}

/** How long a run took: its monotonic duration, else (finished by a later process) its timestamps' difference. */
export function runDurationMs(run: { durationMs?: number | undefined; startedAt: string; finishedAt?: string | undefined }): number | undefined {
  if (run.durationMs !== undefined) return run.durationMs;
  if (!run.finishedAt) return undefined;
  const ms = Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
