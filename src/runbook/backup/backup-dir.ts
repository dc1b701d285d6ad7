import { constants, promises as fs } from 'node:fs';
import { formatBytes } from '../../lib/format.js';
import { RestoreError } from '../../lib/errors.js';
import { listBackups } from './list-backups.js';

/** Less than this is a full file system: not even metadata, configuration and PKI would fit. */
const MIN_FREE_BYTES = 16 * 1024;

function unusable(dir: string, err: unknown): RestoreError {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why =
    code === 'EROFS'
      ? 'is on a read-only file system'
      : code === 'EACCES' || code === 'EPERM'
        ? 'is not writable by this process'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'is not a directory'
          : `cannot be used (${code ?? String(err)})`;
  return new RestoreError('RESTORE_ERR_BACKUP_FAILED', `the backup directory ${dir} ${why}; nothing was written: give a writable --backup-dir`, {
    outputDir: dir,
  });
}

/**
 * Before anything is written (the dump is the long part): the backup directory exists (created,
 * 0700, when it does not), is writable, and has room for an archive about as large as the newest
 * one already there. A backup that grew past that is still caught as it writes, and leaves nothing.
 */
export async function prepareBackupDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw unusable(dir, err);
  }
  const st = await fs.statfs(dir);
  const free = st.bavail * st.bsize;
  const newest = (await listBackups(dir))[0];
  const need = Math.max(MIN_FREE_BYTES, newest?.bytes ?? 0);
  if (free >= need) return;
  const because = newest
    ? `the newest archive there, ${newest.name}, has ${formatBytes(newest.bytes)} and the next will be about as large`
    : `less than the ${formatBytes(need)} a backup needs at the least`;
  throw new RestoreError(
    'RESTORE_ERR_BACKUP_FAILED',
    `the backup directory ${dir} has ${formatBytes(free)} free: ${because}; nothing was written: free space there (remove older archives) or give another --backup-dir`,
    { outputDir: dir, freeBytes: free, neededBytes: need },
  );
}
