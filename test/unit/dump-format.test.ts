import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyDumpHead, inspectDump } from '../../src/flightctl/database/dump-format.js';
import { RestoreError } from '../../src/lib/errors.js';

const PLAIN = `--
-- PostgreSQL database dump
--

-- Dumped from database version 15.18
SET statement_timeout = 0;
DROP TABLE IF EXISTS public.devices;
CREATE TABLE public.devices (org_id uuid, name text);
COPY public.devices (org_id, name) FROM stdin;
`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as RestoreError).code;
  }
  return undefined;
}

describe('dump format', () => {
  it('tells a plain SQL dump (pg_dump --clean --if-exists) and a custom-format one', () => {
    expect(classifyDumpHead(Buffer.from(PLAIN), 'd.sql')).toBe('plain');
    expect(classifyDumpHead(Buffer.from('\\restrict abc\n' + PLAIN), 'd.sql')).toBe('plain');
    expect(classifyDumpHead(Buffer.concat([Buffer.from('PGDMP'), Buffer.from([1, 14, 0, 4, 8, 1])]), 'd.dump')).toBe('custom');
  });

  it('refuses a dump that would write into other databases (--create, pg_dumpall)', () => {
    const created = PLAIN.replace(
      'SET statement_timeout = 0;',
      'CREATE DATABASE flightctl WITH TEMPLATE = template0;\n\\connect flightctl\nSET statement_timeout = 0;',
    );
    expect(() => classifyDumpHead(Buffer.from(created), 'd.sql')).toThrow(/--create or by pg_dumpall/);
    expect(code(() => classifyDumpHead(Buffer.from('--\n-- PostgreSQL database cluster dump\n--\n\\c template1\nCREATE ROLE x;\n'), 'all.sql'))).toBe(
      'RESTORE_ERR_DUMP_INVALID',
    );
  });

  it('names what is wrong with other files', () => {
    expect(() => classifyDumpHead(Buffer.from([0x1f, 0x8b, 8, 0]), 'd.sql.gz')).toThrow(/gzip-compressed/);
    const tar = Buffer.alloc(600);
    tar.write('ustar', 257, 'latin1');
    expect(() => classifyDumpHead(tar, 'd.tar')).toThrow(/tar archive/);
    expect(() => classifyDumpHead(Buffer.from([1, 2, 0, 3]), 'x.bin')).toThrow(/binary/);
    expect(() => classifyDumpHead(Buffer.from('hello world\nthis is a letter\n'), 'x.txt')).toThrow(/does not look like a PostgreSQL dump/);
    expect(() => classifyDumpHead(Buffer.alloc(0), 'empty.sql')).toThrow(/is empty/);
  });

  it('inspects a file: missing, a directory, a real dump', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dump-'));
    await expect(inspectDump(path.join(dir, 'missing.sql'))).rejects.toMatchObject({
      code: 'RESTORE_ERR_DUMP_INVALID',
      message: expect.stringMatching(/does not exist/),
    });
    mkdirSync(path.join(dir, 'sub'));
    await expect(inspectDump(path.join(dir, 'sub'))).rejects.toMatchObject({ code: 'RESTORE_ERR_DUMP_INVALID' });
    writeFileSync(path.join(dir, 'ok.sql'), PLAIN);
    expect(await inspectDump(path.join(dir, 'ok.sql'))).toEqual({ path: path.join(dir, 'ok.sql'), format: 'plain', size: PLAIN.length });
  });
});
