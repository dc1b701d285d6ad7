import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import { FlightctlApi } from '../../flightctl/api-client.js';
import { databaseSite, parseServiceConfig } from '../../flightctl/service-config.js';
import { sha256File, writeSidecar } from '../../flightctl/archive/checksum.js';
import { archiveName, encodeMetadata, ENTRY, PAM_VOLUME } from '../../flightctl/archive/format.js';
import { ArchiveWriter, type EntryOptions } from '../../flightctl/archive/writer.js';
import { asRestoreError, RestoreError } from '../../lib/errors.js';
import type { RestoreTarget } from '../../targets/target.js';
import { withLock, type RunStore } from '../store/run-store.js';
import { prepareBackupDir } from './backup-dir.js';
import { pruneBackups } from './list-backups.js';

export interface BackupResult {
  archive: string;
  sha256: string;
  bytes: number;
  timestamp: string;
  version: string;
  deploymentType: string;
  databaseIncluded: boolean;
  contents: { dumpBytes?: number; pkiFiles: number; encryptionFiles: number; pamVolume: boolean };
  removed: string[];
  durationMs: number;
}

export interface BackupDeps {
  config: Readonly<Config>;
  logger: Logger;
  target: RestoreTarget;
  /** Its lock keeps a backup and a restore (or a second backup) from running at once. */
  store: RunStore;
  signal?: AbortSignal;
}

function failed(what: string, err: unknown, outputDir: string): RestoreError {
  if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC')
    return new RestoreError(
      'RESTORE_ERR_BACKUP_FAILED',
      `the backup directory ${outputDir} ran out of space while ${what} was written, and no archive was left: free space there or give another --backup-dir`,
      { outputDir },
    );
  const e = asRestoreError(err);
  return new RestoreError(
    'RESTORE_ERR_BACKUP_FAILED',
    `the backup failed at ${what}, and no archive was left: ${e.code === 'RESTORE_ERR_INTERNAL' ? e.message : `${e.code}: ${e.message}`}`,
  );
}

/**
 * Directories and files below dir in name order (what Go's filepath.Walk gives). A link to a file
 * is taken as that file; a link to a directory is not followed (it could loop or lead anywhere).
 */
async function walk(dir: string, rel = ''): Promise<{ rel: string; full: string; st: Stats }[]> {
  const out: { rel: string; full: string; st: Stats }[] = [];
  for (const name of (await fs.readdir(path.join(dir, rel))).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    const full = path.join(dir, r);
    const own = await fs.lstat(full);
    const st = own.isSymbolicLink() ? await fs.stat(full).catch(() => own) : own;
    if (st.isDirectory() && !own.isSymbolicLink()) out.push({ rel: r, full, st }, ...(await walk(dir, r)));
    else if (st.isFile()) out.push({ rel: r, full, st });
  }
  return out;
}

async function exists(p: string): Promise<Stats | undefined> {
  return fs.stat(p).catch(() => undefined);
}

/**
 * A backup in Flight Control's own archive format (see archive/format.ts), taken while the
 * services run: the dump is streamed out of the database container straight into the archive.
 * Written to a hidden staging file, renamed once complete and checksummed, then the sidecar:
 * a failed backup leaves nothing. Excludes restores on this host (the host lock).
 */
export async function createBackup(deps: BackupDeps, outputDir: string, keep: number): Promise<BackupResult> {
  return withLock(deps.store, 'backup', () => backupLocked(deps, outputDir, keep));
}

