import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { withPostgres, type PostgresEndpoint } from '../../../src/flightctl/datastores/postgres.js';
import { isRestoreError, type ErrorCode } from '../../../src/lib/errors.js';
import { adminQuery, APP_USER } from '../../harness/database.js';
import { freshDatabase, servers, type TestDb } from '../context.js';

/**
 * Each SQLSTATE here is produced by the real PostgreSQL of the harness, through withPostgres, the
 * path every command takes; the code and the SQLSTATE in the message are what an operator sees.
 */
let db: TestDb;
beforeEach(async () => {
  db = await freshDatabase();
});
afterEach(async () => db.drop());

function appEndpoint(): PostgresEndpoint {
  const s = servers();
  return { host: s.pg.host, port: s.pg.port, database: db.name, user: APP_USER, password: s.pg.appPassword };
}

async function expectFailure(p: Promise<unknown>, code: ErrorCode, sqlState: string): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRestoreError(err), `expected ${code}, got ${String(err)}`).toBe(true);
  const { message } = err as Error;
  expect((err as { code: string }).code, message).toBe(code);
  expect(message).toContain(`: ${sqlState} `);
  expect(message).toContain(`database ${db.name}`);
  expect(message).not.toMatch(/password/i);
  expect(message).not.toContain(servers().pg.appPassword);
  return message;
}

describe('PostgreSQL errors are classified by their SQLSTATE', () => {
  it('42501: a table the application user may not read', async () => {
    // Owned by the superuser, no grants: the app user has no privilege on it.
    await adminQuery(servers().pg, db.name, 'CREATE TABLE restricted (id int)');
    const msg = await expectFailure(
      withPostgres(appEndpoint(), (c) => c.query('SELECT * FROM restricted')),
      'RESTORE_ERR_DB_PERMISSION',
      '42501',
    );
    expect(msg).toContain('restricted');
  });

  it('57014: a statement cancelled by statement_timeout', async () => {
    await expectFailure(
      withPostgres(appEndpoint(), async (c) => {
        await c.query("SET statement_timeout = '50ms'");
        await c.query('SELECT pg_sleep(30)');
      }),
      'RESTORE_ERR_DB_TIMEOUT',
      '57014',
    );
  });

  it('55P03: lock_timeout against a lock a second connection holds', async () => {
    const holder = db.client;
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE devices IN ACCESS EXCLUSIVE MODE');
    try {
      await expectFailure(
        withPostgres(appEndpoint(), async (c) => {
          await c.query("SET lock_timeout = '50ms'");
          await c.query('SELECT count(*) FROM devices');
        }),
        'RESTORE_ERR_DB_TIMEOUT',
        '55P03',
      );
    } finally {
      await holder.query('ROLLBACK');
    }
  });

  it('22003: a value out of range', async () => {
    const msg = await expectFailure(
      withPostgres(appEndpoint(), (c) => c.query('SELECT $1::bigint', ['99999999999999999999'])),
      'RESTORE_ERR_DB_QUERY',
      '22003',
    );
    expect(msg).toContain('refused a statement');
  });

  it('55006: dropping a database another session is using', async () => {
    // The fixture's own connection (db.client) keeps the database in use.
    const s = servers();
    const admin: PostgresEndpoint = { host: s.pg.host, port: s.pg.port, database: 'postgres', user: 'postgres', password: s.pg.adminPassword };
    const err = await withPostgres(admin, (c) => c.query(`DROP DATABASE "${db.name}"`)).then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err?.code, err?.message).toBe('RESTORE_ERR_DB_BUSY');
    expect(err?.message).toContain('55006');
  });

  it('a server that is not listening stays unreachable', async () => {
    // Port 1 on loopback: nothing listens there, so this is a socket error, not a SQLSTATE.
    const err = await withPostgres({ ...appEndpoint(), port: 1 }, async () => undefined).then(
      () => undefined,
      (e: unknown) => e as { code: string },
    );
    expect(err?.code).toBe('RESTORE_ERR_DB_UNREACHABLE');
  });
});
