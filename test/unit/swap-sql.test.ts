import { describe, expect, it } from 'vitest';
import { ident, literal, swapNames, swapSql } from '../../src/flightctl/database/swap-sql.js';

describe('database swap SQL', () => {
  it('names the temporary and the previous database as Flight Control does', () => {
    expect(swapNames('flightctl', '1a2b3c4d')).toEqual({ live: 'flightctl', temp: 'flightctl_restore_1a2b3c4d', old: 'flightctl_old_1a2b3c4d' });
  });

  it('refuses a name PostgreSQL would truncate', () => {
    expect(() => swapNames('x'.repeat(50), '1a2b3c4d')).toThrow(/longer than PostgreSQL's 63 bytes/);
  });

  it('quotes names as identifiers and literals', () => {
    expect(ident('a"b')).toBe('"a""b"');
    expect(literal("o'neil")).toBe("'o''neil'");
    const sql = swapSql(swapNames("fc'x", '00000000'), 30_000);
    expect(sql).toContain("'fc''x_old_00000000'");
    expect(sql).toContain('make_interval(secs => 30)');
    // One DO block: both renames commit together or not at all.
    expect(sql.match(/ALTER DATABASE/g)).toHaveLength(2);
  });
});
