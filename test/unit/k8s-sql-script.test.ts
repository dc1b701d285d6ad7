import { describe, expect, it } from 'vitest';
import { createTempDatabaseSql, swapNames, swapSql } from '../../src/flightctl/database/swap-sql.js';
import { ScriptSplitter, splitScript } from '../../src/targets/protocol/sql-script.js';

const texts = (script: string) =>
  splitScript(script).map((i) => (i.kind === 'meta' ? `\\${i.command} ${i.args}` : `${i.kind}${i.kind === 'sql' && i.gexec ? '+gexec' : ''}: ${i.text}`));

describe('psql-compatible script splitting (the Kubernetes database shell)', () => {
  it('splits at top-level semicolons only', () => {
    expect(texts('SELECT 1; SELECT \'a;b\';\nSELECT "x;y" FROM t;\n')).toEqual(['sql: SELECT 1;', "sql: SELECT 'a;b';", 'sql: SELECT "x;y" FROM t;']);
  });

  it('keeps quotes, escapes, comments and parentheses whole', () => {
    const script = [
      "SELECT 'it''s; fine', E'back\\'slash; still', $$dollar; body$$, $fn$ nested $$ ; $fn$;",
      'CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));',
      '/* a ; block /* nested ; */ comment */ SELECT 2; -- trailing ; comment',
      'SELECT 3',
    ].join('\n');
    expect(texts(script)).toEqual([
      "sql: SELECT 'it''s; fine', E'back\\'slash; still', $$dollar; body$$, $fn$ nested $$ ; $fn$;",
      'sql: CREATE RULE r AS ON INSERT TO t DO INSTEAD (INSERT INTO u VALUES (1); INSERT INTO u VALUES (2));',
      'sql: /* a ; block /* nested ; */ comment */ SELECT 2;',
      'sql: -- trailing ; comment\nSELECT 3',
    ]);
  });

  it('keeps function bodies across lines, and $1 is not a dollar quote', () => {
    const fn =
      'CREATE FUNCTION f(a int) RETURNS int LANGUAGE plpgsql AS $body$\nBEGIN\n  RETURN a + 1; -- ;\nEND;\n$body$;\nPREPARE p AS SELECT $1::int; SELECT a$b FROM t;\n';
    const items = splitScript(fn);
    expect(items.map((i) => i.kind)).toEqual(['sql', 'sql', 'sql']);
    expect((items[0] as { text: string }).text).toContain('RETURN a + 1; -- ;\nEND;\n$body$;');
  });

  it('tells COPY FROM stdin apart and stops there: the data follows on the next lines', () => {
    const s = new ScriptSplitter();
    expect(s.pushLine('--')).toEqual([]);
    expect(s.pushLine('-- Data for Name: devices; Type: TABLE DATA')).toEqual([]);
    expect(s.pushLine('COPY public.devices (org_id, name) FROM stdin;')).toEqual([
      { kind: 'copy', text: expect.stringContaining('COPY public.devices (org_id, name) FROM stdin;') },
    ]);
    expect(texts("COPY t TO stdout; COPY (SELECT 'FROM stdin') TO stdout;")).toEqual(['sql: COPY t TO stdout;', "sql: COPY (SELECT 'FROM stdin') TO stdout;"]);
  });

  it("runs \\gexec and \\g as psql does, ignores pg_dump's \\restrict, refuses the rest", () => {
    const names = swapNames('flightctl', '0123abcd');
    expect(texts(createTempDatabaseSql(names))).toEqual([expect.stringMatching(/^sql\+gexec: SELECT format\('CREATE DATABASE %I WITH TEMPLATE template0/)]);
    expect(texts('SELECT 1 \\g\n\\restrict abc123\n\\unrestrict abc123\n')).toEqual(['sql: SELECT 1', '\\restrict abc123', '\\unrestrict abc123']);
    expect(() => splitScript('\\connect other\n')).toThrow(/--create or by pg_dumpall/);
    expect(() => splitScript('\\i /etc/passwd\n')).toThrow(/meta-command \\i/);
    // A backslash inside a string is no meta-command.
    expect(texts("SELECT '\\i x';")).toEqual(["sql: SELECT '\\i x';"]);
  });

  it("keeps the agent's own swap SQL in one piece", () => {
    const items = splitScript(swapSql(swapNames('flightctl', '0123abcd'), 30_000));
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ kind: 'sql', text: expect.stringMatching(/^DO \$swap\$[\s\S]*END \$swap\$;$/) });
  });

  it('a script cut off inside a string or body is refused, a trailing comment is nothing', () => {
    expect(() => splitScript("SELECT 'open")).toThrow(/cut off/);
    expect(() => splitScript('DO $x$ BEGIN')).toThrow(/cut off/);
    expect(splitScript('SELECT 1;\n-- the end\n')).toHaveLength(1);
    expect(splitScript('SELECT 1;\n/* the end */\n')).toHaveLength(1);
  });
});
