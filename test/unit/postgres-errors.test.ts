import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyPostgresError, classifySqlState, isConnectionLoss, type PostgresEndpoint } from '../../src/flightctl/datastores/postgres.js';
import { shellError } from '../../src/targets/quadlet/db-shell.js';
import type { ErrorCode } from '../../src/lib/errors.js';

const WHERE = 'PostgreSQL at db.example:5432 (database flightctl, user flightctl_app)';
const EP: PostgresEndpoint = { host: 'db.example', port: 5432, database: 'flightctl', user: 'flightctl_app', password: 'not-shown-anywhere' };

/** What the driver throws for an error the server sent. */
function serverError(sqlState: string, message: string): pg.DatabaseError {
  const err = new pg.DatabaseError(message, message.length, 'error');
  err.code = sqlState;
  err.severity = 'ERROR';
  return err;
}

describe('classifySqlState', () => {
  const cases: [string, string, ErrorCode][] = [
    ['42501', 'permission denied for table devices', 'RESTORE_ERR_DB_PERMISSION'],
    ['53100', 'could not extend file "base/16384/16390": No space left on device', 'RESTORE_ERR_DB_DISK_FULL'],
    ['53200', 'out of memory', 'RESTORE_ERR_DB_DISK_FULL'],
    ['53300', 'sorry, too many clients already', 'RESTORE_ERR_DB_DISK_FULL'],
    ['57014', 'canceling statement due to statement timeout', 'RESTORE_ERR_DB_TIMEOUT'],
    ['55P03', 'canceling statement due to lock timeout', 'RESTORE_ERR_DB_TIMEOUT'],
    ['55006', 'database "flightctl" is being accessed by other users', 'RESTORE_ERR_DB_BUSY'],
    ['40P01', 'deadlock detected', 'RESTORE_ERR_DB_BUSY'],
    ['40001', 'could not serialize access due to concurrent update', 'RESTORE_ERR_DB_BUSY'],
    ['22003', 'bigint out of range', 'RESTORE_ERR_DB_QUERY'],
    ['42P01', 'relation "devices" does not exist', 'RESTORE_ERR_DB_QUERY'],
    ['P0001', 'events are read-only today', 'RESTORE_ERR_DB_QUERY'],
    ['28P01', 'password authentication failed for user "flightctl_app"', 'RESTORE_ERR_DB_AUTH'],
    ['28000', 'no pg_hba.conf entry for host "10.0.0.9"', 'RESTORE_ERR_DB_AUTH'],
    ['3D000', 'database "flightctl" does not exist', 'RESTORE_ERR_DB_NOT_FLIGHTCTL'],
    ['57P01', 'terminating connection due to administrator command', 'RESTORE_ERR_DB_UNREACHABLE'],
    ['08006', 'connection failure', 'RESTORE_ERR_DB_UNREACHABLE'],
  ];

  it.each(cases)('%s (%s) is %s, with the SQLSTATE and the server in the message', (sqlState, text, code) => {
    const err = classifySqlState(sqlState, text, WHERE);
    expect(err.code).toBe(code);
    expect(err.message).toContain(WHERE);
    expect(err.message).toContain(sqlState);
    expect(err.details.sqlState).toBe(sqlState);
  });

  it('says which statement failed in the documented form', () => {
    expect(classifySqlState('22003', 'bigint out of range', WHERE).message).toBe(`${WHERE} refused a statement: 22003 bigint out of range`);
  });

  it('never lets the word "password" through from a server text', () => {
    const err = classifySqlState('28P01', 'password authentication failed for user "flightctl_app"', WHERE);
    expect(err.message).not.toMatch(/password/i);
    expect(classifySqlState('42501', 'must be superuser to alter PASSWORD', WHERE).message).not.toMatch(/password/i);
  });

  it('a malformed SQLSTATE (e.g. misread psql output) is still a database error, never a crash', () => {
    const err = classifySqlState('oops', 'something', WHERE);
    expect(err.code).toBe('RESTORE_ERR_DB_QUERY');
    expect(err.message).toContain('XX000');
  });
});

