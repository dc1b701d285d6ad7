import { InvalidArgumentError } from 'commander';

/**
 * A flag parser for a whole number from 0 to max. Digits only: Number() would take "", "1e3" or
 * "0x10", and a value past max would reach the database and fail there (22003) after output began.
 */
export function parseWholeNumber(max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`must be a whole number from 0 to ${max}`);
    return n;
  };
}
