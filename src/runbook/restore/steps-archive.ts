import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { verifySidecar } from '../../flightctl/archive/checksum.js';
import { decodeMetadata, ENTRY, PAM_VOLUME } from '../../flightctl/archive/format.js';
import { extractArchive, openArchiveEntry, type Extracted } from '../../flightctl/archive/reader.js';
import { overlayPki, replaceEncryption, writeServiceConfig } from '../../flightctl/archive/restore-files.js';
import { classifyDumpHead, DUMP_HEAD_BYTES, type DumpFile } from '../../flightctl/database/dump-format.js';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { prepare } from '../../flightctl/prepare/prepare.js';
import { RestoreError } from '../../lib/errors.js';
import type { Step, StepOutcome } from '../runner.js';
import { externalDatabase, type RestoreContext } from './context.js';
import { formatBytes, formatMs } from './format.js';

const notArchive = (ctx: RestoreContext) => (ctx.options.archive ? undefined : 'no --archive');

/**
 * The archive's dump, checked by its head and loaded straight out of the archive: no copy of it on
 * the host's disk, and the load decompresses as it goes (as `gunzip | psql` does).
 */
function dumpInArchive(archive: string, sha256: string, x: Extracted): DumpFile {
  const where = `${archive}:${ENTRY.dump}`;
  return {
    path: where,
    format: classifyDumpHead(x.heads.get(ENTRY.dump) ?? Buffer.alloc(0), where),
    size: x.entries.get(ENTRY.dump)!.size,
    open: () => openArchiveEntry(archive, ENTRY.dump, sha256),
  };
}

/**
 * Verify, extract and read an archive before anything else: the checksum against its sidecar, a
 * strict extraction into a private directory under the state directory (a check run only scans
 * it; the dump stays in the archive), metadata.json, the deployment type, the parts every Flight
 * Control backup has, and the dump's head.
 */
