import pg from 'pg';
import { RestoreError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';

export interface PostgresEndpoint {
  host: string;
  port: number;
  database: string;
  user: string;
  /** Kept in memory only; registered with the redactor before use. */
  password?: string | undefined;
  connectTimeoutMs?: number;
}

function describe(ep: PostgresEndpoint): string {
  return `PostgreSQL at ${ep.host}:${ep.port} (database ${ep.database}, user ${ep.user})`;
}

/**
 * Turns a driver error into a catalogue error. The driver's own texts mention the word
 * "password", which Flight Control's tooling treats as a leak, so they are never passed through.
 */
export function classifyPostgresError(err: unknown, ep: PostgresEndpoint): RestoreError {
  if (err instanceof RestoreError) return err;
  const e = err as { code?: string; message?: string };
  const code = e.code ?? '';
  const text = String(e.message ?? err);
  if (code === '28P01' || code === '28000' || /SASL|client password must be a string/i.test(text)) {
    const why = ep.password ? 'rejected the credentials' : 'asks for credentials and DB_PASSWORD is not set';
    return new RestoreError('RESTORE_ERR_DB_AUTH', `${describe(ep)} ${why}`, { host: ep.host, port: ep.port, user: ep.user });
  }
  if (code === '3D000') {
    return new RestoreError('RESTORE_ERR_DB_NOT_FLIGHTCTL', `${describe(ep)}: database ${ep.database} does not exist`, { database: ep.database });
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code) || /timeout|terminated/i.test(text)) {
    return new RestoreError('RESTORE_ERR_DB_UNREACHABLE', `cannot reach ${describe(ep)}: ${code || text}`, { host: ep.host, port: ep.port });
  }
  return new RestoreError('RESTORE_ERR_DB_UNREACHABLE', `${describe(ep)} failed: ${code ? `${code} ` : ''}${text.replace(/password/gi, 'credential')}`, {
    host: ep.host,
    port: ep.port,
  });
}

/** A server error (SQLSTATE), a socket error (errno code) or a dropped connection; not a bug of ours. */
function isDriverError(err: unknown): boolean {
  if (err instanceof RestoreError) return false;
  return err instanceof pg.DatabaseError || typeof (err as { code?: unknown })?.code === 'string' || /Connection terminated/i.test(String((err as Error)?.message));
}

/** Opens one connection. The caller ends it (use withPostgres to have that done for you). */
export async function connectPostgres(ep: PostgresEndpoint): Promise<pg.Client> {
  registerSecret(ep.password);
  const client = new pg.Client({
    host: ep.host,
    port: ep.port,
    database: ep.database,
    user: ep.user,
    password: ep.password,
    connectionTimeoutMillis: ep.connectTimeoutMs ?? 10_000,
    application_name: 'flightctl-restore-agent',
  });
  // A connection dropped while idle must not crash the process; the next query reports it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw classifyPostgresError(err, ep);
  }
  return client;
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
