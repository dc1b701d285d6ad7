import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectDump } from '../../../src/flightctl/database/dump-format.js';
import { createTempDatabaseSql, existingDatabasesSql, swapNames } from '../../../src/flightctl/database/swap-sql.js';
import { DEVICE_SUMMARY_JSON_SQL } from '../../../src/flightctl/devices/summary-sql.js';
import { ProtocolDatabaseShell } from '../../../src/targets/protocol/protocol-shell.js';
import { adminQuery, APP_USER } from '../../harness/database.js';
import { PG_BIN_DIR } from '../../harness/pg-server.js';
import { fingerprint, seedScenario } from '../../harness/restore-scenario.js';
import { servers, uniqueDbName } from '../context.js';

/**
 * The database shell the Kubernetes target uses instead of psql in the database's container: what
 * it answers is compared with what psql itself answers for the same SQL, and a plain pg_dump it
 * loads over the protocol must give back exactly the database that was dumped.
 */
describe('the PostgreSQL-protocol database shell against psql', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fcra-shell-'));
  const source = uniqueDbName('fcs');
  const made: string[] = [source];
  let shell: ProtocolDatabaseShell;
  const s = () => servers();

  const psql = (sql: string, database = 'postgres') =>
    execFileSync(
      `${PG_BIN_DIR}/psql`,
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', s().pg.host, '-p', String(s().pg.port), '-U', 'postgres', '-d', database, '-f', '-'],
      {
        input: sql,
        env: { PGPASSWORD: s().pg.adminPassword, PGOPTIONS: '-c client_min_messages=warning', PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    ).toString();

  beforeAll(async () => {
    shell = new ProtocolDatabaseShell(
      async (database) => ({ host: s().pg.host, port: s().pg.port, user: 'postgres', password: s().pg.adminPassword, database }),
      async () => undefined,
    );
    await adminQuery(s().pg, 'postgres', `CREATE DATABASE "${source}" OWNER ${APP_USER}`);
    const c = new pg.Client({ host: s().pg.host, port: s().pg.port, user: APP_USER, password: s().pg.appPassword, database: source });
    await c.connect();
    try {
      await seedScenario(c, { devices: 2000 });
      // Values a naive loader gets wrong: quotes, backslashes, tabs, newlines, NULLs, unicode.
      await c.query(`INSERT INTO organizations (id, display_name, external_id) VALUES
        ('11111111-2222-3333-4444-555555555555', E'tab\\there; "quoted" \\\\ back\\nslash', NULL),
        ('11111111-2222-3333-4444-666666666666', 'üñíçødé ✓ ''single''', '\\.')`);
    } finally {
      await c.end();
    }
  });
  afterAll(async () => {
    for (const d of made) await adminQuery(s().pg, 'postgres', `DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers as psql -A -t does: rows, NULLs, booleans, several statements, \\gexec', async () => {
    const scripts = [
      `SELECT pg_database_size(datname) > 0, current_setting('data_directory') <> '' FROM pg_database WHERE datname = '${source}';\nSELECT count(*) FROM pg_database WHERE datname LIKE 'nothing\\_%';\n`,
      existingDatabasesSql([source, 'nope', 'postgres']),
      "SELECT NULL, 'a|b', 1.50::numeric, true, false, '{\"k\": [1, 2]}'::jsonb, now() IS NOT NULL;\nSELECT 1 WHERE false;\nSELECT x FROM generate_series(1, 3) x;\n",
      "SELECT format('SELECT %s AS n', x) FROM generate_series(1, 2) x \\gexec\n",
    ];
    for (const sql of scripts) expect(await shell.sql(sql)).toEqual(psql(sql));
    expect(await shell.sql(DEVICE_SUMMARY_JSON_SQL, { database: source })).toEqual(psql(DEVICE_SUMMARY_JSON_SQL, source));
  });

  it('creates the temporary database with \\gexec and loads a plain pg_dump into it: exactly the dumped database', async () => {
    const dump = path.join(dir, 'source.sql');
    execFileSync(
      `${PG_BIN_DIR}/pg_dump`,
      ['--clean', '--if-exists', '-h', s().pg.host, '-p', String(s().pg.port), '-U', 'postgres', '-d', source, '-f', dump],
      {
        env: { PGPASSWORD: s().pg.adminPassword },
        stdio: 'pipe',
      },
    );
    const names = swapNames(source, 'aabbccdd');
    made.push(names.temp);
    await shell.sql(createTempDatabaseSql(names));
    let reports = 0;
    await shell.load(names.temp, await inspectDump(dump), { jobs: 1, onBytes: () => void reports++, recordContainerFile: async () => undefined });
    expect(reports).toBeGreaterThan(1);
    const fp = async (database: string) => {
      const c = new pg.Client({ host: s().pg.host, port: s().pg.port, user: APP_USER, password: s().pg.appPassword, database });
      await c.connect();
      try {
        return await fingerprint(c);
      } finally {
        await c.end();
      }
    };
    expect(await fp(names.temp)).toEqual(await fp(source));
    // Owned as psql would have left it: the application user owns the tables.
    expect(await shell.sql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public';\n", { database: names.temp })).toBe(`${APP_USER}\n`);
  });

  it('stops at the first error with its SQLSTATE and line, as psql -v ON_ERROR_STOP=1; a COPY cut off is refused', async () => {
    const target = uniqueDbName('fcs');
    made.push(target);
    await adminQuery(s().pg, 'postgres', `CREATE DATABASE "${target}"`);
    const bad = path.join(dir, 'bad.sql');
    writeFileSync(
      bad,
      '-- PostgreSQL database dump\nSET statement_timeout = 0;\nCREATE TABLE t (a int, b text);\nCOPY public.t (a, b) FROM stdin;\n1\tone\nnot-a-number\ttwo\n\\.\nSELECT 1;\n',
    );
    await expect(
      shell.load(target, await inspectDump(bad), { jobs: 1, onBytes: () => undefined, recordContainerFile: async () => undefined }),
    ).rejects.toMatchObject({
      code: 'RESTORE_ERR_DB_QUERY',
      message: expect.stringMatching(/22P02 invalid input syntax for type integer: "not-a-number".*\(line \d+ of bad\.sql\)/),
    });
    const cut = path.join(dir, 'cut.sql');
    writeFileSync(cut, '-- PostgreSQL database dump\nSET statement_timeout = 0;\nCREATE TABLE u (a int);\nCOPY public.u (a) FROM stdin;\n1\n2\n');
    await expect(
      shell.load(target, await inspectDump(cut), { jobs: 1, onBytes: () => undefined, recordContainerFile: async () => undefined }),
    ).rejects.toMatchObject({
      code: 'RESTORE_ERR_DUMP_INVALID',
      message: expect.stringContaining('ends inside the data of a COPY'),
    });
  });

  it('a statement over its time bound is ended by the server (57014), and an abort ends the connection', async () => {
    await expect(shell.sql('SELECT pg_sleep(5);\n', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'RESTORE_ERR_DB_TIMEOUT' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const t0 = Date.now();
    await expect(shell.sql('SELECT pg_sleep(5);\n', { signal: controller.signal })).rejects.toMatchObject({ code: 'RESTORE_ERR_CANCELLED' });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
