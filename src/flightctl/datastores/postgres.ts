import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { RestoreError, type ErrorCode } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';
import type { DatabaseTls } from '../service-config.js';

export interface PostgresEndpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Kept in memory only; registered with the redactor before use. */
  password?: string | undefined;
  connectTimeoutMs?: number;
  /** TLS as libpq's sslmode means it; none: a plain connection (the container network, loopback). */
  tls?: DatabaseTls | undefined;
}

function describe(ep: PostgresEndpoint): string {
  return `PostgreSQL at ${ep.host}:${ep.port} (database ${ep.database}, user ${ep.user})`;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Codes PostgreSQL sends when the connection itself ends or cannot be made: the server is unreachable, not refusing. */
function endsConnection(sqlState: string): boolean {
  return sqlState.startsWith('08') || ['57P01', '57P02', '57P03'].includes(sqlState);
}

/** Which catalogue code a server SQLSTATE means; anything not singled out is a refused statement. */
function codeForSqlState(sqlState: string): ErrorCode {
  if (sqlState === '28P01' || sqlState === '28000') return 'RESTORE_ERR_DB_AUTH';
  if (sqlState === '3D000') return 'RESTORE_ERR_DB_NOT_FLIGHTCTL';
  if (endsConnection(sqlState)) return 'RESTORE_ERR_DB_UNREACHABLE';
  if (sqlState === '42501') return 'RESTORE_ERR_DB_PERMISSION';
  // Class 53, insufficient resources: disk full, out of memory, too many connections.
  if (sqlState.startsWith('53')) return 'RESTORE_ERR_DB_DISK_FULL';
  if (sqlState === '57014' || sqlState === '55P03') return 'RESTORE_ERR_DB_TIMEOUT';
  if (['55006', '40P01', '40001'].includes(sqlState)) return 'RESTORE_ERR_DB_BUSY';
  return 'RESTORE_ERR_DB_QUERY';
}

/**
 * Classifies an error PostgreSQL answered, given only its SQLSTATE and text: the one mapping for
 * errors from the driver and for errors read from psql's output (where there is no error object).
 * `where` names the server, e.g. "PostgreSQL at db:5432 (database flightctl, user flightctl_app)".
 * Server texts can contain the word "password", which Flight Control's tooling treats as a leak,
 * so it never passes through; the SQLSTATE always goes into the message.
 */
export function classifySqlState(sqlState: string, message: string, where: string, details: Record<string, unknown> = {}): RestoreError {
  const state = SQLSTATE.test(sqlState) ? sqlState : 'XX000';
  const text = message.replace(/password/gi, 'credential').trim();
  const code = codeForSqlState(state);
  const what =
    code === 'RESTORE_ERR_DB_AUTH'
      ? 'rejected the credentials'
      : code === 'RESTORE_ERR_DB_NOT_FLIGHTCTL'
        ? 'has no such database'
        : code === 'RESTORE_ERR_DB_UNREACHABLE'
          ? 'ended the connection'
          : 'refused a statement';
  return new RestoreError(code, `${where} ${what}: ${state}${text ? ` ${text}` : ''}`, { ...details, sqlState: state });
}

/** An error the server sent (it carries a SQLSTATE), as opposed to a socket errno such as EPIPE. */
function isServerError(err: unknown): err is { code: string; message: string } {
  const e = err as { code?: unknown; severity?: unknown };
  return typeof e?.code === 'string' && SQLSTATE.test(e.code) && (err instanceof pg.DatabaseError || typeof e.severity === 'string');
}

/** The connection went away (a socket error, the server shutting down or killed), rather than a statement being refused. */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof RestoreError) return err.code === 'RESTORE_ERR_DB_UNREACHABLE';
  if (isServerError(err)) return endsConnection(err.code);
  const e = err as { code?: unknown; message?: unknown };
  return (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) || /connection (terminated|ended|error)|not queryable/i.test(String(e?.message));
}

/** Turns a driver error into a catalogue error; server errors go through classifySqlState. */
export function classifyPostgresError(err: unknown, ep: PostgresEndpoint): RestoreError {
  if (err instanceof RestoreError) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code ?? '';
  const text = String(e.message ?? err);
  const where = describe(ep);
  const noPassword = /SASL|client password must be a string/i.test(text);
  if (noPassword || (!ep.password && (code === '28P01' || code === '28000'))) {
    const why = ep.password ? 'rejected the credentials' : 'asks for credentials and DB_PASSWORD is not set';
    return new RestoreError('RESTORE_ERR_DB_AUTH', `${where} ${why}`, { host: ep.host, port: ep.port, user: ep.user });
  }
  if (isServerError(err)) return classifySqlState(err.code, err.message, where, { host: ep.host, port: ep.port, database: ep.database });
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code) || /timeout|terminated/i.test(text)) {
    return new RestoreError('RESTORE_ERR_DB_UNREACHABLE', `cannot reach ${where}: ${code || text}`, { host: ep.host, port: ep.port });
  }
  return new RestoreError('RESTORE_ERR_DB_UNREACHABLE', `${where} failed: ${code ? `${code} ` : ''}${text.replace(/password/gi, 'credential')}`, {
    host: ep.host,
    port: ep.port,
  });
}

/** A server error (SQLSTATE), a socket error (errno code) or a dropped connection; not a bug of ours. */
function isDriverError(err: unknown): boolean {
  if (err instanceof RestoreError) return false;
  return (
    err instanceof pg.DatabaseError || typeof (err as { code?: unknown })?.code === 'string' || /Connection terminated/i.test(String((err as Error)?.message))
  );
}

