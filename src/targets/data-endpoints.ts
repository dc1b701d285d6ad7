import type { Config } from '../config/schema.js';
import type { KvEndpoint } from '../flightctl/datastores/kv.js';
import type { PostgresEndpoint } from '../flightctl/datastores/postgres.js';
import type { HostPort, RestoreTarget } from './target.js';

type Timeouts = { db: Pick<Config['db'], 'connectTimeoutMs'>; kv: Pick<Config['kv'], 'connectTimeoutMs'> };

/** A connection to the database at that address as the application's user, with its secret. */
export async function postgresAt(target: RestoreTarget, at: HostPort, database: string, config: Readonly<Timeouts>): Promise<PostgresEndpoint> {
  const creds = await target.credentials();
  return { host: at.host, port: at.port, database, user: creds.dbUser, password: creds.dbPassword, connectTimeoutMs: config.db.connectTimeoutMs, tls: at.tls };
}

/** A connection to the KV store at that address with its secret; none without an address (its own client is used). */
export async function kvAt(target: RestoreTarget, at: HostPort | undefined, config: Readonly<Timeouts>): Promise<KvEndpoint | undefined> {
  if (!at) return undefined;
  const creds = await target.credentials();
  return { host: at.host, port: at.port, password: creds.kvPassword, connectTimeoutMs: config.kv.connectTimeoutMs };
}
