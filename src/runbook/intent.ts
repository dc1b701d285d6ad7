import { z } from 'zod';
import { RestoreError } from '../lib/errors.js';
import { stepNameSchema, type StepName } from '../model/run.js';
import type { AnyStep, StepRuntime } from './step.js';
import type { IntentStore } from './store/run-store.js';

export const INTENT_VERSION = 2;

/**
 * The intent of an unfinished run: what its steps have changed, or are about to change, written
 * durably BEFORE each change, so that the settling (in the same process after a failure, or in
 * the next one after a crash) knows what to undo or to complete. Its `steps` part is composed of
 * the steps' own schemas: a step records only what it needs to settle itself.
 */
export interface IntentDoc<P> {
  version: typeof INTENT_VERSION;
  runId: string;
  pid: number;
  /** The process that runs it (RunStore.holder): PIDs repeat across containers. */
  holder: string;
  startedAt: string;
  /** What the run was asked to do, enough to rebuild its context in another process. */
  params: P;
  /** Every step of the run in order: the settling walks it. */
  plan: StepName[];
  /** What each step that changes something recorded before it did. */
  steps: Partial<Record<StepName, unknown>>;
}

/** The document's schema for these params and steps; a step the agent does not know is refused. */
export function intentSchema<P>(params: z.ZodType<P>, steps: readonly AnyStep<StepRuntime>[]): z.ZodType<IntentDoc<P>> {
  const shape: Record<string, z.ZodTypeAny> = {};
  for (const s of steps) if (s.intent) shape[s.name] = s.intent.schema.optional();
  return z.object({
    version: z.literal(INTENT_VERSION),
    runId: z.string(),
    pid: z.number().int(),
    holder: z.string(),
    startedAt: z.string(),
    params,
    plan: z.array(stepNameSchema),
    steps: z.object(shape).strict(),
  }) as unknown as z.ZodType<IntentDoc<P>>;
}

/** Turns a document of an earlier format into the current one (undefined: it cannot). */
export type IntentUpgrade<P> = (doc: { version: number } & Record<string, unknown>) => Promise<IntentDoc<P> | undefined>;

/**
 * The intent document in its store: parsed against the composed schema, so a torn, reshaped or
 * future record is refused with STATE_INVALID naming where it is, never guessed at. A record of
 * the previous format is upgraded.
 */
export class IntentRecord<P> {
  /**
   * The document as this process last wrote it (or is writing it): what the run's own settling
   * goes by, so that a store that fails under it does not keep it from starting the services
   * again. Updated before each write, so it never holds less than the store may.
   */
  current?: IntentDoc<P>;
  /** What this process last wrote to the store. */
  private written?: IntentDoc<P>;

  constructor(
    readonly store: IntentStore,
    private readonly schema: z.ZodType<IntentDoc<P>>,
    private readonly upgrade?: IntentUpgrade<P>,
  ) {}

  private invalid(extra = ''): RestoreError {
    return new RestoreError(
      'RESTORE_ERR_STATE_INVALID',
      `${this.store.where} is not a valid record of an unfinished run; inspect it (it names databases to drop or rename back)${extra}`,
      { where: this.store.where },
    );
  }

  async read(): Promise<IntentDoc<P> | undefined> {
    const text = await this.store.read();
    if (text === undefined) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw this.invalid();
    }
    const version = (raw as { version?: unknown } | null)?.version;
    if (typeof version === 'number' && version > INTENT_VERSION) {
      throw this.invalid(`; it was written by a newer agent (format ${version}): recover with that version`);
    }
    if (typeof version === 'number' && version < INTENT_VERSION && this.upgrade) {
      const upgraded = await this.upgrade(raw as { version: number } & Record<string, unknown>);
      if (upgraded) return upgraded;
      throw this.invalid();
    }
    const parsed = this.schema.safeParse(raw);
    if (!parsed.success) throw this.invalid();
    return parsed.data;
  }

  async write(doc: IntentDoc<P>): Promise<void> {
    this.written = structuredClone(doc);
    this.current = structuredClone(doc);
    await this.persist(doc);
  }

  private async persist(doc: IntentDoc<P>): Promise<void> {
    await this.store.write(`${JSON.stringify(this.schema.parse(doc), null, 2)}\n`);
  }

  /**
   * Records (or, with undefined, forgets) what one step leaves behind; durable before it resolves.
   * Only the run's own process writes while it holds the lock, so what it wrote last is the
   * document. A forgotten step stays in `current`: settling it once more is harmless.
   */
  async recordStep(step: StepName, data: unknown): Promise<void> {
    const doc = this.written ?? (await this.read());
    if (!doc) throw new RestoreError('RESTORE_ERR_STATE_INVALID', `${this.store.where} disappeared during the run`, { where: this.store.where });
    this.current ??= structuredClone(doc);
    if (data === undefined) delete doc.steps[step];
    else doc.steps[step] = data;
    if (data !== undefined) this.current.steps[step] = structuredClone(data);
    this.written = doc;
    await this.persist(doc);
  }

  async clear(): Promise<void> {
    await this.store.clear();
    this.current = undefined;
    this.written = undefined;
  }
}

/** Whether the intent was written by this very process (then it is not an interrupted run's). */
export function intentIsOurs(holder: string, doc: { holder?: string; pid: number }): boolean {
  return doc.holder !== undefined ? doc.holder === holder : doc.pid === process.pid;
}
