import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSandboxDb } from '../../harness/restore-scenario.js';
import { leaks } from '../cli/run-cli.js';
import { restoredFacts, startRestoreEnv, APPS, DUMP_RUN_STEPS, type RestoreEnv } from '../runbook/restore-env.js';
import { serveKit, type Served, type ServeKit } from './serve-env.js';

/** The API on the sandbox Quadlets host, through the built binary as it runs in production. */
describe('serve on the sandbox Quadlets host', () => {
  let env: RestoreEnv;
  let kit: ServeKit;
  let token: string;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 1500 });
    mkdirSync(path.join(env.stateDir, 'imports'), { recursive: true });
    copyFileSync(env.dumps.plain, path.join(env.stateDir, 'imports', 'backup.sql'));
    copyFileSync(env.dumps.custom, path.join(env.stateDir, 'imports', 'backup.dump'));
    kit = await serveKit(env, printed);
    token = kit.token;
  });
  afterAll(async () => {
    await env?.stop();
  });

  const serve = (extraEnv: Record<string, string> = {}) => kit.serve([], extraEnv);
  const call = (s: Served, method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => s.call(method, p, body, headers);

  /** The events of a run as the API streams them, read to the end (or until `stopAfter` events). */
  async function readEvents(s: Served, id: string, accept: string, opts: { lastEventId?: number; stopAfter?: number } = {}) {
    const controller = new AbortController();
    const r = await fetch(`${s.base}/v1/restores/${id}/events`, {
      headers: { authorization: `Bearer ${token}`, accept, ...(opts.lastEventId !== undefined ? { 'last-event-id': String(opts.lastEventId) } : {}) },
      signal: controller.signal,
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain(accept);
    const events: { seq: number; type: string; step?: string; run?: { phase: string } }[] = [];
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        const sep = accept === 'text/event-stream' ? '\n\n' : '\n';
        let i: number;
        while ((i = buf.indexOf(sep)) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + sep.length);
          const data =
            accept === 'text/event-stream'
              ? frame
                  .split('\n')
                  .find((l) => l.startsWith('data: '))
                  ?.slice(6)
              : frame;
          if (!data?.trim()) continue;
          const e = JSON.parse(data) as (typeof events)[number];
          if (accept === 'text/event-stream') expect(frame).toContain(`id: ${e.seq}\nevent: ${e.type}\n`);
          events.push(e);
          if (opts.stopAfter !== undefined && events.length >= opts.stopAfter) {
            controller.abort();
            return events;
          }
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    }
    return events;
  }

  it('a restore started over the API, followed live through NDJSON to the end; a second POST meanwhile is a 409', async () => {
    await env.reset();
    const s = await serve();
    const [a, b] = await Promise.all([call(s, 'POST', '/v1/restores', { dump: 'backup.sql' }), call(s, 'POST', '/v1/restores', { dump: 'backup.sql' })]);
    expect([a.status, b.status].sort()).toEqual([202, 409]);
    const accepted = a.status === 202 ? a : b;
    const refused = a.status === 202 ? b : a;
    expect(refused.json()).toMatchObject({ code: 'RESTORE_ERR_RUN_ACTIVE', status: 409 });
    const run = accepted.json() as { id: string };
    expect(accepted.headers.get('location')).toBe(`/v1/restores/${run.id}`);
    const events = await readEvents(s, run.id, 'application/x-ndjson');
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((x, y) => x - y));
    expect(events.filter((e) => e.type === 'step-finished').map((e) => e.step)).toEqual(DUMP_RUN_STEPS);
    expect(events.at(-1)).toMatchObject({ type: 'run-finished', run: { phase: 'Succeeded' } });
    expect((await call(s, 'GET', `/v1/restores/${run.id}`)).json()).toMatchObject({ id: run.id, phase: 'Succeeded', requestedBy: 'api:ops@example' });
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
    const services = (await call(s, 'GET', '/v1/services')).json() as { services: { unit: string; active: boolean }[] };
    expect(services.services.filter((u) => u.active).map((u) => u.unit)).toEqual(APPS.map((a) => `${a}.service`));
    const summary = (await call(s, 'GET', '/v1/devices/summary')).json() as { total: number; byStatus: Record<string, number> };
    expect(summary.byStatus.AwaitingReconnect).toBeGreaterThan(0);
    const list = (await call(s, 'GET', '/v1/devices?fieldSelector=status.summary.status%3DAwaitingReconnect&limit=5')).json() as {
      devices: { summaryStatus: string }[];
    };
    expect(list.devices).toHaveLength(5);
    expect(list.devices.every((d) => d.summaryStatus === 'AwaitingReconnect')).toBe(true);
    const metrics = await call(s, 'GET', '/metrics');
    expect(metrics.text).toMatch(/flightctl_restore_runs_total\{phase="Succeeded",check="false"\} 1/);
    expect(metrics.text).toMatch(/flightctl_restore_last_success_timestamp_seconds \d+/);
    expect((await s.stop()).code).toBe(0);
  });

  it('SSE with a reconnect: Last-Event-ID resumes where the stream broke, without gaps or repeats', async () => {
    await env.reset();
    const s = await serve();
    const started = await call(s, 'POST', '/v1/restores', { dump: 'backup.dump' });
    expect(started.status).toBe(202);
    const id = (started.json() as { id: string }).id;
    const first = await readEvents(s, id, 'text/event-stream', { stopAfter: 4 });
    const last = first.at(-1)!.seq;
    const rest = await readEvents(s, id, 'text/event-stream', { lastEventId: last });
    expect(rest[0]!.seq).toBeGreaterThan(last);
    const steps = [...first, ...rest].filter((e) => e.type !== 'progress');
    expect(new Set(steps.map((e) => e.seq)).size).toBe(steps.length);
    expect(steps.filter((e) => e.type === 'step-started')).toHaveLength(11);
    expect(rest.at(-1)).toMatchObject({ type: 'run-finished', run: { phase: 'Succeeded' } });
    // A finished run replays from the journal, and the stream ends.
    const replay = await readEvents(s, id, 'application/x-ndjson');
    expect(replay.filter((e) => e.type !== 'progress').map((e) => e.seq)).toEqual(steps.map((e) => e.seq));
    await s.stop();
  });

  it('resumes devices left ConflictPaused, one by name, then all with the confirmation', async () => {
    const s = await serve();
    const db = await connectSandboxDb(env.sb);
    try {
      const paused = async () =>
        (
          await db.query<{ name: string }>(
            `SELECT name FROM devices WHERE deleted_at IS NULL AND annotations ? 'device-controller/conflictPaused' ORDER BY name`,
          )
        ).rows.map((r) => r.name);
      const before = await paused();
      expect(before.length).toBeGreaterThan(2);
      const one = await call(s, 'POST', '/v1/devices/resume', { name: before[0] });
      expect(one.json()).toEqual({ resumedDevices: 1 });
      expect(await paused()).toEqual(before.slice(1));
      const again = await call(s, 'POST', '/v1/devices/resume', { name: before[0] });
      expect(again.json()).toEqual({ resumedDevices: 0 });
      const all = await call(s, 'POST', '/v1/devices/resume', { all: true, confirm: 'resume-all' });
      expect(all.json()).toEqual({ resumedDevices: before.length - 1 });
      expect(await paused()).toEqual([]);
      const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE reason = 'DeviceConflictResolved'`);
      expect(Number(rows[0]!.n)).toBe(before.length);
    } finally {
      await db.end();
      await s.stop();
    }
  });

  it('SIGTERM during a restore: the run stops at a safe point, the finalizers run, serve exits', async () => {
    await env.reset();
    const before = await env.snapshot();
    const s = await serve({ FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:stop-services', FLIGHTCTL_RESTORE_TEST_FAULT_FILE: path.join(env.dir, 'serve-hold') });
    const id = ((await call(s, 'POST', '/v1/restores', { dump: 'backup.sql' })).json() as { id: string }).id;
    for (let i = 0; i < 600; i++) {
      const run = (await call(s, 'GET', `/v1/restores/${id}`)).json() as { currentStep?: string };
      if (run.currentStep === 'stop-services') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const ended = await s.stop('SIGTERM');
    expect(ended.code).toBe(0);
    expect(ended.all).toMatch(/SIGTERM: no new calls/);
    const after = await env.snapshot();
    expect(after.databases).toEqual(before.databases);
    expect(after.live).toEqual(before.live);
    expect(after.apps).toEqual(before.apps);
    const s2 = await serve();
    expect((await call(s2, 'GET', `/v1/restores/${id}`)).json()).toMatchObject({ phase: 'Interrupted', error: { code: 'RESTORE_ERR_CANCELLED' } });
    await s2.stop();
  });

  it('killed during a restore: the next serve recovers the run before it answers', async () => {
    await env.reset();
    const hold = path.join(env.dir, 'serve-hold-2');
    const s = await serve({ FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:prepare-kv', FLIGHTCTL_RESTORE_TEST_FAULT_FILE: hold });
    const id = ((await call(s, 'POST', '/v1/restores', { dump: 'backup.sql' })).json() as { id: string }).id;
    for (let i = 0; i < 1200; i++) {
      const run = (await call(s, 'GET', `/v1/restores/${id}`)).json() as { currentStep?: string };
      if (run.currentStep === 'prepare-kv') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await s.stop('SIGKILL');
    const s2 = await serve();
    const run = (await call(s2, 'GET', `/v1/restores/${id}`)).json() as { phase: string; recovery: { by: string; actions: string[] } };
    expect(run).toMatchObject({ phase: 'Recovered', recovery: { by: 'serve (at start)' } });
    const facts = await restoredFacts(env.sb);
    const snap = await env.snapshot();
    expect(facts.unmarked).toEqual([]);
    expect(snap.kv).toEqual(facts.expectedKeys);
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
    await s2.stop();
  });

  it('nothing printed or answered holds a secret, a token, or the word Flight Control treats as a leak', () => {
    const all = printed.join('\n');
    expect(leaks(all, env.secrets)).toEqual([]);
    expect(all).not.toContain(token.split('.')[2]);
    expect(leaks(env.journalText(), env.secrets)).toEqual([]);
  });
});
