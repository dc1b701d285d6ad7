import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IntentFile, type RunIntent } from '../../src/runbook/intent.js';

const intent: RunIntent = {
  version: 1,
  runId: '20261128T090000Z-0123abcd',
  pid: 4242,
  startedAt: '2026-11-28T09:00:00.000Z',
  withDump: true,
  keepOldDb: false,
  database: { name: 'flightctl', temp: 'flightctl_restore_0123abcd' },
  liveTouched: false,
};

describe('the intent file (what an unfinished run changes, read again after a crash)', () => {
  it('reads back what was written; none when there is no unfinished run', async () => {
    const file = new IntentFile(mkdtempSync(path.join(tmpdir(), 'intent-')));
    expect(await file.read()).toBeUndefined();
    await file.write(intent);
    expect(await file.read()).toEqual(intent);
  });

  it.each([
    ['not JSON (a torn or hand-edited file)', '{"version": 1, "runId":'],
    ['JSON of another shape', JSON.stringify({ ...intent, database: { temp: 'x' } })],
    ['a record of a future version', JSON.stringify({ ...intent, version: 2 })],
  ])('%s: refused with STATE_INVALID, naming the file and what it holds, never guessed at', async (_what, text) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'intent-'));
    const file = new IntentFile(dir);
    writeFileSync(file.file, text);
    await expect(file.read()).rejects.toMatchObject({
      code: 'RESTORE_ERR_STATE_INVALID',
      message: expect.stringMatching(new RegExp(`intent file ${file.file} is not a valid record of an unfinished run; inspect it`)),
    });
  });
});
