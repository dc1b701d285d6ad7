import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseWholeNumber } from '../../src/cli/common/numbers.js';

describe('parseWholeNumber', () => {
  const upTo10M = parseWholeNumber(10_000_000);

  it('accepts whole numbers from 0 to the bound', () => {
    expect(upTo10M('0')).toBe(0);
    expect(upTo10M('42')).toBe(42);
    expect(upTo10M('10000000')).toBe(10_000_000);
  });

  it('refuses what is past the bound, naming the allowed range', () => {
    for (const value of ['10000001', '99999999999999999999']) {
      expect(() => upTo10M(value), value).toThrow(InvalidArgumentError);
      expect(() => upTo10M(value), value).toThrow('from 0 to 10000000');
    }
  });

  it('refuses what Number() would quietly turn into a number', () => {
    for (const value of ['', ' ', '-1', '1.5', '1e3', '0x10', ' 7', 'Infinity']) {
      expect(() => upTo10M(value), JSON.stringify(value)).toThrow(InvalidArgumentError);
    }
  });

  it('without a bound, still refuses integers a double cannot hold exactly', () => {
    expect(parseWholeNumber()('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => parseWholeNumber()('9007199254740993')).toThrow(InvalidArgumentError);
  });
});
