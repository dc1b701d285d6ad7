import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../lib/atomic-file.js';
import { RestoreError } from '../../lib/errors.js';

/** A drop-in this agent wrote and must remove again, recorded before the file is written. */
export interface RecordedDropin {
  unit: string;
  path: string;
  hostPort: number;
  containerPort: number;
  recordedAt: string;
}

/** Units held stopped across a reboot (guard.ts): the flag their drop-ins test, and those drop-ins. */
export interface ServicesHold {
  flag: string;
  dropins: string[];
}

/** What the Quadlets target has changed on the host and must undo, also after a crash. */
export interface QuadletState {
  version: 1;
  /** Units `services stop` stopped; `services start` starts exactly these. */
  stoppedUnits: string[];
  dropins: RecordedDropin[];
  hold?: ServicesHold | undefined;
}

const EMPTY: QuadletState = { version: 1, stoppedUnits: [], dropins: [] };

export class StateFile {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, 'quadlet-state.json');
  }

  async read(): Promise<QuadletState> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(EMPTY);
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `state file ${this.file} cannot be read (${(err as NodeJS.ErrnoException).code})`, {
        file: this.file,
      });
    }
    try {
      const doc = JSON.parse(text) as Partial<QuadletState>;
      if (doc.version !== 1 || !Array.isArray(doc.stoppedUnits) || !Array.isArray(doc.dropins)) throw new Error('shape');
      const hold =
        doc.hold && typeof doc.hold.flag === 'string' && Array.isArray(doc.hold.dropins)
          ? { flag: doc.hold.flag, dropins: doc.hold.dropins.map(String) }
          : undefined;
      return { version: 1, stoppedUnits: doc.stoppedUnits.map(String), dropins: doc.dropins, ...(hold ? { hold } : {}) };
    } catch {
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `state file ${this.file} is not a valid state document`, { file: this.file });
    }
  }

  /** Read-modify-write, durable (write temp, fsync, rename, fsync dir) before it returns. */
  async update(fn: (state: QuadletState) => void): Promise<QuadletState> {
    const state = await this.read();
    fn(state);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, `${JSON.stringify(state, null, 2)}\n`, 0o600);
    return state;
  }
}
