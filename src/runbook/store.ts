import type { RunIntent } from './intent.js';
import type { Run, RunEvent } from './run-model.js';

/**
 * Where the engine keeps what must outlive its process: the journal of runs, the intent of the
 * run in progress, and the lock that lets one mutating run at a time. The target chooses it: a
 * Quadlets host keeps files under its state directory; a Kubernetes Job, whose filesystem does
 * not survive it, keeps ConfigMaps and a Lease in the cluster. The engine never knows which.
 */
export interface RunStore {
  readonly journal: JournalStore;
  readonly intent: IntentStore;
  /**
   * Takes the lock for one mutating operation (a restore, recover); RESTORE_ERR_RUN_ACTIVE while
   * a live holder has it. A holder that died holds nothing.
   */
  lock(what: string): Promise<RunLock>;
  /**
   * This process, as written into the intent: its own record is told from one a dead process
   * left even where PIDs repeat (every container's first process is PID 1).
   */
  readonly holder: string;
}

export interface RunLock {
  release(): Promise<void>;
  /** Aborted when the lock was lost while held (a lease another process took over). */
  readonly lost?: AbortSignal;
}

/** The durable record of every run: the run document and its events, for replay. */
export interface JournalStore {
  /** Where the journal lives, for messages ("/var/lib/.../runs", "ConfigMaps in namespace X"). */
  readonly where: string;
  /** Everything written is redacted once more: a secret never reaches the store through a message. */
  save(run: Run): Promise<void>;
  append(id: string, event: RunEvent): Promise<void>;
  read(id: string): Promise<Run | undefined>;
  require(id: string): Promise<Run>;
  /** Events of a run in order. */
  events(id: string): Promise<RunEvent[]>;
  /** Runs, newest first. */
  list(): Promise<Run[]>;
  /** Keeps the newest `keep` finished runs. */
  prune(keep: number): Promise<void>;
  /** Whether an unfinished run lost its process (killed, crashed, rebooted): recovery marks it. */
  abandoned(run: Run): Promise<boolean>;
  /** Asks a run waiting for its external database to go on; refused unless it waits. */
  requestContinue(id: string): Promise<Run>;
  /** Consumes a continue request: true once one was made for the run. */
  takeContinue(id: string): Promise<boolean>;
}

/** What an unfinished run has changed or is about to change (intent.ts), durable before each change. */
export interface IntentStore {
  readonly where: string;
  read(): Promise<RunIntent | undefined>;
  write(intent: RunIntent): Promise<void>;
  /** Read-modify-write, durable before it returns; the caller acts only after that. */
  update(fn: (intent: RunIntent) => void): Promise<RunIntent>;
  clear(): Promise<void>;
}

/** Whether the intent was written by this very process (then it is not an interrupted run's). */
export function intentIsOurs(store: RunStore, intent: RunIntent): boolean {
  return intent.holder !== undefined ? intent.holder === store.holder : intent.pid === process.pid;
}

/** One signal for "stop at the next safe point": the caller's, or the lock lost. */
export function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => !!s);
  if (present.length === 1) return present[0]!;
  const controller = new AbortController();
  for (const s of present) {
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener('abort', () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}
