import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asRestoreError, ERROR_CATALOGUE, RestoreError } from '../../src/lib/errors.js';

describe('error catalogue', () => {
  it('every code is documented in the README with its exit code', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const [code, { exit }] of Object.entries(ERROR_CATALOGUE)) {
      expect(readme, code).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${exit}\\s*\\|`));
    }
  });

  it('codes follow the naming rule and exit codes avoid 0', () => {
    for (const [code, { exit, http, hint }] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^RESTORE_ERR_[A-Z_]+$/);
      expect(exit).toBeGreaterThan(0);
      expect(http).toBeGreaterThanOrEqual(400);
      expect(hint.length).toBeGreaterThan(10);
    }
  });

  it('serializes to code, message and hint only (no stack)', () => {
    const err = new RestoreError('RESTORE_ERR_DB_UNREACHABLE', 'cannot reach db');
    expect(JSON.parse(JSON.stringify(err))).toEqual({ code: 'RESTORE_ERR_DB_UNREACHABLE', message: 'cannot reach db', hint: ERROR_CATALOGUE.RESTORE_ERR_DB_UNREACHABLE.hint });
    expect(err.exitCode).toBe(ERROR_CATALOGUE.RESTORE_ERR_DB_UNREACHABLE.exit);
  });

  it('wraps unknown errors as internal ones and keeps known ones', () => {
    const known = new RestoreError('RESTORE_ERR_USAGE', 'x');
    expect(asRestoreError(known)).toBe(known);
    expect(asRestoreError(new Error('boom')).code).toBe('RESTORE_ERR_INTERNAL');
  });
});
