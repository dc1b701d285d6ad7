import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asRestoreError, ERROR_CATALOGUE, isRetryable, RestoreError } from '../../src/lib/errors.js';

describe('error catalogue', () => {
  it('every code is in the generated error reference with its exit code', () => {
    const readme = readFileSync(new URL('../../docs/reference/exit-codes.md', import.meta.url), 'utf8');
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

  it('a retryable condition never shares its exit code with a final one of its own family: 19 means only "another run holds this host"', () => {
    const byExit = new Map<number, string[]>();
    for (const [code, { exit }] of Object.entries(ERROR_CATALOGUE)) byExit.set(exit, [...(byExit.get(exit) ?? []), code]);
    expect(byExit.get(19)).toEqual(['RESTORE_ERR_RUN_ACTIVE']);
    expect(ERROR_CATALOGUE.RESTORE_ERR_RUN_NOT_FOUND.exit).toBe(39);
    expect(isRetryable('RESTORE_ERR_RUN_ACTIVE')).toBe(true);
    expect(isRetryable('RESTORE_ERR_RUN_NOT_FOUND')).toBe(false);
    // Outside the families kept for compatibility (database 4, KV 7, Kubernetes 37), no exit code mixes them.
    for (const [exit, codes] of byExit) {
      if ([4, 7, 37].includes(exit)) continue;
      expect(new Set(codes.map((c) => isRetryable(c as keyof typeof ERROR_CATALOGUE))).size, `exit ${exit}: ${codes.join(', ')}`).toBe(1);
    }
  });

  it('the generated error reference says which codes are worth retrying, as the catalogue does', () => {
    const readme = readFileSync(new URL('../../docs/reference/exit-codes.md', import.meta.url), 'utf8');
    for (const [code, { exit }] of Object.entries(ERROR_CATALOGUE)) {
      expect(readme, code).toMatch(
        new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${exit}\\s*\\|\\s*${isRetryable(code as keyof typeof ERROR_CATALOGUE) ? 'yes' : 'no'}\\s*\\|`),
      );
    }
  });

  it('serializes to code, message and hint only (no stack)', () => {
    const err = new RestoreError('RESTORE_ERR_DB_UNREACHABLE', 'cannot reach db');
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'RESTORE_ERR_DB_UNREACHABLE',
      message: 'cannot reach db',
      hint: ERROR_CATALOGUE.RESTORE_ERR_DB_UNREACHABLE.hint,
    });
    expect(err.exitCode).toBe(ERROR_CATALOGUE.RESTORE_ERR_DB_UNREACHABLE.exit);
  });

  it('wraps unknown errors as internal ones and keeps known ones', () => {
    const known = new RestoreError('RESTORE_ERR_USAGE', 'x');
    expect(asRestoreError(known)).toBe(known);
    expect(asRestoreError(new Error('boom')).code).toBe('RESTORE_ERR_INTERNAL');
  });
});