function readTlsFile(file: string, what: string, ep: PostgresEndpoint): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RestoreError(
      'RESTORE_ERR_DB_TLS',
      `${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); sslmode ${ep.tls!.mode} for ${describe(ep)} needs it`,
      { host: ep.host, port: ep.port, file },
    );
  }
}

/**
 * node-postgres's ssl options for libpq's sslmode: require encrypts without checking the server,
 * verify-ca checks its certificate against the CA, verify-full also its name (or IP address).
 * Files are read at each connection, so a certificate replaced by a restore is the one used.
 */
function sslOptions(ep: PostgresEndpoint, mode: 'tls' | 'plain'): false | ConnectionOptions {
  const t = ep.tls;
  if (!t || mode === 'plain') return false;
  const opts: ConnectionOptions = { rejectUnauthorized: t.mode === 'verify-ca' || t.mode === 'verify-full' };
  if (t.certFile) opts.cert = readTlsFile(t.certFile, 'the client certificate', ep);
  if (t.keyFile) opts.key = readTlsFile(t.keyFile, 'the client key', ep);
  if (opts.rejectUnauthorized) opts.ca = readTlsFile(t.caFile ?? '', 'the CA certificate', ep);
  // node-postgres gives the TLS layer no name to check for an IP address: the host is named here.
  if (t.mode === 'verify-full') opts.host = ep.host;
  if (t.mode === 'verify-ca') opts.checkServerIdentity = () => undefined;
  return opts;
}

/** The modes that try one way first and the other when the server refuses it (libpq's allow and prefer). */
function attempts(ep: PostgresEndpoint): ('tls' | 'plain')[] {
  switch (ep.tls?.mode) {
    case undefined:
    case 'disable':
      return ['plain'];
    case 'allow':
      return ['plain', 'tls'];
    case 'prefer':
      return ['tls', 'plain'];
    default:
      return ['tls'];
  }
}

/** A TLS failure (the server's certificate, its name, no TLS where it is required), by Node's or the driver's words. */
function tlsFailure(err: unknown, ep: PostgresEndpoint): RestoreError | undefined {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  const text = String(e?.message ?? err);
  const tlsCode = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code) && !SQLSTATE.test(code);
  if (!tlsCode && !/does not support SSL|certificate|SSL routines|TLS/i.test(text)) return undefined;
  const files = [ep.tls?.caFile && `CA ${ep.tls.caFile}`, ep.tls?.certFile && `client certificate ${ep.tls.certFile}`].filter(Boolean).join(', ');
  return new RestoreError(
    'RESTORE_ERR_DB_TLS',
    `TLS with ${describe(ep)} failed (sslmode ${ep.tls?.mode ?? 'disable'}${files ? `; ${files}` : ''}): ${code ? `${code} ` : ''}${text.replace(/password/gi, 'credential')}`,
    { host: ep.host, port: ep.port, sslmode: ep.tls?.mode ?? 'disable' },
  );
}

/** Whether the server refused the way tried, so that allow or prefer may try the other. */
function refusedThatWay(err: unknown): boolean {
  const text = String((err as { message?: unknown })?.message ?? err);
  return /does not support SSL/i.test(text) || /no pg_hba\.conf entry .*(no encryption|SSL off)/i.test(text);
}

/** A plain connection the server refused because it takes TLS only (its pg_hba.conf has hostssl lines alone). */
function plainRefused(err: unknown, ep: PostgresEndpoint): RestoreError | undefined {
  if (!isServerError(err) || err.code !== '28000' || !/no encryption/i.test(err.message)) return undefined;
  return new RestoreError(
    'RESTORE_ERR_DB_TLS',
    `${describe(ep)} takes only TLS connections from this host, and sslmode ${ep.tls!.mode} (service-config.yaml) connects without: set db.external.sslmode to require, verify-ca or verify-full`,
    { host: ep.host, port: ep.port, sslmode: ep.tls!.mode },
  );
}

/** Opens one connection. The caller ends it (use withPostgres to have that done for you). */
export async function connectPostgres(ep: PostgresEndpoint): Promise<pg.Client> {
  registerSecret(ep.password);
  const ways = attempts(ep);
  for (let i = 0; ; i++) {
    const client = new pg.Client({
      host: ep.host,
      port: ep.port,
      database: ep.database,
      user: ep.user,
      password: ep.password,
      connectionTimeoutMillis: ep.connectTimeoutMs ?? 10_000,
      application_name: 'flightctl-restore-agent',
      ssl: sslOptions(ep, ways[i]!),
    });
    // A connection dropped while idle must not crash the process; the next query reports it.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (i + 1 < ways.length && refusedThatWay(err)) continue;
      throw (ep.tls && ways[i] === 'tls' ? tlsFailure(err, ep) : ep.tls ? plainRefused(err, ep) : undefined) ?? classifyPostgresError(err, ep);
    }
  }
}

/** Runs fn on one connection; a driver error fn lets through gets a catalogue code naming this server. */
export async function withPostgres<T>(ep: PostgresEndpoint, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectPostgres(ep);
  try {
    return await fn(client);
  } catch (err) {
    throw isDriverError(err) ? classifyPostgresError(err, ep) : err;
  } finally {
    await client.end().catch(() => undefined);
  }
}
