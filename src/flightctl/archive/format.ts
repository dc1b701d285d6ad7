import { z } from 'zod';
import { RestoreError } from '../../lib/errors.js';

/**
 * Flight Control's backup archive (flightctl-backup, 1.2 and later; FLIGHTCTL.md §2), so that our
 * archives restore with its tool and its archives with ours:
 *   flightctl-backup-YYYYMMDDTHHMMSSZ.tar.gz (mode 0600) and <archive>.sha256 (mode 0644,
 *   "<64 hex>  <basename>\n"); entries without "./", directories without a trailing slash:
 *   config/service-config.yaml, db/dump.sql (plain pg_dump --clean --if-exists; absent for an
 *   external database), encryption/..., metadata.json, pki/..., volumes/pam-issuer-etc.tar.
 */
export const ENTRY = {
  metadata: 'metadata.json',
  dump: 'db/dump.sql',
  serviceConfig: 'config/service-config.yaml',
  pki: 'pki',
  encryption: 'encryption',
  pamVolume: 'volumes/pam-issuer-etc.tar',
} as const;

export const PAM_VOLUME = 'flightctl-pam-issuer-etc';

export type DeploymentType = 'podman' | 'kubernetes';

export interface BackupMetadata {
  timestamp: Date;
  /** Nanoseconds within the second (Go's time keeps them; a JS Date has milliseconds). */
  nanos: number;
  version: string;
  deploymentType: DeploymentType;
  databaseIncluded: boolean;
}

/**
 * RFC 3339 in UTC with the fraction trimmed of trailing zeros (none when zero), as Go marshals a
 * time.Time: 2026-05-21T14:30:22.123456789Z, 2026-05-21T14:30:22.5Z, 2026-05-21T14:30:22Z.
 */
export function rfc3339Nano(date: Date, nanos: number): string {
  const base = date.toISOString().replace(/\.\d{3}Z$/, '');
  const frac = String(nanos).padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? `.${frac}` : ''}Z`;
}

/** metadata.json exactly as Go's json.MarshalIndent writes the struct: this key order, two spaces, no final newline. */
export function encodeMetadata(m: BackupMetadata): string {
  return JSON.stringify(
    { timestamp: rfc3339Nano(m.timestamp, m.nanos), version: m.version, deploymentType: m.deploymentType, databaseIncluded: m.databaseIncluded },
    null,
    2,
  );
}

export const archiveMetadataSchema = z.object({
  timestamp: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/, 'must be an RFC 3339 time'),
  version: z.string(),
  deploymentType: z.enum(['podman', 'kubernetes']),
  databaseIncluded: z.boolean(),
});
export type ArchiveMetadata = z.infer<typeof archiveMetadataSchema>;

/** Reads metadata.json; keys Flight Control may add later are ignored, as its own reader does. */
export function decodeMetadata(text: string): ArchiveMetadata {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', 'metadata.json in the archive is not valid JSON');
  }
  const parsed = archiveMetadataSchema.safeParse(doc);
  if (!parsed.success) {
    throw new RestoreError(
      'RESTORE_ERR_ARCHIVE_INVALID',
      `metadata.json in the archive is not Flight Control backup metadata: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** flightctl-backup-20260521T143022Z.tar.gz */
export function archiveName(date: Date): string {
  return `flightctl-backup-${date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z')}.tar.gz`;
}

export const ARCHIVE_NAME = /^flightctl-backup-\d{8}T\d{6}Z\.tar\.gz$/;

/** The sidecar line, in sha256sum's format. */
export function sidecarLine(hexDigest: string, archiveBaseName: string): string {
  return `${hexDigest}  ${archiveBaseName}\n`;
}