async function unpack(ctx: RestoreContext, extract: boolean): Promise<StepOutcome> {
  const archive = ctx.options.archive!;
  const digest = await verifySidecar(archive);
  const limits = { maxEntries: ctx.config.restore.archiveMaxEntries, maxBytes: ctx.config.restore.archiveMaxBytes };
  let dir: string | undefined;
  if (extract) {
    dir = path.join(ctx.config.host.stateDir, `extract-${ctx.run.id}`);
    await ctx.intent.update((i) => (i.extractDir = dir));
  }
  const x = await extractArchive(archive, dir, { ...limits, leaveInArchive: { names: [ENTRY.dump], headBytes: DUMP_HEAD_BYTES } });
  try {
    if (x.metadata === undefined) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${path.basename(archive)} has no metadata.json: it is not a Flight Control backup`);
    const metadata = decodeMetadata(x.metadata);
    if (metadata.deploymentType !== ctx.target.deploymentType) {
      throw new RestoreError(
        'RESTORE_ERR_DEPLOYMENT_MISMATCH',
        `${path.basename(archive)} is a backup of a ${metadata.deploymentType} deployment; this host runs Flight Control on ${ctx.target.deploymentType}`,
      );
    }
    const missing = [];
    if (x.entries.get(ENTRY.pki)?.type !== 'directory') missing.push('pki/');
    if (x.entries.get(ENTRY.serviceConfig)?.type !== 'file') missing.push(ENTRY.serviceConfig);
    if (metadata.databaseIncluded && x.entries.get(ENTRY.dump)?.type !== 'file') missing.push(`${ENTRY.dump} (metadata says the database is included)`);
    if (missing.length) throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${path.basename(archive)} lacks ${missing.join(', ')}: every Flight Control backup has them`);
    ctx.state.archive = { dir, metadata, entries: x.entries };
    if (metadata.databaseIncluded) ctx.state.dump = dumpInArchive(archive, digest, x);
    if (extract) await ctx.intent.update((i) => (i.withDump = metadata.databaseIncluded));
    return {
      changed: false,
      msg: `${path.basename(archive)} verified (sha256 ${digest.slice(0, 12)}...) and ${dir ? 'extracted' : 'scanned'}: Flight Control ${metadata.version || '(version not recorded)'} on ${metadata.deploymentType}, backed up ${metadata.timestamp}, ${metadata.databaseIncluded ? `database ${formatBytes(x.entries.get(ENTRY.dump)!.size)}` : 'external database (not in the archive)'}, ${x.files} files`,
      data: { sha256: digest, metadata, files: x.files, bytes: x.bytes },
    };
  } catch (err) {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export const unpackArchiveStep: Step<RestoreContext> = {
  name: 'unpack-archive',
  skip: notArchive,
  check: (ctx) => unpack(ctx, false),
  apply: (ctx) => unpack(ctx, true),
};

const POLL_MS = 500;

/**
 * An archive without db/ (Flight Control on an external database): with the services stopped,
 * the operator restores that database with their own tools and says so (`continue RUN`, or POST
 * /v1/restores/{id}/continue); then the live database is prepared. Waiting too long gives up:
 * the finalizers start the services again and the run fails.
 */
export const waitForDatabaseStep: Step<RestoreContext> = {
  name: 'wait-for-database',
  skip: (ctx) => (externalDatabase(ctx) ? undefined : ctx.options.archive ? 'the archive includes the database' : 'no --archive'),
  async check(ctx) {
    return { changed: true, msg: `would wait (at most ${formatMs(ctx.config.restore.databaseWaitTimeoutMs)}) for the external database to be restored, then mark its devices AwaitingReconnect` };
  },
  async apply(ctx) {
    const timeout = ctx.config.restore.databaseWaitTimeoutMs;
    ctx.warn(
      `the archive does not include the database (external database): restore ${ctx.config.db.name} from your database backup now, then run "flightctl-restore-agent continue ${ctx.run.id}" (or POST /v1/restores/${ctx.run.id}/continue); the run gives up in ${formatMs(timeout)}`,
    );
    await ctx.setPhase('WaitingForDatabase');
    const deadline = Date.now() + timeout;
    try {
      while (!(await ctx.journal.takeContinue(ctx.run.id))) {
        if (ctx.signal.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', 'interrupted while waiting for the external database');
        if (Date.now() > deadline) {
          throw new RestoreError('RESTORE_ERR_DATABASE_WAIT_TIMEOUT', `nobody said the external database was restored within ${formatMs(timeout)}; the services start again`);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      await ctx.setPhase('Running');
    }
    await ctx.intent.update((i) => (i.liveTouched = true));
    const ep = await ctx.endpoints();
    const db = await ctx.dbEndpoint(ep, ctx.names.live);
    // Reachable and a Flight Control database, or the error says what is wrong with it.
    await withPostgres(db, (c) => c.query('SELECT 1'));
    const r = await prepare({ db, check: false, parts: { sql: true, kv: false }, kvBatchSize: ctx.config.prepare.kvBatchSize, logger: ctx.logger, signal: ctx.signal });
    return {
      changed: true,
      msg: `the external database was restored; marked ${r.devicesUpdated} devices and ${r.enrollmentRequestsUpdated} enrollment requests AwaitingReconnect`,
      data: { devices: r.devicesUpdated, enrollmentRequests: r.enrollmentRequestsUpdated },
    };
  },
};

function extracted(ctx: RestoreContext): string {
  const dir = ctx.state.archive?.dir;
  if (!dir) throw new RestoreError('RESTORE_ERR_INTERNAL', 'the archive was not extracted');
  return dir;
}

export const restorePkiStep: Step<RestoreContext> = {
  name: 'restore-pki',
  skip: notArchive,
  async check(ctx) {
    const n = [...(ctx.state.archive?.entries ?? [])].filter(([k, v]) => k.startsWith(`${ENTRY.pki}/`) && v.type === 'file').length;
    return { changed: n > 0, msg: `would overlay ${n} files onto ${path.join(ctx.config.flightctl.etcDir, 'pki')} (files not in the archive stay)` };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'pki');
    const n = await overlayPki(extracted(ctx), dest);
    return { changed: n > 0, msg: `overlaid ${n} files onto ${dest}`, data: { files: n } };
  },
};

export const restoreEncryptionStep: Step<RestoreContext> = {
  name: 'restore-encryption',
  skip: notArchive,
  async check(ctx) {
    const has = ctx.state.archive?.entries.get(ENTRY.encryption)?.type === 'directory';
    return { changed: has, msg: has ? `would replace ${path.join(ctx.config.flightctl.etcDir, 'encryption')} with the archive's keys` : 'the archive has no encryption keys; the live ones stay' };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'encryption');
    const n = await replaceEncryption(extracted(ctx), dest, ctx.run.id);
    if (n === undefined) {
      ctx.warn('the archive has no encryption keys (a backup from before data-at-rest encryption?): the live keys stay; fields encrypted with other keys would be unreadable');
      return { changed: false, msg: 'the archive has no encryption keys; the live ones stay' };
    }
    return { changed: true, msg: `replaced ${dest} with the archive's ${n} key files (atomically)`, data: { files: n } };
  },
};

export const restoreConfigStep: Step<RestoreContext> = {
  name: 'restore-config',
  skip: notArchive,
  async check(ctx) {
    return { changed: true, msg: `would write ${path.join(ctx.config.flightctl.etcDir, 'service-config.yaml')} from the archive` };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'service-config.yaml');
    await writeServiceConfig(extracted(ctx), dest);
    return { changed: true, msg: `wrote ${dest}` };
  },
};

export const restorePamVolumeStep: Step<RestoreContext> = {
  name: 'restore-pam-volume',
  skip: notArchive,
  async check(ctx) {
    const has = ctx.state.archive?.entries.get(ENTRY.pamVolume)?.type === 'file';
    return { changed: has, msg: has ? `would re-import the ${PAM_VOLUME} volume` : 'the archive has no PAM issuer volume' };
  },
  async apply(ctx) {
    const tar = path.join(extracted(ctx), ENTRY.pamVolume);
    if (!existsSync(tar)) return { changed: false, msg: 'the archive has no PAM issuer volume' };
    const r = await ctx.target.volumes.import(PAM_VOLUME, tar);
    if (r === 'in-use') {
      // Not skipped in silence: the user database is what operators log in with.
      ctx.warn(`the ${PAM_VOLUME} volume is in use by a running container and was NOT replaced: stop that container and re-import ${ENTRY.pamVolume} from the archive`);
      return { changed: false, msg: `the ${PAM_VOLUME} volume is in use; not replaced`, data: { volume: 'in-use' } };
    }
    return { changed: true, msg: `re-imported the ${PAM_VOLUME} volume`, data: { volume: 'imported' } };
  },
};

/** The file steps in order, also what the finalizers run again to complete an interrupted restore. */
export const FILE_STEPS = [restorePkiStep, restoreEncryptionStep, restoreConfigStep, restorePamVolumeStep];
