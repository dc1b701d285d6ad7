import { promises as fs } from 'node:fs';
import path from 'node:path';
import { removeFileDurable, writeFileAtomic } from '../../../lib/atomic-file.js';
import { RestoreError } from '../../../lib/errors.js';
import type { IntentStore } from '../run-store.js';

/**
 * The intent of the unfinished run on a host: `<state-dir>/active-run.json`, replaced atomically
 * (write, fsync, rename, fsync the directory) at every change and removed once the run is settled.
 */
export class IntentFile implements IntentStore {
  readonly file: string;

  constructor(readonly stateDir: string) {
    this.file = path.join(stateDir, 'active-run.json');
  }

  get where(): string {
    return `intent file ${this.file}`;
  }

  async read(): Promise<string | undefined> {
    try {
      return await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `${this.where} cannot be read (${(err as NodeJS.ErrnoException).code})`, { file: this.file });
    }
  }

  async write(text: string): Promise<void> {
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, text, 0o600);
  }

  async clear(): Promise<void> {
    await removeFileDurable(this.file);
  }
}
