import { acquireHostLock, processStartTicks } from './host-lock.js';
import { IntentFile } from './intent-file.js';
import { RunJournal } from './run-journal.js';
import type { RunLock, RunStore } from '../run-store.js';

/**
 * The run store of a host: files under its state directory (`runs/`, `active-run.json`,
 * `run.lock`), written atomically and fsynced.
 */
export class FileRunStore implements RunStore {
  readonly journal: RunJournal;
  readonly intent: IntentFile;
  readonly holder: string;

  constructor(readonly stateDir: string) {
    this.journal = new RunJournal(stateDir);
    this.intent = new IntentFile(stateDir);
    this.holder = `pid:${process.pid}:${processStartTicks(process.pid) ?? ''}`;
  }

  lock(what: string): Promise<RunLock> {
    return acquireHostLock(this.stateDir, what);
  }

  close(): void {}
}
