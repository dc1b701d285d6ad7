import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdClient } from '../../../src/targets/quadlet/systemd.js';
import { waitFor } from '../quadlet/helpers.js';
import { leaks, spawnHeld } from '../cli/run-cli.js';
import { finishedRun, restoredFacts, startRestoreEnv, statuses, APPS, type RestoreEnv } from './restore-env.js';

/** What goes wrong during a restore, on the sandbox Quadlets host: the host is never left half done. */
describe('run: failures (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 1000 });
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function run(args: string[], extraEnv: Record<string, string> = {}) {
    const r = await env.agent(['run', ...args, '--json'], extraEnv);
    printed.push(r.all);
    return { ...r, run: finishedRun(r.stdout) };
  }

  it('an invalid dump: refused with its own code, the temporary database dropped, the services never stopped', async () => {
    await env.reset();
    const before = await env.snapshot();
    const broken = path.join(env.dir, 'broken.sql');
    const text = readFileSync(env.dumps.plain, 'utf8');
    // Valid header and schema, then a statement PostgreSQL refuses half-way through the data.
    const at = text.indexOf('COPY ');
    writeFileSync(broken, `${text.slice(0, at)}INSERT INTO no_such_table VALUES (1);\n${text.slice(at)}`, { mode: 0o600 });
    const r = await run(['--dump', broken]);
    expect(r.code).toBe(20);
    expect(r.run.error?.code).toBe('RESTORE_ERR_DUMP_INVALID');
    expect(r.run.error?.message).toMatch(/42P01 relation "no_such_table" does not exist/);
    expect(statuses(r.run)['load-dump']).toBe('failed');
    expect(r.run.steps.map((s) => s.name)).not.toContain('stop-services');
    expect(r.stderr).toMatch(/error RESTORE_ERR_DUMP_INVALID: .*\n\s+what to do: /);
    expect(await env.snapshot()).toEqual(before);
    expect(existsSync(path.join(env.stateDir, 'active-run.json'))).toBe(false);
  });

  it('a file that is no dump is refused in preflight, before anything changes', async () => {
    const notDump = path.join(env.dir, 'notes.txt');
    writeFileSync(notDump, 'shopping list\n');
    const r = await run(['--dump', notDump]);
    expect(r.code).toBe(20);
    expect(statuses(r.run)).toEqual({ preflight: 'failed' });
    expect(r.run.error?.message).toMatch(/does not look like a PostgreSQL dump/);
  });

  it('a step failing before the swap: rolled back, services started again, the error reported with its code', async () => {
    await env.reset();
    const before = await env.snapshot();
    const r = await run(['--dump', env.dumps.plain], { FLIGHTCTL_RESTORE_TEST_FAULT: 'fail:before:swap-database' });
    expect(r.code).toBe(1);
    expect(r.run).toMatchObject({ phase: 'Failed', error: { code: 'RESTORE_ERR_INTERNAL', message: 'injected failure at before:swap-database' } });
    expect(r.run.finalizers.join('\n')).toMatch(
      /dropped the temporary database flightctl_restore_.*\n.*emptied the spare KV database 1\n.*started flightctl-api.service/,
    );
    const after = await env.snapshot();
    expect(after.live).toEqual(before.live);
    expect(after.databases).toEqual(before.databases);
    expect(after.kv).toEqual(before.kv);
    for (const a of APPS) expect(after.apps[a]).not.toBe('');
  });

  it('a step failing after the swap: the restore is completed, services started again', async () => {
    await env.reset();
    const r = await run(['--dump', env.dumps.plain], { FLIGHTCTL_RESTORE_TEST_FAULT: 'fail:before:prepare-kv' });
    expect(r.code).toBe(1);
    expect(r.run.phase).toBe('Failed');
    expect(r.run.finalizers.join('\n')).toMatch(
      /completed the preparation of flightctl: \d+ awaiting-reconnect keys written\n.*kept the previous database as flightctl_old_/,
    );
    const facts = await restoredFacts(env.sb);
    const snap = await env.snapshot();
    expect(facts.unmarked).toEqual([]);
    expect(snap.kv).toEqual(facts.expectedKeys);
    expect(snap.databases).toEqual(['flightctl', `flightctl_old_${r.run.id.slice(-8)}`]);
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
  });

  it('a unit that does not stop in time: the run fails with RESTORE_ERR_UNIT_TIMEOUT, nothing is swapped, every unit runs again', async () => {
    await env.reset();
    const before = await env.snapshot();
    const dropin = path.join(env.sb.unitDir, 'flightctl-periodic.service.d');
    mkdirSync(dropin, { recursive: true });
    writeFileSync(path.join(dropin, 'slow-stop.conf'), '[Service]\nExecStop=/bin/sleep 4\n');
    const sd = await SystemdClient.connect({ address: env.sb.busAddress });
    try {
      await sd.reload();
      const r = await run(['--dump', env.dumps.plain, '--unit-timeout-ms', '1500']);
      expect(r.code).toBe(11);
      expect(r.run.error).toMatchObject({ code: 'RESTORE_ERR_UNIT_TIMEOUT', message: expect.stringMatching(/flightctl-periodic.service \(timeout/) });
      expect(statuses(r.run)['stop-services']).toBe('failed');
      expect(r.run.steps.map((s) => s.name)).not.toContain('swap-database');
      const after = await env.snapshot();
      expect(after.live).toEqual(before.live);
      expect(after.databases).toEqual(['flightctl']);
    } finally {
      rmSync(dropin, { recursive: true, force: true });
      await sd.reload();
      sd.close();
    }
    // The slow unit comes back once its stop ends; the others were started by the finalizers.
    const all = await waitFor(async () => {
      const s = await env.snapshot();
      return APPS.every((a) => s.apps[a] !== '') ? s : undefined;
    }, 30_000);
    expect(Object.values(all.apps).every(Boolean)).toBe(true);
  });

  it('two runs at once: the second is refused; reads do not wait; SIGTERM ends the first safely', async () => {
    await env.reset();
    const before = await env.snapshot();
    // Whatever fails below, the held run does not outlive the test.
    const first = await spawnHeld(
      (fault) => env.spawn(['run', '--dump', env.dumps.plain, '--json'], fault),
      'before:stop-services',
      path.join(env.dir, 'hold-two'),
    );
    const refused = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    printed.push(refused.all);
    expect(refused.code).toBe(19);
    expect(JSON.parse(refused.stdout.trim().split('\n').at(-1)!)).toMatchObject({ error: { code: 'RESTORE_ERR_RUN_ACTIVE' } });
    // Refused before a run existed: the error is the only line.
    expect(refused.stdout.trim().split('\n')).toHaveLength(1);
    // Other mutations of the host wait their turn too; reads do not.
    const stop = await env.agent(['services', 'stop', '--json']);
    expect(stop.code).toBe(19);
    expect(stop.stdout).toMatch(/RESTORE_ERR_RUN_ACTIVE/);
    expect((await env.agent(['services', '--json'])).code).toBe(0);
    const runs = await env.agent(['runs', '--json']);
    expect(runs.code).toBe(0);
    expect((JSON.parse(runs.stdout) as { runs: { phase: string }[] }).runs[0]!.phase).toBe('Running');
    first.process.kill('SIGTERM');
    const r = await first.done;
    printed.push(r.all);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/SIGTERM received/);
    const ended = finishedRun(r.stdout);
    expect(ended.phase).toBe('Interrupted');
    expect(ended.error?.code).toBe('RESTORE_ERR_CANCELLED');
    const after = await env.snapshot();
    expect(after.databases).toEqual(before.databases);
    expect(after.live).toEqual(before.live);
    expect(after.apps).toEqual(before.apps);
    expect(after.kv).toEqual(before.kv);
  });

  it('nothing printed or journaled holds a secret', () => {
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
    expect(leaks(env.journalText(), env.secrets)).toEqual([]);
  });
});