async function backupLocked(deps: BackupDeps, outputDir: string, keep: number): Promise<BackupResult> {
  const { config, target, logger } = deps;
  const started = performance.now();
  const etc = config.flightctl.etcDir;
  const svc = path.join(etc, 'service-config.yaml');
  const pki = path.join(etc, 'pki');
  const enc = path.join(etc, 'encryption');
  const svcStat = await exists(svc);
  if (!svcStat?.isFile())
    throw new RestoreError(
      'RESTORE_ERR_BACKUP_FAILED',
      `${svc} is missing: it is part of every backup (flightctl.etcDir points at Flight Control's configuration)`,
    );
  if (!(await exists(pki))?.isDirectory()) throw new RestoreError('RESTORE_ERR_BACKUP_FAILED', `${pki} is missing: the PKI is part of every backup`);
  await prepareBackupDir(outputDir);
  const svcText = await fs.readFile(svc);
  const external = databaseSite(parseServiceConfig(svcText.toString('utf8'), svc), etc, svc).kind === 'external';
  const api = FlightctlApi.fromConfig(config.flightctl);
  const version = (api ? await api.version() : (await target.runningVersion()).version) || 'unknown';

  // Names have a resolution of a second: never overwrite an archive taken in the same second.
  let now = new Date();
  while (await exists(path.join(outputDir, archiveName(now)))) {
    await new Promise((r) => setTimeout(r, 1000 - now.getUTCMilliseconds() + 1));
    now = new Date();
  }
  const name = archiveName(now);
  const staging = path.join(outputDir, `.${name}.partial`);
  const final = path.join(outputDir, name);
  const at = (mode: number, st?: Stats): EntryOptions => ({ mode, mtime: now, uid: st?.uid ?? 0, gid: st?.gid ?? 0 });
  const writer = await ArchiveWriter.create(staging);
  const contents: BackupResult['contents'] = { pkiFiles: 0, encryptionFiles: 0, pamVolume: false };
  let stage = 'the service configuration';
  try {
    await writer.addDirectory('config', at(0o700));
    await writer.addFile(ENTRY.serviceConfig, svcText, at(svcStat.mode, svcStat));
    if (!external) {
      stage = 'the database dump';
      await writer.addDirectory('db', at(0o755));
      const dump = target.database.dump(config.db.name, deps.signal);
      contents.dumpBytes = await writer.addStream(ENTRY.dump, dump.stream, at(0o600));
      await dump.done;
      logger.info('database dumped into the archive', { bytes: contents.dumpBytes });
    }
    stage = 'the encryption keys';
    if ((await exists(enc))?.isDirectory()) {
      await writer.addDirectory(ENTRY.encryption, at((await fs.stat(enc)).mode));
      for (const e of await walk(enc)) {
        if (e.st.isDirectory()) await writer.addDirectory(`${ENTRY.encryption}/${e.rel}`, at(e.st.mode, e.st));
        else await writer.addFile(`${ENTRY.encryption}/${e.rel}`, await fs.readFile(e.full), at(e.st.mode, e.st));
        if (e.st.isFile()) contents.encryptionFiles++;
      }
    } else
      logger.warn(`${enc} does not exist: the backup has no encryption keys (encrypted fields could not be read after a restore if this deployment encrypts)`);
    await writer.addFile(
      ENTRY.metadata,
      Buffer.from(
        encodeMetadata({
          timestamp: now,
          nanos: now.getUTCMilliseconds() * 1_000_000,
          version,
          deploymentType: target.deploymentType,
          databaseIncluded: !external,
        }),
      ),
      at(0o600),
    );
    stage = 'the PKI';
    await writer.addDirectory(ENTRY.pki, at((await fs.stat(pki)).mode));
    for (const e of await walk(pki)) {
      if (e.st.isDirectory()) await writer.addDirectory(`${ENTRY.pki}/${e.rel}`, at(e.st.mode, e.st));
      else {
        await writer.addFile(`${ENTRY.pki}/${e.rel}`, await fs.readFile(e.full), at(e.st.mode, e.st));
        contents.pkiFiles++;
      }
    }
    stage = `the ${PAM_VOLUME} volume`;
    await writer.addDirectory('volumes', at(0o700));
    const volume = await target.volumes?.export(PAM_VOLUME);
    if (volume) {
      await writer.addStream(ENTRY.pamVolume, volume, at(0o600));
      contents.pamVolume = true;
    }
    stage = 'the end of the archive';
    await writer.finish();
    const sha256 = await sha256File(staging);
    const bytes = (await fs.stat(staging)).size;
    stage = 'the checksum file';
    await fs.rename(staging, final);
    try {
      await writeSidecar(final, sha256);
    } catch (err) {
      // An archive without its sidecar is refused by every restore: not left as if it were one.
      await fs.rm(final, { force: true });
      await fs.rm(`${final}.sha256`, { force: true });
      throw err;
    }
    const removed = keep > 0 ? await pruneBackups(outputDir, keep) : [];
    return {
      archive: final,
      sha256,
      bytes,
      timestamp: now.toISOString(),
      version,
      deploymentType: target.deploymentType,
      databaseIncluded: !external,
      contents,
      removed,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (err) {
    await writer.abort();
    await fs.rm(staging, { force: true });
    throw err instanceof RestoreError && err.code === 'RESTORE_ERR_BACKUP_FAILED' ? err : failed(stage, err, outputDir);
  }
}
