import { EventEmitter } from 'node:events';
import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import { RestoreError } from '../lib/errors.js';
import { recover, runRestore, type RestoreRequest } from '../runbook/restore/restore.js';
import { isFinished, type Run, type RunEvent } from '../model/run.js';
import type { JournalStore, RunStore } from '../runbook/store/run-store.js';
import type { RestoreTarget } from '../targets/target.js';

interface ActiveRun {
  run: Run;
  /** Every event of the run so far, progress included, for subscribers that join late. */
  events: RunEvent[];
  emitter: EventEmitter;
  done: Promise<Run>;
}

/**
 * The daemon's side of the engine: starts a restore in the background (one at a time; the host
 * lock refuses a second one, also one started by the CLI), answers runs from memory while they
 * run and from the journal afterwards, and feeds event streams. What the API returns is the
 * engine's own run object.
 */
export class RunManager {
  private active?: ActiveRun;
  private readonly journal: JournalStore;
  private readonly controller = new AbortController();

  constructor(private readonly deps: { config: Readonly<Config>; logger: Logger; target: RestoreTarget; store: RunStore; onFinished?: (run: Run) => void }) {
    this.journal = deps.store.journal;
  }

  /** Finishes what an earlier process left (before the daemon accepts restores); one attempt: serve retries. */
  recover() {
    return recover({ config: this.deps.config, logger: this.deps.logger, target: this.deps.target, store: this.deps.store }, 'serve (at start)', {
      maxWaitMs: 0,
    });
  }

  /** Tells a run waiting for its external database to go on (no lock: the waiting run holds it). */
  continue(id: string): Promise<Run> {
    return this.journal.requestContinue(id);
  }

  /**
   * Starts a run and resolves once it is recorded (before its first step); the restore goes on in
   * the background. A run already going (here or from the CLI) is RESTORE_ERR_RUN_ACTIVE.
   */
  start(req: RestoreRequest): Promise<Run> {
    if (this.active && !this.controller.signal.aborted && isRunning(this.active.run)) {
      return Promise.reject(new RestoreError('RESTORE_ERR_RUN_ACTIVE', `run ${this.active.run.id} is in progress on this host`, { runId: this.active.run.id }));
    }
    if (this.controller.signal.aborted) return Promise.reject(new RestoreError('RESTORE_ERR_NOT_READY', 'the agent is stopping'));
    return new Promise<Run>((resolve, reject) => {
      const emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      let entry: ActiveRun | undefined;
      const events: RunEvent[] = [];
      const { onFinished: _onFinished, ...engine } = this.deps;
      const done = runRestore(
        {
          ...engine,
          signal: this.controller.signal,
          onRun: (run) => {
            entry = { run, events, emitter, done };
            this.active = entry;
            resolve(structuredClone(run));
          },
          onEvent: (event) => {
            events.push(event);
            emitter.emit('event', event);
            if (event.type === 'run-finished') this.deps.onFinished?.(event.run);
          },
        },
        req,
      );
      done.catch((err: unknown) => {
        // Refused before it was recorded (the lock, a recovery that could not finish): the caller's error.
        if (!entry) reject(err);
        else this.deps.logger.error('a restore run ended with an error outside its steps', { runId: entry.run.id, error: (err as Error).message });
      });
    });
  }

  /** The run as it is now: from memory while it runs (the same object the engine updates). */
  async get(id: string): Promise<Run> {
    if (this.active?.run.id === id) return structuredClone(this.active.run);
    return this.journal.require(id);
  }

  list(): Promise<Run[]> {
    return this.journal.list();
  }

  /**
   * Events of a run after `afterSeq`, then live ones until the run finishes; the iterator ends with
   * the run-finished event. A finished run replays from the journal.
   */
  async *events(id: string, afterSeq: number, signal: AbortSignal): AsyncGenerator<RunEvent> {
    const live = this.active?.run.id === id ? this.active : undefined;
    if (!live) {
      await this.journal.require(id);
      for (const e of await this.journal.events(id)) if (e.seq > afterSeq) yield e;
      return;
    }
    const queue: RunEvent[] = [];
    let wake: (() => void) | undefined;
    const onEvent = (e: RunEvent) => {
      queue.push(e);
      wake?.();
    };
    // Subscribe before replaying, so nothing falls between the replay and the live part.
    live.emitter.on('event', onEvent);
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      let last = afterSeq;
      for (const e of live.events.slice()) {
        if (e.seq > last) {
          last = e.seq;
          yield e;
          if (e.type === 'run-finished') return;
        }
      }
      for (;;) {
        while (queue.length) {
          const e = queue.shift()!;
          if (e.seq <= last) continue;
          last = e.seq;
          yield e;
          if (e.type === 'run-finished') return;
        }
        if (signal.aborted) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      live.emitter.off('event', onEvent);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Whether a restore is going on right now. */
  busy(): boolean {
    return !!this.active && isRunning(this.active.run);
  }

  /**
   * SIGTERM: a running restore stops at its next safe point and runs its finalizers; resolves
   * when it has.
   */
  async shutdown(): Promise<void> {
    this.controller.abort();
    await this.active?.done.catch(() => undefined);
  }
}

function isRunning(run: Run): boolean {
  return !isFinished(run.phase);
}
