import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { removeFileDurable, writeFileAtomic } from '../lib/atomic-file.js';
import { RestoreError } from '../lib/errors.js';
import { parseJsonRecord } from '../lib/json-record.js';
import type { IntentStore } from './store.js';

/**
 * What an unfinished run has changed, or is about to change, in the data stores: written
 * durably BEFORE each change, so the finalizers (in the same process, or in the next one after
 * a crash) know what to undo or to complete. Units and drop-ins are recorded by the target itself
 * (its own state file), databases and KV databases here.
 */
export const intentSchema = z.object({
  version: z.literal(1),
  runId: z.string(),
  pid: z.number().int(),
  /** The process that runs it (RunStore.holder): PIDs repeat across containers. Older records lack it. */
  holder: z.string().optional(),
  startedAt: z.string(),
  withDump: z.boolean(),
  keepOldDb: z.boolean(),
  database: z.object({
    /** The live database, e.g. flightctl. */
    name: z.string(),
    /** `<db>_restore_<id>` once it is being created. */
    temp: z.string().optional(),
    /** `<db>_old_<id>` once the swap is being attempted. */
    old: z.string().optional(),
    /** A dump copied into the database's container (custom format), to remove. */
    containerFile: z.string().optional(),
  }),
  /** Where an archive was extracted (under the state directory); removed when the run is settled. */
  extractDir: z.string().optional(),
  /** A spare KV database that holds staged keys. */
  kvStagingDb: z.number().int().optional(),
  /**
   * Set before the first change to the live database (the swap, or the preparation of the live
   * database without a dump). From then on the finalizers complete the restore instead of
   * rolling it back: devices already marked AwaitingReconnect without their KV keys would stay
   * stuck forever.
   */
  liveTouched: z.boolean(),
});
export type RunIntent = z.infer<typeof intentSchema>;

export class IntentFile implements IntentStore {
  readonly file: string;

  constructor(readonly stateDir: string) {
    this.file = path.join(stateDir, 'active-run.json');
  }

  get where(): string {
    return this.file;
  }

  async read(): Promise<RunIntent | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `intent file ${this.file} cannot be read (${(err as NodeJS.ErrnoException).code})`, { file: this.file });
    }
    const intent = parseJsonRecord(text, intentSchema);
    if (!intent) {
      throw new RestoreError('RESTORE_ERR_STATE_INVALID', `intent file ${this.file} is not a valid record of an unfinished run; inspect it (it names databases to drop or rename back)`, { file: this.file });
    }
    return intent;
  }

  async write(intent: RunIntent): Promise<void> {
    await fs.mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file, `${JSON.stringify(intentSchema.parse(intent), null, 2)}\n`, 0o600);
  }

  /** Read-modify-write, durable before it returns; the caller acts only after that. */
  async update(fn: (intent: RunIntent) => void): Promise<RunIntent> {
    const intent = await this.read();
    if (!intent) throw new RestoreError('RESTORE_ERR_STATE_INVALID', `intent file ${this.file} disappeared during the run`, { file: this.file });
    fn(intent);
    await this.write(intent);
    return intent;
  }

  async clear(): Promise<void> {
    await removeFileDurable(this.file);
  }
}
