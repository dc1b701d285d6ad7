import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { IntentDoc } from '../../src/runbook/intent.js';
import type { RestoreOptions } from '../../src/runbook/restore/context.js';
import { restoreIntent } from '../../src/runbook/restore/intent-record.js';
import { FileRunStore } from '../../src/runbook/store/file/file-run-store.js';
import type { RestoreTarget } from '../../src/targets/target.js';

const target = { reachingDatabaseRestartsIt: false, deploymentType: 'podman' } as RestoreTarget;

const intent: IntentDoc<RestoreOptions> = {
  version: 2,
  runId: '20261128T090000Z-0123abcd',
  pid: 4242,
  holder: 'pid:4242:100',
  startedAt: '2026-11-28T09:00:00.000Z',
  params: { dump: '/backups/flightctl.sql', force: false, keepOldDb: false, database: 'flightctl' },
  plan: [
    'preflight',
    'version-check',
    'load-dump',
    'prepare-database',
    'stage-kv',
    'stop-services',
    'swap-database',
    'prepare-kv',
    'start-services',
    'verify',
    'drop-old-database',
  ],
  steps: { 'load-dump': { database: 'flightctl_restore_0123abcd' } },
};

function open() {
  const store = new FileRunStore(mkdtempSync(path.join(tmpdir(), 'intent-')));
  return { store, record: restoreIntent({ store, target }) };
}

describe('the intent file (what an unfinished run changes, read again after a crash)', () => {
  it('reads back what was written; none when there is no unfinished run', async () => {
    const { record } = open();
    expect(await record.read()).toBeUndefined();
    await record.write(intent);
    expect(await record.read()).toEqual(intent);
  });

  it.each([
    ['not JSON (a torn or hand-edited file)', '{"version": 2, "runId":'],
    ['JSON of another shape', JSON.stringify({ ...intent, steps: { 'load-dump': { temp: 'x' } } })],
    ['a record of a future version', JSON.stringify({ ...intent, version: 3 })],
    ['a step this agent does not know', JSON.stringify({ ...intent, steps: { ...intent.steps, 'restore-the-moon': {} } })],
    ['a record of the previous format that is damaged', JSON.stringify({ version: 1, runId: intent.runId })],
  ])('%s: refused with STATE_INVALID, naming the file and what it holds, never guessed at', async (_what, text) => {
    const { store, record } = open();
    writeFileSync(store.intent.file, text);
    await expect(record.read()).rejects.toMatchObject({
      code: 'RESTORE_ERR_STATE_INVALID',
      message: expect.stringMatching(new RegExp(`intent file ${store.intent.file} is not a valid record of an unfinished run; inspect it`)),
    });
  });

  it('a future version says which agent can read it', async () => {
    const { store, record } = open();
    writeFileSync(store.intent.file, JSON.stringify({ ...intent, version: 3 }));
    await expect(record.read()).rejects.toMatchObject({ message: expect.stringMatching(/written by a newer agent \(format 3\): recover with that version/) });
  });
});
