import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSlow } from '../context.js';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { adminSql, connectSandboxDb } from '../../harness/restore-scenario.js';
import { leaks, spawnHeld, type RunningAgent } from '../cli/run-cli.js';
import { waitFor } from '../quadlet/helpers.js';
import { APPS, finishedRun, restoredFacts, startRestoreEnv, type FinishedRun, type HostSnapshot, type RestoreEnv } from './restore-env.js';

/**
 * Faults beyond the agent, on the sandbox Quadlets host: the database server killed (systemd
 * restarts it), the KV store restarted (it comes back empty), an application unit that cannot
 * start. Each case ends in a state the operator can trust: the original database or the fully
 * prepared restore with its keys, every unit that ran running, nothing temporary left.
 */
describeSlow('faults beyond the agent during a restore (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  let podman: PodmanClient;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 3000 });
    podman = new PodmanClient(env.sb.podmanSocket);
    // systemd restarts the data stores after a second here, not after production's 30 s.
    for (const unit of ['flightctl-db', 'flightctl-kv']) {
      mkdirSync(path.join(env.sb.unitDir, `${unit}.service.d`), { recursive: true });
      writeFileSync(path.join(env.sb.unitDir, `${unit}.service.d`, 'restart-fast.conf'), '[Service]\nRestartSec=1\n');
    }
    await env.sb.nsExec(['systemctl', 'daemon-reload']);
  });
  afterAll(async () => {
    await env?.stop();
  });

  /** Runs a restore held at the point, does the fault there, lets the run go on and waits for its end. */
  async function faultAt(point: string, fault: (agent: RunningAgent) => Promise<void>, extra: string[] = [], agentEnv: Record<string, string> = {}) {
    await databaseBack(); // an earlier case's restart may still be under way
    await env.reset();
    const before = await env.snapshot();
    const hold = path.join(env.dir, 'hold');
    const agent = await spawnHeld((f) => env.spawn(['run', '--dump', env.dumps.plain, '--json', ...extra], { ...agentEnv, ...f }), point, hold);
    await fault(agent);
    const r = await agent.done;
    printed.push(r.all);
    return { ...r, run: finishedRun(r.stdout), before };
  }

  /** The database server killed as a crash kills it: its container's main process, SIGKILL; systemd restarts it. */
  async function killDatabase(): Promise<void> {
    await podman.docker.getContainer('flightctl-db').kill({ signal: 'SIGKILL' });
  }

  async function databaseBack(): Promise<void> {
    await waitFor(async () => ((await adminSql(env.sb, 'SELECT 1').catch(() => '')).trim() === '1' ? true : undefined), 60_000);
  }

  async function sessionOn(database: string): Promise<pg.Client> {
    return connectSandboxDb(env.sb, database);
  }

  async function restoreDatabaseName(): Promise<string> {
    return (await adminSql(env.sb, "SELECT datname FROM pg_database WHERE datname LIKE 'flightctl_restore_%'")).trim();
  }

  /** Waits until a statement of the agent's matching the pattern runs (or waits on a lock) in the server. */
  async function statementRunning(pattern: string): Promise<void> {
    await waitFor(async () => {
      const n = await adminSql(env.sb, `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query ILIKE '${pattern}'`);
      return Number(n.trim()) > 0 ? true : undefined;
    }, 30_000);
  }

  function release(): void {
    rmSync(path.join(env.dir, 'hold'), { force: true });
  }

  async function expectOriginal(before: HostSnapshot): Promise<HostSnapshot> {
    const after = await env.snapshot();
    expect(after.live).toEqual(before.live);
    expect(after.databases).toEqual(['flightctl']);
    expect(after.kv).toEqual(before.kv);
    expect(after.dropins).toEqual([]);
    for (const a of APPS) expect(after.apps[a], `${a} runs`).not.toBe('');
    expect(existsSync(path.join(env.stateDir, 'active-run.json'))).toBe(false);
    return after;
  }

  /** `intentKept`: the run is not whole yet (a unit to start), so a later recover finishes it. */
  async function expectRestored(run: FinishedRun, opts: { intentKept?: boolean } = {}): Promise<HostSnapshot> {
    const facts = await restoredFacts(env.sb);
    const after = await env.snapshot();
    expect(facts.unmarked).toEqual([]);
    expect(after.kv).toEqual(facts.expectedKeys);
    expect(after.databases.filter((d) => d.includes('_restore_'))).toEqual([]);
    expect(after.databases.filter((d) => d !== 'flightctl' && d !== `flightctl_old_${run.id.slice(-8)}`)).toEqual([]);
    expect(after.dropins).toEqual([]);
    expect(existsSync(path.join(env.stateDir, 'active-run.json'))).toBe(!!opts.intentKept);
    return after;
  }

  describe('flightctl-db killed', () => {
    it('during the load: the run fails saying the database went away, the temporary database is dropped once it is back, nothing else changed', async () => {
      const r = await faultAt('progress:load-dump', async () => {
        await killDatabase();
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Failed');
      expect(r.run.error?.code).toBe('RESTORE_ERR_DB_UNREACHABLE');
      expect(r.run.steps.map((s) => s.name)).not.toContain('stop-services');
      expect(r.run.finalizers.join('\n'), r.stderr).toMatch(/dropped the temporary database flightctl_restore_/);
      // The finalizers waited for the database to come back, and the run says so.
      expect(r.run.faults?.[0]).toMatchObject({ kind: 'server-unavailable', action: expect.stringMatching(/^the finalizers waited/) as unknown });
      const shown = await env.agent(['runs', r.run.id, '-o', 'text']);
      expect(shown.stdout).toMatch(/fault met: RESTORE_ERR_\w+: .*; the finalizers waited/);
      await expectOriginal(r.before);
    });

    it('during the preparation: the run fails, the temporary database is dropped, nothing else changed', async () => {
      let blocker: pg.Client | undefined;
      const r = await faultAt('before:prepare-database', async () => {
        // A session holds the devices table, so the preparation's UPDATE is certainly running (waiting) when the server dies.
        blocker = await sessionOn(await restoreDatabaseName());
        await blocker.query('BEGIN; LOCK TABLE devices IN SHARE MODE');
        release();
        await statementRunning('%UPDATE devices%');
        await killDatabase();
      });
      await blocker?.end().catch(() => undefined);
      expect(r.run.phase, r.stderr).toBe('Failed');
      expect(r.run.error?.code).toBe('RESTORE_ERR_DB_UNREACHABLE');
      expect(r.run.steps.map((s) => s.name)).not.toContain('stop-services');
      await expectOriginal(r.before);
    });

    it('during the swap: the renames are all or nothing; the run fails, the services run again on the original database', async () => {
      let blocker: pg.Client | undefined;
      const r = await faultAt('before:swap-database', async () => {
        // A session on the restored copy makes its rename wait (object_in_use, retried): the swap is under way when the server dies.
        blocker = await sessionOn(await restoreDatabaseName());
        release();
        await statementRunning('%ALTER DATABASE%RENAME%');
        await killDatabase();
      });
      await blocker?.end().catch(() => undefined);
      expect(r.run.phase, r.stderr).toBe('Failed');
      expect(r.run.error?.code).toBe('RESTORE_ERR_DB_UNREACHABLE');
      await expectOriginal(r.before);
    });

    it('right after the swap: the run goes on (the KV store and the units do not need it), and ends with the restore in place', async () => {
      const r = await faultAt('after:swap-database', async () => {
        await killDatabase();
        release();
      });
      await databaseBack();
      expect(['Succeeded', 'Failed']).toContain(r.run.phase);
      await expectRestored(r.run);
      const after = await env.snapshot();
      for (const a of APPS) expect(after.apps[a], `${a} runs`).not.toBe('');
    });
  });

  describe('flightctl-kv restarted (it comes back empty)', () => {
    it('during the staging: the lost keys are noticed and written again before the services start', async () => {
      const r = await faultAt('progress:stage-kv', async () => {
        await env.sb.nsExec(['systemctl', 'restart', 'flightctl-kv.service']);
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      await expectRestored(r.run);
      expect(r.run.faults).toEqual([
        expect.objectContaining({
          step: 'stage-kv',
          kind: 'server-unavailable',
          code: 'RESTORE_ERR_KV_UNREACHABLE',
          action: expect.stringMatching(/^staging the keys again/),
        }),
      ]);
    });

    it('right after SWAPDB: the keys are verified before the services start, found missing and written again', async () => {
      const r = await faultAt('after:prepare-kv', async () => {
        await env.sb.nsExec(['systemctl', 'restart', 'flightctl-kv.service']);
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      await expectRestored(r.run);
      const start = r.run.steps.find((s) => s.name === 'start-services');
      expect(start?.msg).toMatch(/the KV store had lost the keys: \d+ keys written again first/);
      expect(r.run.faults).toEqual([expect.objectContaining({ step: 'start-services', kind: 'kv-keys-lost', code: 'RESTORE_ERR_KV_VERIFY' })]);
    });
  });

  describe('an application unit that cannot start after the swap', () => {
    const dropin = () => path.join(env.sb.unitDir, 'flightctl-worker.service.d');

    it('the others start, the run fails naming the unit and what to do, the restore stays in place', async () => {
      const r = await faultAt('after:swap-database', async () => {
        mkdirSync(dropin(), { recursive: true });
        writeFileSync(path.join(dropin(), 'broken.conf'), '[Service]\nExecStartPre=/bin/false\nRestart=no\n');
        await env.sb.nsExec(['systemctl', 'daemon-reload']);
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Failed');
      expect(r.run.error?.code).toBe('RESTORE_ERR_UNIT_JOB_FAILED');
      expect(r.run.error?.message).toMatch(/flightctl-worker/);
      expect(r.run.error?.message).toMatch(
        /the other units run on the restored data\. See journalctl -u flightctl-worker\.service, fix it, then run flightctl-restore-agent recover/,
      );
      expect(r.run.faults).toContainEqual(expect.objectContaining({ kind: 'unit-failed', message: 'flightctl-worker.service did not start' }));
      const after = await expectRestored(r.run, { intentKept: true });
      for (const a of APPS.filter((x) => x !== 'flightctl-worker')) expect(after.apps[a], `${a} runs`).not.toBe('');
      expect(after.apps['flightctl-worker']).toBe('');
    });

    it('fixed, a later recover starts it and does not undo the restore', async () => {
      rmSync(dropin(), { recursive: true, force: true });
      await env.sb.nsExec(['systemctl', 'daemon-reload']);
      const before = await env.snapshot();
      const rec = await env.agent(['recover', '--json']);
      printed.push(rec.all);
      expect(rec.code, rec.stderr).toBe(0);
      const after = await env.snapshot();
      expect(after.live).toEqual(before.live);
      expect(after.kv).toEqual(before.kv);
      await waitFor(async () => ((await env.snapshot()).apps['flightctl-worker'] ? true : undefined), 60_000);
    });
  });

  describe('the bus or the Podman API lost under the run', () => {
    const restart = (unit: string) => env.sb.nsExec(['systemctl', 'restart', unit]);

    it('dbus.service restarted inside the window: the agent connects again, the run ends with the restore in place and every unit running', async () => {
      const r = await faultAt('before:start-services', async () => {
        await restart('dbus.service');
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      const after = await expectRestored(r.run);
      for (const a of APPS) expect(after.apps[a], `${a} runs`).not.toBe('');
      expect(r.run.faults).toContainEqual(
        expect.objectContaining({
          step: 'start-services',
          kind: 'connection-lost',
          code: 'RESTORE_ERR_DBUS_UNREACHABLE',
          action: expect.stringMatching(/^connected to the bus again and made the call/) as unknown,
        }),
      );
    });

    it('dbus.service restarted while the stop jobs run: the stop is made again on a new connection, nothing is left stopped', async () => {
      const r = await faultAt('before:stop-services', async () => {
        release();
        await restart('dbus.service');
      });
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      const after = await expectRestored(r.run);
      for (const a of APPS) expect(after.apps[a], `${a} runs`).not.toBe('');
    });

    it('podman.service restarted during the load: the cut load is refused as a lost connection (not as a bad dump), nothing else changed', async () => {
      const r = await faultAt('progress:load-dump', async () => {
        await restart('podman.service');
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Failed');
      expect(r.run.error?.code, r.run.error?.message).toBe('RESTORE_ERR_PODMAN_UNREACHABLE');
      expect(r.run.error?.message).toMatch(/was podman\.service restarted\?/);
      expect(r.run.steps.find((s) => s.status === 'failed')?.name).toBe('load-dump');
      await expectOriginal(r.before);
    });

    it('podman.service restarted between steps: the calls wait for it and the run succeeds', async () => {
      const r = await faultAt('before:prepare-database', async () => {
        await restart('podman.service');
        release();
      });
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      await expectRestored(r.run);
    });
  });

  describe("the host's clock set forward, then back (libfaketime moves the agent's wall clock; its monotonic clock stays real)", () => {
    const HOUR = 3_600_000;
    const clock = () => path.join(env.dir, 'faketime');
    const faked = () => ({
      LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
      FAKETIME_TIMESTAMP_FILE: clock(),
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    });

    it('two hours forward inside the window: the run succeeds, and its duration, its steps and the downtime stay true', async () => {
      writeFileSync(clock(), '+0\n');
      const r = await faultAt(
        'before:swap-database',
        async () => {
          writeFileSync(clock(), '+2h\n');
          release();
        },
        [],
        faked(),
      );
      expect(r.run.phase, r.stderr).toBe('Succeeded');
      await expectRestored(r.run);
      // The wall clock moved two hours; the run took seconds, and says so.
      expect(Date.parse(r.run.finishedAt!) - Date.parse(r.run.startedAt)).toBeGreaterThan(HOUR);
      expect(r.run.durationMs).toBeLessThan(HOUR);
      expect(r.run.downtimeMs).toBeLessThan(HOUR);
      for (const s of r.run.steps) expect(s.durationMs, s.name).toBeLessThan(HOUR);
      const shown = await env.agent(['runs', r.run.id, '-o', 'text']);
      expect(shown.stdout).not.toMatch(/\d+ ?h/);

      // Then set back four hours (two before the real time): the next run still sorts after it.
      writeFileSync(clock(), '-2h\n');
      const next = await faultAt('before:preflight', async () => release(), [], faked());
      expect(next.run.phase, next.stderr).toBe('Succeeded');
      expect(next.run.id > r.run.id, `${next.run.id} after ${r.run.id}`).toBe(true);
      const runs = JSON.parse((await env.agent(['runs', '--json'])).stdout) as { id: string }[] | { runs: { id: string }[] };
      const ids = (Array.isArray(runs) ? runs : runs.runs).map((x) => x.id);
      expect(ids.indexOf(next.run.id)).toBeLessThan(ids.indexOf(r.run.id));
    });
  });

  it('nothing printed or journaled holds a secret', () => {
    expect(leaks(printed.join('\n'), env.secrets)).toEqual([]);
    expect(leaks(env.journalText(), env.secrets)).toEqual([]);
  });
});
