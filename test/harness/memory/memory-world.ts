/**
 * The in-memory target: a test double of the engine's target port and of the data stores behind
 * it (RestoreData), for unit tests of plans and of recovery without a sandbox, as undici ships its
 * mock agent. A MemoryWorld is one host whose state outlives processes: databases, the KV store,
 * the services, publish drop-ins, the intent and the journal. A MemoryProcess is one agent process
 * on it; killing it freezes every call it has under way or makes later (they never settle, as
 * with kill -9), and the next process finds the world as the dead one left it.
 *
 * Crash points, for the recovery matrix: `crashAt = { step, when }` kills the process
 *   before     when the step starts (nothing of it recorded or done),
 *   recorded   right after its intent is written (nothing done yet),
 *   during     right after its first change to the world (the change is made, its answer lost),
 *   after      when it has finished.
 * `failAt = { step }` makes the step's first change fail instead (an error, not a crash).
 */
import { awaitingReconnectKey, DEFAULT_ORG_ID } from '../../../src/flightctl/prepare/marks.js';
import { RestoreError } from '../../../src/lib/errors.js';
import type { Run, RunEvent, StepName } from '../../../src/model/run.js';

export interface MemoryDatabase {
  /** Where its rows came from: 'original', or the dump that was loaded into it. */
  origin: string;
  devices: string[];
  /** Every device marked AwaitingReconnect (the SQL part of the preparation ran on it). */
  marked: boolean;
}

export interface CrashPoint {
  step: StepName;
  when: 'before' | 'recorded' | 'during' | 'after';
}

export class MemoryWorld {
  databases = new Map<string, MemoryDatabase>();
  /** KV database index -> keys. */
  kv = new Map<number, Set<string>>();
  /** How many databases the KV store has (redis.conf `databases`): staging needs a spare one. */
  kvDatabases = 16;
  /** unit -> running */
  services = new Map<string, boolean>();
  /** What the target recorded as stopped by the agent (its own durable record). */
  stoppedByAgent = new Set<string>();
  /** Publish drop-ins on the host. */
  dropins = new Set<string>();
  /** Dump copies left beside the database. */
  containerFiles = new Set<string>();
  /** What loading a dump (by its path) puts into a database. */
  dumps = new Map<string, { origin: string; devices: string[] }>();
  /** The PAM issuer volume: in use by a running container, and what it holds. */
  volume = { inUse: false, content: 'original' };
  version = '1.2.0';
  freeBytes: number | undefined = 1e12;
  /** A continue is there as soon as a run waits for its external database. */
  autoContinue = true;
  intentText: string | undefined;
  /** The journal: runs and their events, as a host keeps them across processes. */
  runs = new Map<string, Run>();
  events = new Map<string, RunEvent[]>();
  /** Every change made to the world, "step: what", for assertions. */
  changes: string[] = [];
  crashAt?: CrashPoint;
  failAt?: { step: StepName };
  /** The step the living process is in (from its run's events). */
  currentStep?: StepName;
  private pids = 1000;
  readonly alive = new Set<number>();

  constructor(opts: { devices?: number; dumpDevices?: number } = {}) {
    const original = Array.from({ length: opts.devices ?? 3 }, (_, i) => `device-${i}`);
    this.databases.set('flightctl', { origin: 'original', devices: original, marked: false });
    this.kv.set(0, new Set(['v1/some-org/other/key', ...original.slice(0, 1).map((d) => awaitingReconnectKey(DEFAULT_ORG_ID, d))]));
    for (const u of ['flightctl-api.service', 'flightctl-worker.service', 'flightctl-periodic.service']) this.services.set(u, true);
    this.dumpDevices = Array.from({ length: opts.dumpDevices ?? 4 }, (_, i) => `restored-${i}`);
  }

  /** The devices a dump of the backup brings. */
  readonly dumpDevices: string[];

  newPid(): number {
    const pid = ++this.pids;
    this.alive.add(pid);
    return pid;
  }

  keysOf(database: string): Set<string> {
    return new Set((this.databases.get(database)?.devices ?? []).map((d) => awaitingReconnectKey(DEFAULT_ORG_ID, d)));
  }

  kvDb(n: number): Set<string> {
    let s = this.kv.get(n);
    if (!s) this.kv.set(n, (s = new Set()));
    return s;
  }

  /** Names of the databases, sorted. */
  databaseNames(): string[] {
    return [...this.databases.keys()].sort();
  }
}

/** One agent process on the world: its calls stop settling once it is killed. */
export class MemoryProcess {
  readonly pid: number;
  dead = false;
  /** Settles when the process is killed. */
  readonly died: Promise<void>;
  private markDead!: () => void;

  constructor(readonly world: MemoryWorld) {
    this.pid = world.newPid();
    this.died = new Promise((resolve) => (this.markDead = resolve));
  }

  kill(): void {
    this.dead = true;
    this.world.alive.delete(this.pid);
    this.world.currentStep = undefined;
    this.markDead();
  }

  /** A call that reads: frozen once the process is dead. */
  read<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.dead) return new Promise<T>(() => undefined);
    return Promise.resolve().then(fn);
  }

  /**
   * A call that changes the world: frozen when dead; at a `during` crash point it is made and the
   * process dies before it hears back; at a fail point it fails instead.
   */
  change<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    if (this.dead) return new Promise<T>(() => undefined);
    const w = this.world;
    const step = w.currentStep;
    if (step && w.failAt?.step === step) {
      w.failAt = undefined;
      return Promise.reject(new RestoreError('RESTORE_ERR_INTERNAL', `injected failure at ${step}: ${what}`));
    }
    return Promise.resolve()
      .then(fn)
      .then((value) => {
        w.changes.push(`${step ?? '-'}: ${what}`);
        if (step && w.crashAt?.step === step && w.crashAt.when === 'during') {
          w.crashAt = undefined;
          this.kill();
          return new Promise<T>(() => undefined);
        }
        return value;
      });
  }

  /** Called by the test with the run's events: keeps the current step and fires before/after crash points. */
  onStep(type: 'step-started' | 'step-finished', step: StepName): void {
    const w = this.world;
    if (type === 'step-started') w.currentStep = step;
    const crash = w.crashAt;
    if (crash?.step === step && ((type === 'step-started' && crash.when === 'before') || (type === 'step-finished' && crash.when === 'after'))) {
      w.crashAt = undefined;
      this.kill();
    }
    if (type === 'step-finished') w.currentStep = undefined;
  }
}
