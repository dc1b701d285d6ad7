import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, addOrganization } from '../../harness/seed.js';
import { freshDatabase, servers, type TestDb } from '../context.js';
import { leaks, runAgent } from './run-cli.js';

const ORG_B = '33333333-2222-3333-4444-555555555555';
let db: TestDb;

beforeAll(async () => {
  db = await freshDatabase();
  await addOrganization(db.client, ORG_B);
  await addDevice(db.client, {
    name: 'p1',
    labels: { env: 'prod', region: 'eu' },
    status: { summary: { status: 'Online' }, lifecycle: { status: 'Enrolled' } },
    alias: 'front-door',
  });
  await addDevice(db.client, { name: 'p2', labels: { env: 'prod', region: 'us', canary: 'yes' }, status: { summary: { status: 'ConflictPaused' } } });
  await addDevice(db.client, { name: 's1', labels: { env: 'staging' }, status: { summary: { status: 'ConflictPaused' } }, org: ORG_B });
  await addDevice(db.client, { name: 'n1', status: null });
  await addDevice(db.client, { name: 'gone', deleted: true, labels: { env: 'prod' } });
});
afterAll(async () => db.drop());

function args(): string[] {
  const s = servers();
  return ['--db-host', s.pg.host, '--db-port', String(s.pg.port), '--db-name', db.name];
}
const env = () => ({ DB_PASSWORD: servers().pg.appPassword });

async function listNames(extra: string[]): Promise<string[]> {
  const r = await runAgent(['devices', 'list', '--json', ...args(), ...extra], env());
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { name: string }[]).map((d) => d.name).sort();
}

describe('flightctl-restore-agent devices', () => {
  it('summary counts non-deleted devices by status.summary.status', async () => {
    const r = await runAgent(['devices', 'summary', '--json', ...args()], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ total: 4, byStatus: { ConflictPaused: 2, Online: 1, Unknown: 1 } });
    const human = await runAgent(['devices', 'summary', '-o', 'text', ...args()], env());
    expect(human.stdout).toMatch(/ConflictPaused\s+2/);
    expect(human.stdout).toMatch(/total\s+4/);
    expect(leaks(r.all + human.all, [servers().pg.appPassword])).toEqual([]);
  });

  it('list filters with label selectors', async () => {
    expect(await listNames([])).toEqual(['n1', 'p1', 'p2', 's1']);
    expect(await listNames(['--selector', 'env=prod'])).toEqual(['p1', 'p2']);
    expect(await listNames(['--selector', 'env==prod,!canary'])).toEqual(['p1']);
    expect(await listNames(['--selector', 'region in (us, eu),canary'])).toEqual(['p2']);
    expect(await listNames(['--selector', 'env notin (prod)'])).toEqual(['n1', 's1']);
    expect(await listNames(['--selector', 'env!=prod'])).toEqual(['n1', 's1']);
  });

  it('list filters with device field selectors', async () => {
    expect(await listNames(['--field-selector', 'status.summary.status=ConflictPaused'])).toEqual(['p2', 's1']);
    expect(await listNames(['--field-selector', 'status.summary.status!=ConflictPaused'])).toEqual(['n1', 'p1']);
    expect(await listNames(['--field-selector', 'metadata.name in (p1,n1)'])).toEqual(['n1', 'p1']);
    expect(await listNames(['--field-selector', 'metadata.alias=front-door'])).toEqual(['p1']);
    expect(await listNames(['--field-selector', 'status.lifecycle.status'])).toEqual(['p1']);
    expect(await listNames(['--field-selector', "metadata.name!=''"])).toEqual(['n1', 'p1', 'p2', 's1']);
    expect(await listNames(['--field-selector', 'status.summary.status=ConflictPaused', '--selector', 'env=staging'])).toEqual(['s1']);
  });

  it('prints a table without --json', async () => {
    const r = await runAgent(['devices', 'list', '-o', 'text', ...args(), '--field-selector', 'metadata.name=p1'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/p1\s+Online\s+-\s+Enrolled/);
    expect(r.stdout).toContain('1 device(s)');
  });

  it('an invalid selector is a clear error with exit 2 and no database access', async () => {
    for (const [flag, value, fragment] of [
      ['--selector', 'env in (a', 'unbalanced parentheses'],
      ['--selector', 'bad key=1', 'cannot parse'],
      ['--field-selector', 'spec.os=1', 'unknown field "spec.os"'],
      ['--field-selector', 'metadata.creationTimestamp=yesterday', 'not a timestamp'],
    ] as const) {
      // Port 1 proves the selector is rejected before any connection is tried.
      const r = await runAgent(['devices', 'list', '--db-port', '1', flag, value]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('RESTORE_ERR_SELECTOR_INVALID');
      expect(r.stderr).toContain(fragment);
    }
  });
});

describe('devices: --limit bound', () => {
  it('a --limit past 10 000 000 is a usage error naming the flag and the range, before any connection', async () => {
    for (const json of [[], ['--json']]) {
      // Port 1: nothing listens there, so a connection attempt would be a different error.
      const r = await runAgent(['devices', 'list', ...json, '--db-port', '1', '--limit', '99999999999999999999']);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('RESTORE_ERR_USAGE');
      expect(r.stderr).toContain('--limit');
      expect(r.stderr).toContain('from 0 to 10000000');
      expect(r.stdout).toBe('');
    }
  });

  it('--limit 10000000 is accepted', async () => {
    const r = await runAgent(['devices', 'list', '--json', ...args(), '--limit', '10000000'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(4);
  });
});

describe('devices: nothing printed before the first rows are read', () => {
  let denied: TestDb;
  beforeAll(async () => {
    // The application user owns this throwaway database and takes away its own right to read devices.
    denied = await freshDatabase();
    await addDevice(denied.client, { name: 'hidden' });
    await denied.client.query('REVOKE SELECT ON devices FROM flightctl_app');
  });
  afterAll(async () => denied.drop());

  const deniedArgs = () => ['--db-host', servers().pg.host, '--db-port', String(servers().pg.port), '--db-name', denied.name];

  for (const command of ['list', 'summary']) {
    it(`devices ${command} --json: stdout holds only the JSON error`, async () => {
      const r = await runAgent(['devices', command, '--json', ...deniedArgs()], env());
      expect(r.code, r.stderr).toBe(4);
      expect(r.stdout.trim().split('\n')).toHaveLength(1);
      const { error } = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } };
      expect(error.code).toBe('RESTORE_ERR_DB_PERMISSION');
      expect(error.message).toContain('42501');
      expect(error.hint.length).toBeGreaterThan(10);
      expect(leaks(r.all, [servers().pg.appPassword])).toEqual([]);
    });

    it(`devices ${command} without --json: nothing on stdout, the error on stderr`, async () => {
      const r = await runAgent(['devices', command, '-o', 'text', ...deniedArgs()], env());
      expect(r.code, r.stderr).toBe(4);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('RESTORE_ERR_DB_PERMISSION');
      expect(leaks(r.all, [servers().pg.appPassword])).toEqual([]);
    });
  }
});
