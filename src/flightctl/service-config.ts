import path from 'node:path';
import { parseDocument } from 'yaml';
import { RestoreError } from '../lib/errors.js';

/** libpq's sslmode values, as Flight Control's service-config.yaml takes them. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface DatabaseTls {
  mode: SslMode;
  /** The CA that signed the server's certificate (verify-ca, verify-full). */
  caFile?: string;
  /** The client certificate and key (useClientCertAuth). */
  certFile?: string;
  keyFile?: string;
}

/** Where Flight Control's database is: its own flightctl-db container, or a server elsewhere. */
export type DatabaseSite =
  | { kind: 'builtin'; name: string }
  | { kind: 'external'; host: string; port: number; name: string; user?: string; tls: DatabaseTls; form: 'db.type' | 'db.external: enabled' };

type Doc = Record<string, unknown>;

function mapping(v: unknown): Doc | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : undefined;
}

/** A YAML scalar as Flight Control's templates read it: quoted or not, a string. */
function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** The parsed mapping, or an error naming the file; `what` says whose file it is. */
export function parseServiceConfig(content: string, what: string): Doc {
  const doc = parseDocument(content);
  const value: unknown = doc.errors.length ? undefined : doc.toJS();
  const m = mapping(value);
  if (!m)
    throw new RestoreError(
      'RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID',
      `${what} is not a YAML mapping${doc.errors[0] ? ` (${doc.errors[0].message.split('\n')[0]})` : ''}; Flight Control could not start with it`,
      { file: what },
    );
  return m;
}

function invalid(what: string, why: string): RestoreError {
  return new RestoreError('RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID', `${what}: ${why}`, { file: what });
}

/**
 * The database section of service-config.yaml, read as Flight Control's Quadlet templates read it
 * (upstream deploy/podman/*-config/config.yaml.template): `db.type: external` with
 * `db.external.{hostname, port, name, sslmode, useClientCertAuth}`, the CA at
 * `<etc>/pki/db/ca.crt` for verify-ca and verify-full, the client pair at
 * `<etc>/pki/db/client.{crt,key}`; and the older form of 0.x releases, `db.external: enabled` with
 * `hostname`, `port`, `name`, `user`, `sslmode`, `sslcert`, `sslkey`, `sslrootcert` beside it.
 * Anything else (no db section, `type: builtin`) is the built-in database.
 */
export function databaseSite(config: Doc, etcDir: string, what: string): DatabaseSite {
  const db = mapping(config.db) ?? {};
  const dbName = text(db.name) ?? 'flightctl';
  const external = mapping(db.external);
  const newForm = text(db.type) === 'external';
  const oldForm = text(db.external) === 'enabled';
  if (!newForm && !oldForm) {
    if (db.type !== undefined && text(db.type) !== 'builtin')
      throw invalid(what, `db.type is ${JSON.stringify(db.type)}: Flight Control takes builtin or external`);
    return { kind: 'builtin', name: dbName };
  }
  const src = newForm ? (external ?? {}) : db;
  const host = text(src.hostname);
  if (!host) throw invalid(what, `the database is external but ${newForm ? 'db.external.hostname' : 'db.hostname'} is not set`);
  const portText = text(src.port) ?? '5432';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid(what, `the external database's port ${JSON.stringify(portText)} is not a port number`);
  const modeText = text(src.sslmode) ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(modeText)) throw invalid(what, `sslmode ${JSON.stringify(modeText)} is not one of ${SSL_MODES.join(', ')}`);
  const mode = modeText as SslMode;
  const pkiDb = path.join(etcDir, 'pki', 'db');
  const tls: DatabaseTls = { mode };
  if (newForm) {
    if (mode === 'verify-ca' || mode === 'verify-full') tls.caFile = path.join(pkiDb, 'ca.crt');
    if (src.useClientCertAuth === true || text(src.useClientCertAuth) === 'true') {
      tls.certFile = path.join(pkiDb, 'client.crt');
      tls.keyFile = path.join(pkiDb, 'client.key');
    }
  } else {
    const at = (v: unknown) => {
      const p = text(v);
      return p ? path.resolve(etcDir, p) : undefined;
    };
    const [caFile, certFile, keyFile] = [at(src.sslrootcert), at(src.sslcert), at(src.sslkey)];
    if (caFile) tls.caFile = caFile;
    if (certFile) tls.certFile = certFile;
    if (keyFile) tls.keyFile = keyFile;
  }
  const user = newForm ? undefined : text(src.user);
  return {
    kind: 'external',
    host,
    port,
    name: text(src.name) ?? dbName,
    ...(user ? { user } : {}),
    tls,
    form: newForm ? 'db.type' : 'db.external: enabled',
  };
}
