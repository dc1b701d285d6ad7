import type { Run, RunEvent } from '../../model/run.js';

/**
 * Where the engine keeps what must outlive its process: the journal of runs, the intent of the
 * run in progress, and the lock that lets one mutating operation at a time. It is chosen once,
 * when a command or `serve` starts (open-run-store.ts), and handed to everything that reads or
 * writes runs: a Quadlets host keeps files under its state directory; a Kubernetes Job, whose
 * filesystem does not survive it, keeps ConfigMaps and a Lease in the cluster. Nothing else knows
 * which.
 */
export interface RunStore {
  readonly journal: JournalStore;
  readonly intent: IntentStore;
  /**
   * Takes the lock for one mutating operation (a restore, recover, a backup, services stop);
   * RESTORE_ERR_RUN_ACTIVE while a live holder has it. A holder that died holds nothing.
   */
  lock(what: string): Promise<RunLock>;
  /**
   * This process, as written into the intent: its own record is told from one a dead process
   * left even where PIDs repeat (every container's first process is PID 1).
   */
  readonly holder: string;
  close(): void;
}

/** Runs fn holding the store's lock. */
export async function withLock<T>(store: RunStore, what: string, fn: () => Promise<T>): Promise<T> {
  const lock = await store.lock(what);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
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

/**
 * The intent document of the unfinished run, as text: written durably before each change, read
 * again after a crash. What it means (and whether a document is valid) is the engine's business
 * (runbook/intent.ts); a store only keeps it.
 */
export interface IntentStore {
  /** For messages: "intent file /var/lib/.../active-run.json", "ConfigMap X in namespace Y". */
  readonly where: string;
  read(): Promise<string | undefined>;
  /** Durable before it resolves (atomic replace on a host, a conditioned update in a cluster). */
  write(text: string): Promise<void>;
  clear(): Promise<void>;
}
