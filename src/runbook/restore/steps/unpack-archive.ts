import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { verifySidecar } from '../../../flightctl/archive/checksum.js';
import { archiveMetadataSchema, decodeMetadata, ENTRY } from '../../../flightctl/archive/format.js';
import { backupEntryLimits } from '../../../flightctl/archive/entry-limits.js';
import { extractArchive, openArchiveEntry, type Extracted } from '../../../flightctl/archive/reader.js';
import { verifyArchiveFiles } from '../../../flightctl/archive/restore-files.js';
import { classifyDumpHead, DUMP_HEAD_BYTES, type DumpFile } from '../../../flightctl/database/dump-format.js';
import { asRestoreError, RestoreError } from '../../../lib/errors.js';
import { checkPkiFile, checkServiceConfig, isPkiCryptoFile } from '../../../flightctl/archive/file-checks.js';
import { defineStep, type StepOutcome } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { formatBytes } from '../../../lib/format.js';

export const notArchive = (ctx: RestoreContext) => (ctx.options.archive ? undefined : 'no --archive');

/** Where this run extracts its archive: under the state directory, named after the run. */
function extractDir(ctx: RestoreContext): string {
  return path.join(ctx.config.host.stateDir, `extract-${ctx.run.id}`);
}

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

/** What the file steps will need of a file's content, checked as the archive is read (file-checks.ts). */
function contentCheck(ctx: RestoreContext): (name: string) => ((content: Readable) => Promise<void>) | undefined {
  return (name) => {
    if (name === ENTRY.serviceConfig) return (content) => checkServiceConfig(content, ctx.config.flightctl.etcDir);
    if (isPkiCryptoFile(name)) return (content) => checkPkiFile(name, content);
    const volumes = ctx.target.volumes;
    // A target without volumes does not import it (restore-pam-volume says so).
    if (name === ENTRY.pamVolume && volumes)
      return (content) =>
        volumes.check(content, ENTRY.pamVolume).catch((err: unknown) => {
          const e = asRestoreError(err);
          throw new RestoreError(e.code, `the archive's ${ENTRY.pamVolume} could not be imported: ${e.message}`, { entry: ENTRY.pamVolume });
        });
    return undefined;
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
  const { restore } = ctx.config;
  const limits = {
    maxEntries: restore.archiveMaxEntries,
    maxBytes: restore.archiveMaxBytes,
    entryLimit: backupEntryLimits({ maxFileBytes: restore.archiveMaxFileBytes, maxVolumeBytes: restore.archiveMaxVolumeBytes }),
  };
  const dir = extract ? extractDir(ctx) : undefined;
  // The state directory exists where the run store keeps files there; not where it does not (a cluster).
  if (dir) await fs.mkdir(path.dirname(dir), { recursive: true, mode: 0o700 });
  const x = await extractArchive(archive, dir, {
    ...limits,
    leaveInArchive: { names: [ENTRY.dump], headBytes: DUMP_HEAD_BYTES },
    inspect: contentCheck(ctx),
  });
  try {
    if (x.metadata === undefined)
      throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${path.basename(archive)} has no metadata.json: it is not a Flight Control backup`);
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
    if (missing.length)
      throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', `${path.basename(archive)} lacks ${missing.join(', ')}: every Flight Control backup has them`);
    // The file steps run past the point of no return: what they need is verified here, before anything changes.
    await verifyArchiveFiles(x.entries, ctx.config.flightctl.etcDir);
    ctx.state.archive = { dir, metadata, entries: x.entries };
    if (metadata.databaseIncluded) ctx.state.dump = dumpInArchive(archive, digest, x);
    // Whether a database comes with it decides how the run is settled: recorded before it matters.
    if (dir) await ctx.record({ extractDir: dir, metadata });
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

export const unpackArchiveStep = defineStep<RestoreContext, { extractDir: string; metadata?: z.infer<typeof archiveMetadataSchema> | undefined }>({
  name: 'unpack-archive',
  skip: notArchive,
  check: (ctx) => unpack(ctx, false),
  apply: (ctx) => unpack(ctx, true),
  intent: {
    schema: z.object({ extractDir: z.string(), metadata: archiveMetadataSchema.optional() }),
    before: (ctx) => ({ extractDir: extractDir(ctx) }),
    reload(ctx, { extractDir: dir, metadata }) {
      // Before metadata.json was read nothing past the archive's own checks ran: a database is assumed.
      if (metadata) ctx.state.archive = { dir, metadata, entries: new Map() };
    },
  },
  // What the file steps restore from (private keys among it) stays only while a later recovery may
  // still complete them: not once the run is settled, and not once it goes back (removed before
  // the undos; again after them should that removal have failed).
  discard: (_ctx, { extractDir: dir }) => removeExtraction(dir),
  release: (_ctx, { extractDir: dir }, { settled, rolledBack }) => (settled || rolledBack ? removeExtraction(dir) : Promise.resolve([])),
});

async function removeExtraction(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  await fs.rm(dir, { recursive: true, force: true });
  return [`removed the extracted archive ${dir}`];
}