describe('classifyPostgresError', () => {
  it('uses the SQLSTATE of a server error', () => {
    const err = classifyPostgresError(serverError('22003', 'bigint out of range'), EP);
    expect(err.code).toBe('RESTORE_ERR_DB_QUERY');
    expect(err.message).toBe('PostgreSQL at db.example:5432 (database flightctl, user flightctl_app) refused a statement: 22003 bigint out of range');
    expect(classifyPostgresError(serverError('42501', 'permission denied for table devices'), EP).code).toBe('RESTORE_ERR_DB_PERMISSION');
    expect(classifyPostgresError(serverError('57014', 'canceling statement due to statement timeout'), EP).code).toBe('RESTORE_ERR_DB_TIMEOUT');
  });

  it('a socket errno is unreachable even when it looks like a SQLSTATE (EPIPE has five letters)', () => {
    for (const code of ['EPIPE', 'ECONNREFUSED', 'ECONNRESET']) {
      const err = classifyPostgresError(Object.assign(new Error(`write ${code}`), { code }), EP);
      expect(err.code, code).toBe('RESTORE_ERR_DB_UNREACHABLE');
    }
    expect(classifyPostgresError(new Error('Connection terminated unexpectedly'), EP).code).toBe('RESTORE_ERR_DB_UNREACHABLE');
  });

  it('no DB_PASSWORD: says so instead of the server text', () => {
    const err = classifyPostgresError(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), { ...EP, password: undefined });
    expect(err.code).toBe('RESTORE_ERR_DB_AUTH');
    expect(err.message).toContain('DB_PASSWORD is not set');
    expect(err.message).not.toMatch(/client password/i);
  });

  it('wrong credentials keep the auth code and never name the password', () => {
    const err = classifyPostgresError(serverError('28P01', 'password authentication failed for user "flightctl_app"'), EP);
    expect(err.code).toBe('RESTORE_ERR_DB_AUTH');
    expect(err.message).not.toMatch(/password/i);
    expect(err.message).not.toContain(EP.password);
  });
});

describe('isConnectionLoss: the connection went away, not a statement refused', () => {
  it.each([
    ['a dropped socket', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    ['the driver after the server died', new Error('Connection terminated unexpectedly'), true],
    [
      'the server shutting down',
      Object.assign(new pg.DatabaseError('terminating connection due to administrator command', 0, 'error'), { code: '57P01', severity: 'FATAL' }),
      true,
    ],
    ['a refused statement', Object.assign(new pg.DatabaseError('duplicate key value', 0, 'error'), { code: '23505', severity: 'ERROR' }), false],
    ['a bug of ours', new TypeError('cannot read properties of undefined'), false],
  ])('%s', (_what, err, lost) => {
    expect(isConnectionLoss(err)).toBe(lost);
  });
});

describe("shellError: psql's own output, classified", () => {
  it.each([
    ['ERROR:  55006: database "flightctl" is being accessed by other users', 'RESTORE_ERR_DB_BUSY'],
    ['psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: No such file or directory', 'RESTORE_ERR_DB_UNREACHABLE'],
    ['psql: error: connection to server on socket "/x" failed: FATAL:  57P03: the database system is starting up', 'RESTORE_ERR_DB_UNREACHABLE'],
    ['FATAL:  57P01: terminating connection due to administrator command\nserver closed the connection unexpectedly', 'RESTORE_ERR_DB_UNREACHABLE'],
    ['server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally', 'RESTORE_ERR_DB_UNREACHABLE'],
    ['sh: psql: not found', 'RESTORE_ERR_EXEC_FAILED'],
  ] as const)('%s', (stderr, code) => {
    expect(shellError(stderr, 2, 'psql').code).toBe(code);
  });
});
