import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../../lib/atomic-file.js';
import { RestoreError } from '../../../lib/errors.js';
import { redactValue } from '../../../lib/secrets.js';
import { isAlive } from './host-lock.js';
import { isFinished, isRunId, runEventSchema, runSchema, type Run, type RunEvent } from '../../../model/run.js';
import type { JournalStore } from '../run-store.js';

/**
 * The durable record of every run under `<state-dir>/runs/`: `<id>.json` holds the run (rewritten
 * atomically at each step boundary), `<id>.events.ndjson` its events (appended and fsynced), so
 * a client can replay a run and a crash loses at most the event being written.
 */
export class RunJournal implements JournalStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'runs');
  }

  get where(): string {
    return this.dir;
  }

  private runFile(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  private eventsFile(id: string): string {
    return path.join(this.dir, `${id}.events.ndjson`);
  }

  /** Everything written is redacted once more: a secret must never reach the disk through a message. */
  async save(run: Run): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.runFile(run.id), `${JSON.stringify(redactValue(runSchema.parse(run)), null, 2)}\n`, 0o600);
  }

  async append(id: string, event: RunEvent): Promise<void> {
    const handle = await fs.open(this.eventsFile(id), 'a', 0o600);
    try {
      await handle.write(`${JSON.stringify(redactValue(event))}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async read(id: string): Promise<Run | undefined> {
    if (!isRunId(id)) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.runFile(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `journal file ${this.runFile(id)} cannot be read (${(err as NodeJS.ErrnoException).code})`);
    }
    const parsed = runSchema.safeParse(safeJson(text));
    if (!parsed.success)
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `journal file ${this.runFile(id)} is not a valid run record`, { file: this.runFile(id) });
    return parsed.data;
  }

  async require(id: string): Promise<Run> {
    const run = await this.read(id);
    if (!run) throw new RestoreError('RESTORE_ERR_RUN_NOT_FOUND', `no run ${id} in the journal under ${this.dir}`, { id });
    return run;
  }

  /** Events of a run in order. A torn last line (a crash mid-append) is ignored. */
  async events(id: string): Promise<RunEvent[]> {
    let text: string;
    try {
      text = await fs.readFile(this.eventsFile(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: RunEvent[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const parsed = runEventSchema.safeParse(safeJson(line));
      if (parsed.success) out.push(parsed.data);
    }
    return out;
  }

  /** A run waiting for its external database goes on once this file exists (continue RUN). */
  continueFile(id: string): string {
    return path.join(this.dir, `${id}.continue`);
  }

  /** Asks a waiting run to go on; refused unless it waits. */
  async requestContinue(id: string): Promise<Run> {
    const run = await this.require(id);
    if (run.phase !== 'WaitingForDatabase') {
      throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', `run ${id} is ${run.phase}, not waiting for its database: there is nothing to continue`, { id });
    }
    await fs.writeFile(this.continueFile(id), `${new Date().toISOString()}\n`, { mode: 0o600 });
    return run;
  }

  async takeContinue(id: string): Promise<boolean> {
    const marker = this.continueFile(id);
    if (!existsSync(marker)) return false;
    await fs.rm(marker, { force: true });
    return true;
  }

  /** The process named in the run is gone (a PID of this host: the journal never leaves it). */
  async abandoned(run: Run): Promise<boolean> {
    return run.pid !== process.pid && !isAlive(run.pid);
  }

  /** Run ids, newest first (ids start with their UTC start time). */
  async ids(): Promise<string[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return entries
      .filter((e) => e.endsWith('.json'))
      .map((e) => e.slice(0, -'.json'.length))
      .filter(isRunId)
      .sort()
      .reverse();
  }

  async list(): Promise<Run[]> {
    const runs: Run[] = [];
    for (const id of await this.ids()) {
      const run = await this.read(id).catch(() => undefined);
      if (run) runs.push(run);
    }
    return runs;
  }

  /** Keeps the newest `keep` finished runs; never removes one that may still be running. */
  async prune(keep: number): Promise<void> {
    const runs = await this.list();
    const finished = runs.filter((r) => isFinished(r.phase));
    for (const run of finished.slice(keep)) {
      await fs.rm(this.runFile(run.id), { force: true });
      await fs.rm(this.eventsFile(run.id), { force: true });
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
