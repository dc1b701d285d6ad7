import pg from 'pg';
import { flightctlSchemaSql, type SchemaGeneration } from './flightctl-schema.js';

export interface DbAdmin {
  host: string;
  port: number;
  adminPassword: string;
}

export const APP_USER = 'flightctl_app';

export async function adminQuery(admin: DbAdmin, database: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ host: admin.host, port: admin.port, user: 'postgres', password: admin.adminPassword, database });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** Creates the application role once (idempotent), with the given password. */
export async function ensureAppUser(admin: DbAdmin, password: string): Promise<void> {
  const exists = await adminQuery(admin, 'postgres', 'SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_USER]);
  // The password cannot be a bind parameter in DDL; quote it as a literal (it is hex from the harness).
  const literal = `'${password.replace(/'/g, "''")}'`;
  await adminQuery(admin, 'postgres', `${exists.rowCount ? 'ALTER' : 'CREATE'} ROLE ${APP_USER} LOGIN PASSWORD ${literal}`);
}

/** A fresh database with the Flight Control fixture schema, owned by the application user. */
export async function createFlightctlDatabase(admin: DbAdmin, name: string, generation: SchemaGeneration = 'current'): Promise<void> {
  await adminQuery(admin, 'postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await adminQuery(admin, 'postgres', `CREATE DATABASE "${name}" OWNER ${APP_USER}`);
  await adminQuery(admin, name, 'CREATE EXTENSION IF NOT EXISTS pg_trgm');
  const client = new pg.Client({ host: admin.host, port: admin.port, user: 'postgres', password: admin.adminPassword, database: name });
  await client.connect();
  try {
    await client.query(`SET ROLE ${APP_USER}`);
    await client.query(flightctlSchemaSql(generation).replace('CREATE EXTENSION IF NOT EXISTS pg_trgm;', ''));
  } finally {
    await client.end();
  }
}

export async function dropDatabase(admin: DbAdmin, name: string): Promise<void> {
  await adminQuery(admin, 'postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
