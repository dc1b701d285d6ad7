import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { databaseSite, parseServiceConfig } from '../service-config.js';
import { RestoreError } from '../../lib/errors.js';
import { ENTRY } from './format.js';

/**
 * What the file steps will need of an archive's files' content, checked while the archive is
 * verified (they run past the point of no return, where a refusal can no longer keep the host as
 * it was). Each check reads one file, already bounded by its entry limit (entry-limits.ts).
 * Messages name the file and what is wrong with it, never its content.
 */

function unusable(name: string, why: string): RestoreError {
  return new RestoreError(
    'RESTORE_ERR_ARCHIVE_INVALID',
    `the archive's ${name} ${why}; Flight Control could not use it, so nothing was changed: take the file from a good backup`,
    { entry: name },
  );
}

/** config/service-config.yaml: a YAML mapping whose database section Flight Control can use. */
export async function checkServiceConfig(content: Readable, etcDir: string): Promise<void> {
  const what = `the archive's ${ENTRY.serviceConfig}`;
  try {
    databaseSite(parseServiceConfig((await buffer(content)).toString('utf8'), what), etcDir, what);
  } catch (err) {
    if (err instanceof RestoreError && err.code === 'RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID')
      throw new RestoreError('RESTORE_ERR_ARCHIVE_INVALID', err.message, { entry: ENTRY.serviceConfig });
    throw err;
  }
}

/** The PKI files whose content is checked: certificates and keys by their usual names. */
export function isPkiCryptoFile(name: string): boolean {
  return name.startsWith(`${ENTRY.pki}/`) && /\.(crt|cer|pem|key)$/.test(name);
}

type PemKind = 'certificate' | 'private key' | 'public key' | 'other';

function pemKind(label: string): PemKind {
  if (label === 'CERTIFICATE') return 'certificate';
  // An encrypted key cannot be read without its passphrase (Flight Control has none): not parsed.
  if (/^(RSA |EC |)PRIVATE KEY$/.test(label)) return 'private key';
  if (/^(RSA |)PUBLIC KEY$/.test(label)) return 'public key';
  return 'other';
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----([\s\S]*?)-----END ([A-Z0-9 ]{1,64})-----/g;

function parses(kind: PemKind, block: string): boolean {
  try {
    if (kind === 'certificate') new X509Certificate(block);
    else if (kind === 'private key') createPrivateKey(block);
    else if (kind === 'public key') createPublicKey(block);
    else {
      // Header lines (Proc-Type: ...) aside, the body is base64.
      const body = block
        .split('\n')
        .slice(1, -1)
        .filter((l) => !l.includes(':'));
      if (!/^[A-Za-z0-9+/=\s]*$/.test(body.join(''))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

function derPrivateKey(der: Buffer): boolean {
  for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
    try {
      createPrivateKey({ key: der, format: 'der', type });
      return true;
    } catch {
      // the next encoding
    }
  }
  return false;
}

/**
 * A certificate or key under pki/: every PEM block it has parses as what its label says (a
 * truncated or corrupted one is refused), a .key holds a private key (PEM or DER) and a .crt with
 * PEM armor holds a certificate. A file without armor is taken as it is, unless it is a .key.
 */
export async function checkPkiFile(name: string, content: Readable): Promise<void> {
  const data = await buffer(content);
  const text = data.toString('latin1');
  const begins = text.split('-----BEGIN ').length - 1;
  const kinds: PemKind[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const kind = pemKind(m[1]!);
    if (m[1] !== m[3]) throw unusable(name, `has a PEM block that is not closed (block ${kinds.length + 1} begins as one kind and ends as another)`);
    if (!parses(kind, m[0]))
      throw unusable(name, `is not readable: its PEM block ${kinds.length + 1} (${kind === 'other' ? 'of another kind' : `a ${kind}`}) does not parse`);
    kinds.push(kind);
  }
  if (begins > kinds.length) throw unusable(name, `has a PEM block that is not closed (${begins} begun, ${kinds.length} whole): it was cut short`);
  const isKey = name.endsWith('.key');
  if (isKey && !kinds.includes('private key') && !(kinds.length === 0 && derPrivateKey(data)))
    throw unusable(name, data.length === 0 ? 'is empty where a private key belongs' : 'holds no readable private key');
  if (/\.(crt|cer)$/.test(name) && kinds.length > 0 && !kinds.includes('certificate')) throw unusable(name, 'holds no certificate');
}
