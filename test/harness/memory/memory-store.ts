import { RestoreError } from '../../../src/lib/errors.js';
import type { Run } from '../../../src/model/run.js';
import type { IntentStore, JournalStore, RunLock, RunStore } from '../../../src/runbook/store/run-store.js';
import type { MemoryProcess } from './memory-world.js';

/** The run store of the in-memory host: the world keeps it, the process reaches it (and freezes with it). */
export class MemoryRunStore implements RunStore {
  readonly holder: string;
  readonly journal: JournalStore;
  readonly intent: IntentStore;

  constructor(proc: MemoryProcess) {
    this.holder = `memory:${proc.pid}`;
    const w = proc.world;
    this.intent = {
      where: 'intent of the in-memory host',
      read: () => proc.read(() => w.intentText),
      write: (text) =>
        proc.read(() => {
          w.intentText = text;
          // A `recorded` crash point: the step's intent is durable, nothing of it is done.
          const crash = w.crashAt;
          if (
            crash?.when === 'recorded' &&
            crash.step === w.currentStep &&
            (JSON.parse(text) as { steps: Record<string, unknown> }).steps[crash.step] !== undefined
          ) {
            w.crashAt = undefined;
            proc.kill();
          }
        }),
      clear: () =>
        proc.read(() => {
          w.intentText = undefined;
        }),
    };
    this.journal = {
      where: 'journal of the in-memory host',
      save: (run) => proc.read(() => void w.runs.set(run.id, structuredClone(run))),
      append: (id, event) => proc.read(() => void (w.events.get(id) ?? w.events.set(id, []).get(id)!).push(structuredClone(event))),
      read: (id) => proc.read(() => structuredClone(w.runs.get(id))),
      require: (id) =>
        proc.read(() => {
          const run = w.runs.get(id);
          if (!run) throw new RestoreError('RESTORE_ERR_RUN_NOT_FOUND', `no run ${id}`);
          return structuredClone(run);
        }),
      events: (id) => proc.read(() => structuredClone(w.events.get(id) ?? [])),
      list: () => proc.read(() => [...w.runs.values()].sort((a, b) => (a.id < b.id ? 1 : -1)).map((r) => structuredClone(r))),
      prune: () => proc.read(() => undefined),
      abandoned: (run: Run) => proc.read(() => run.pid !== proc.pid && !w.alive.has(run.pid)),
      requestContinue: (id) => proc.read(() => structuredClone(w.runs.get(id)!)),
      takeContinue: () => proc.read(() => w.autoContinue),
    };
  }

  async lock(): Promise<RunLock> {
    return { release: async () => undefined };
  }

  close(): void {}
}
