import { describe, expect, it } from 'vitest';
import { RestoreError } from '../../src/lib/errors.js';
import { retrying } from '../../src/lib/retrying.js';

const down = () => new RestoreError('RESTORE_ERR_DB_UNREACHABLE', 'not back yet');
const refused = () => new RestoreError('RESTORE_ERR_DB_QUERY', 'a statement was refused');
const fast = { firstDelayMs: 1, maxDelayMs: 4 };

describe('retrying: one retry loop for servers that come back by themselves', () => {
  it('tries again while the error is retryable, pausing longer each time, and answers the first success', async () => {
    let calls = 0;
    const waits: [string, number, number][] = [];
    const out = await retrying(
      async () => {
        if (++calls < 5) throw down();
        return 'whole';
      },
      { ...fast, maxWaitMs: 10_000, onWait: (e, ms, n) => void waits.push([e.code, ms, n]) },
    );
    expect(out).toBe('whole');
    expect(waits).toEqual([
      ['RESTORE_ERR_DB_UNREACHABLE', 1, 1],
      ['RESTORE_ERR_DB_UNREACHABLE', 2, 2],
      ['RESTORE_ERR_DB_UNREACHABLE', 4, 3],
      ['RESTORE_ERR_DB_UNREACHABLE', 4, 4],
    ]);
  });

  it('does not wait out what waiting cannot fix', async () => {
    let calls = 0;
    await expect(retrying(async () => (calls++, Promise.reject(refused())), { ...fast, maxWaitMs: 10_000 })).rejects.toMatchObject({
      code: 'RESTORE_ERR_DB_QUERY',
    });
    expect(calls).toBe(1);
  });

  it('retryIf decides what is worth another attempt', async () => {
    let calls = 0;
    await expect(retrying(async () => (++calls < 3 ? Promise.reject(refused()) : 'ok'), { ...fast, maxWaitMs: 10_000, retryIf: () => true })).resolves.toBe(
      'ok',
    );
  });

  it('gives up with the last error once the next pause would pass the bound; 0 is one attempt', async () => {
    let calls = 0;
    await expect(retrying(async () => (calls++, Promise.reject(down())), { ...fast, maxWaitMs: 0 })).rejects.toMatchObject({
      code: 'RESTORE_ERR_DB_UNREACHABLE',
    });
    expect(calls).toBe(1);
    calls = 0;
    await expect(retrying(async () => (calls++, Promise.reject(down())), { firstDelayMs: 20, maxDelayMs: 20, maxWaitMs: 50 })).rejects.toThrow('not back yet');
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(3);
  });

  it('an aborted signal ends the waiting with the last error', async () => {
    const stop = new AbortController();
    let calls = 0;
    const p = retrying(async () => (calls++, Promise.reject(down())), { firstDelayMs: 60_000, maxDelayMs: 60_000, maxWaitMs: Infinity, signal: stop.signal });
    setTimeout(() => stop.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: 'RESTORE_ERR_DB_UNREACHABLE' });
    expect(calls).toBe(1);
  });
});
