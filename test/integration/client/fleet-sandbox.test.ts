/**
 * flightctl-restorectl and the Ansible example on the sandbox Quadlets host: agents (serve from
 * the built binary, each with its own state directory) on the real host do real runs; with them
 * in the fleet, a host that is not there and one that is down. One sandbox for the whole file.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSIBLE_ENV } from '../../harness/ansible.js';
import { startDroppingProxy, type DroppingProxy } from '../../harness/dropping-proxy.js';
import { leaks } from '../cli/run-cli.js';
import { APPS, DUMP_RUN_STEPS, restoredFacts, startRestoreEnv, type RestoreEnv } from '../runbook/restore-env.js';
import { deadPort, startFleet, type Agent, type Fleet } from './agents.js';
import { RESTORECTL, restorectl } from './restorectl-cli.js';

/** The flightctl.restore collection, found as a collection from its directory (deploy/ansible). */
const COLLECTIONS = path.resolve(import.meta.dirname, '../../../deploy/ansible');
const PLAYBOOK = path.join(COLLECTIONS, 'ansible_collections/flightctl/restore/playbooks/restore.yml');
const ANSIBLE = { ...ANSIBLE_ENV, ANSIBLE_COLLECTIONS_PATH: COLLECTIONS };

interface HostDoc {
  host: string;
  batch: number;
  result: string;
  runId: string | null;
  phase: string | null;
  changedSteps: string[];
  downtimeMs: number | null;
  error: { code: string; message: string } | null;
}

describe('fleet client on the sandbox Quadlets host', () => {
  let env: RestoreEnv;
  let fleet: Fleet;
  let real: Agent;
  let broken: Agent;
  let checker: Agent;
  let nohost: Agent;
  let proxy: DroppingProxy;
  let down: number;
  const printed: string[] = [];
  const tokenEnv = () => ({ FLIGHTCTL_RESTORE_TOKEN: fleet.token });
  const ctl = async (args: string[]) => {
    const r = await restorectl(args, tokenEnv());
    printed.push(r.all);
    return r;
  };
  const inventory = (name: string, text: string) => {
    const f = path.join(fleet.dir, name);
    writeFileSync(f, text);
    return f;
  };

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 400 });
    fleet = await startFleet();
    [real, broken, checker, nohost] = await Promise.all([
      fleet.start('fc-real', { sandbox: env }),
      fleet.start('fc-broken', { sandbox: env, listen: ['https'] }),
      fleet.start('fc-check', { sandbox: env, listen: ['unix'] }),
      fleet.start('fc-nohost'),
    ]);
    for (const a of [real, checker]) copyFileSync(env.dumps.plain, path.join(a.importDir, 'backup.sql'));
    // Valid header and schema, then a statement PostgreSQL refuses half-way through the data.
    const text = readFileSync(env.dumps.plain, 'utf8');
    const at = text.indexOf('COPY ');
    writeFileSync(path.join(broken.importDir, 'backup.sql'), `${text.slice(0, at)}INSERT INTO no_such_table VALUES (1);\n${text.slice(at)}`);
    writeFileSync(path.join(nohost.importDir, 'backup.sql'), text.slice(0, at));
    proxy = await startDroppingProxy({ host: '127.0.0.1', port: Number(real.url.split(':').at(-1)) }, { drops: 2, afterLines: 30 });
    down = await deadPort();
  });
  afterAll(async () => {
    await proxy?.close();
    if (fleet) printed.push(await fleet.stopAll());
    await env?.stop();
  });

  it('a fleet restore: a canary that really restores (followed through two dropped streams), then a dump failing mid-run, a host not there and one down', async () => {
    await env.reset();
    const inv = inventory(
      'fleet.yml',
      [
        'all:',
        '  vars: {restore_dump: backup.sql}',
        '  children:',
        '    canary:',
        `      hosts: {fc-real: {restore_agent_url: "${proxy.url}"}}`,
        '    rest:',
        '      hosts:',
        `        fc-broken: {restore_agent_url: "${broken.url}", restore_agent_ca_file: "${fleet.ca.caFile}"}`,
        `        fc-nohost: {restore_agent_url: "${nohost.url}"}`,
        `        fc-down: {restore_agent_url: "http://127.0.0.1:${down}"}`,
      ].join('\n'),
    );
    const r = await ctl(['restore', '-i', inv, '--serial', '1', '--serial', '100%', '--forks', '3']);
    expect(r.code, r.stderr).toBe(32);
    const doc = JSON.parse(r.stdout) as { hosts: HostDoc[] };
    const by = Object.fromEntries(doc.hosts.map((h) => [h.host, h]));
    expect(by['fc-real']).toMatchObject({ batch: 1, result: 'succeeded', phase: 'Succeeded', error: null });
    expect(by['fc-real']!.changedSteps).toEqual(
      expect.arrayContaining(['load-dump', 'prepare-database', 'stop-services', 'swap-database', 'prepare-kv', 'start-services']),
    );
    expect(by['fc-real']!.downtimeMs).toBeGreaterThan(0);
    expect(by['fc-broken']).toMatchObject({
      batch: 2,
      result: 'failed',
      phase: 'Failed',
      error: { code: 'RESTORE_ERR_DUMP_INVALID', message: expect.stringMatching(/no_such_table/) },
    });
    expect(by['fc-nohost']).toMatchObject({ batch: 2, result: 'failed', error: { code: 'RESTORE_ERR_DBUS_UNREACHABLE' } });
    expect(by['fc-down']).toMatchObject({ batch: 2, result: 'unreachable', runId: null, error: { code: 'RESTORE_ERR_AGENT_UNREACHABLE' } });

    // The restore really happened on the host: later changes gone, every device marked, apps up.
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
    const snap = await env.snapshot();
    for (const a of APPS) expect(snap.apps[a]).not.toBe('');
    // The broken dump failed in the middle of the run (after preflight and version-check), before anything stopped.
    const brokenRun = JSON.parse((await ctl(['status', by['fc-broken']!.runId!, '--host', broken.url, '--ca-file', fleet.ca.caFile, '-o', 'json'])).stdout) as {
      hosts: Array<{ run: { steps: Array<{ name: string; status: string }>; startedAt: string } }>;
    };
    expect(brokenRun.hosts[0]!.run.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['preflight:ok', 'version-check:ok', 'load-dump:failed']);
    // Batch 2 started only after the canary finished.
    const realRun = JSON.parse((await ctl(['status', by['fc-real']!.runId!, '--host', real.url, '-o', 'json'])).stdout) as {
      hosts: Array<{ run: { finishedAt: string } }>;
    };
    expect(Date.parse(brokenRun.hosts[0]!.run.startedAt)).toBeGreaterThanOrEqual(Date.parse(realRun.hosts[0]!.run.finishedAt));

    // The canary's event stream was cut twice mid-line; each step was still reported exactly once.
    expect(proxy.dropped()).toBe(2);
    expect(r.stderr).toMatch(/fc-real event stream lost .*reconnecting, attempt 1/);
    for (const step of DUMP_RUN_STEPS) expect(r.stderr.match(new RegExp(` fc-real ${step} (ok|changed) `, 'g')), step).toHaveLength(1);
    const resumedFrom = proxy.eventRequests.slice(1).map((h) => Number(/last-event-id: (\d+)/i.exec(h)?.[1]));
    expect(resumedFrom.every((n) => n > 0)).toBe(true);
  });

  it('check runs on two agents of the host in batches of one (--serial 1), then devices, services and resume over the fleet', async () => {
    const inv = inventory(
      'checks.ini',
      [`fc-real restore_agent_url=${real.url}`, `fc-check restore_agent_url=${checker.url}`, '[all:vars]', 'restore_dump=backup.sql'].join('\n'),
    );
    const r = await ctl(['restore', '-i', inv, '--check', '--serial', '1']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { hosts: HostDoc[]; ok: boolean };
    expect(doc.ok).toBe(true);
    expect(doc.hosts.map((h) => [h.host, h.batch, h.result, h.phase])).toEqual([
      ['fc-real', 1, 'succeeded', 'Succeeded'],
      ['fc-check', 2, 'succeeded', 'Succeeded'],
    ]);
    expect(doc.hosts[0]!.changedSteps).toContain('load-dump');

    const summary = JSON.parse((await ctl(['devices', 'summary', '-i', inv, '-o', 'json'])).stdout) as {
      hosts: Array<{ summary: { total: number; byStatus: Record<string, number> } }>;
    };
    expect(summary.hosts[0]!.summary.byStatus.AwaitingReconnect).toBeGreaterThan(0);
    expect(summary.hosts[1]!.summary).toEqual(summary.hosts[0]!.summary);
    const list = await ctl(['devices', 'list', '-i', inv, '--field-selector', 'status.summary.status=AwaitingReconnect', '--max-devices', '3', '-o', 'text']);
    expect(list.code).toBe(0);
    expect(
      list.stdout
        .trim()
        .split('\n')
        .filter((l) => /AwaitingReconnect/.test(l)),
    ).toHaveLength(6);
    const services = JSON.parse((await ctl(['services', '--host', real.url, '-o', 'json'])).stdout) as {
      hosts: Array<{ services: Array<{ unit: string; active: boolean }> }>;
    };
    expect(services.hosts[0]!.services.filter((s) => s.active).map((s) => s.unit)).toEqual(expect.arrayContaining(APPS.map((a) => `${a}.service`)));
    const resumed = await ctl(['resume', '--all', '--yes', '--host', checker.url, '-o', 'json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ hosts: [{ ok: true, resumedDevices: expect.any(Number) }] });
  });

  it('one host on a terminal (a pty): step lines above a live bar, then the summary', async () => {
    const cmd = `${process.execPath} ${RESTORECTL} restore --check --wait --dump backup.sql --host ${real.url}`;
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile('script', ['-qec', cmd, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...tokenEnv() } }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, text: stdout }),
      );
    });
    printed.push(out.text);
    expect(out.code).toBe(0);
    expect(out.text).toContain('\x1b[?25l');
    for (const step of ['preflight', 'version-check', 'load-dump', 'stop-services', 'drop-old-database'])
      expect(out.text).toMatch(new RegExp(`(ok|changed)\\s+${step}\\s+\\d`));
    expect(out.text).toMatch(/127\.0\.0\.1:\d+ \[█{24}\] check succeeded in /);
    expect(out.text).toMatch(/1 host: 1 succeeded/);
  });

  const playbook = (inv: string, extra: string[] = []) =>
    new Promise<{ code: number; out: string }>((resolve) => {
      execFile('ansible-playbook', ['-i', inv, PLAYBOOK, ...extra], { env: { ...ANSIBLE, ...tokenEnv() }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });

  it('the Ansible example playbook, run as is with ansible-playbook against real agents: start, poll, summary, failed hosts fail', async () => {
    await env.reset();
    // fc-real here is the host's HTTPS agent (restore_agent_ca_file verifies it), fc-nohost an
    // agent on a Unix socket (the uri module's unix_socket), fc-down nothing at all.
    const sock = await fleet.start('fc-nohost-sock', { listen: ['unix'] });
    copyFileSync(env.dumps.plain, path.join(broken.importDir, 'good.sql'));
    copyFileSync(path.join(nohost.importDir, 'backup.sql'), path.join(sock.importDir, 'backup.sql'));
    const inv = inventory(
      'ansible.yml',
      [
        'all:',
        '  vars: {restore_dump: backup.sql, restore_poll_delay: 1}',
        '  hosts:',
        `    fc-real: {restore_agent_url: "${broken.url}", restore_agent_ca_file: "${fleet.ca.caFile}", restore_dump: good.sql}`,
        `    fc-nohost: {restore_agent_url: "${sock.url}"}`,
        `    fc-down: {restore_agent_url: "http://127.0.0.1:${down}"}`,
      ].join('\n'),
    );
    const r = await playbook(inv);
    printed.push(r.out);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(/fc-real\s+Succeeded\s+\d{8}T\d{6}Z-\w+\s+changed \d+/);
    expect(r.out).toMatch(/fc-nohost\s+Failed\s+\S+\s+changed 0\s+RESTORE_ERR_DBUS_UNREACHABLE: /);
    expect(r.out).toMatch(/fc-down\s+NotStarted\s+-\s+changed 0\s+RESTORE_ERR_AGENT_UNREACHABLE: /);
    expect(r.out).toMatch(/fc-real\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
    expect(r.out).toMatch(/fc-nohost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1/);
    expect((await restoredFacts(env.sb)).unmarked).toEqual([]);
    const runs = JSON.parse((await ctl(['status', '--host', broken.url, '--ca-file', fleet.ca.caFile, '-o', 'json'])).stdout) as {
      hosts: Array<{ run: { phase: string; requestedBy: string } }>;
    };
    expect(runs.hosts[0]!.run).toMatchObject({ phase: 'Succeeded', requestedBy: 'api:fleet-operator@example' });
  });

  it("the role under ansible-playbook --check: each host makes the agent's check run and nothing changes", async () => {
    await env.reset();
    const before = await env.snapshot();
    const inv = inventory(
      'ansible-check.yml',
      ['all:', '  vars: {restore_dump: backup.sql, restore_poll_delay: 1}', '  hosts:', `    fc-real: {restore_agent_url: "${real.url}"}`].join('\n'),
    );
    const r = await playbook(inv, ['--check']);
    printed.push(r.out);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/fc-real\s+Succeeded\s+\d{8}T\d{6}Z-\w+\s+changed \d+/);
    const runs = JSON.parse((await ctl(['status', '--host', real.url, '-o', 'json'])).stdout) as { hosts: Array<{ run: { phase: string; check: boolean } }> };
    expect(runs.hosts[0]!.run).toMatchObject({ phase: 'Succeeded', check: true });
    expect(await env.snapshot()).toEqual(before);
  });

  it('the role in batches: serial 1 with no failure allowed stops after the first host that failed; the others never start', async () => {
    const inv = inventory(
      'ansible-serial.yml',
      [
        'all:',
        '  vars: {restore_dump: backup.sql, restore_poll_delay: 1}',
        '  hosts:',
        `    fc-down: {restore_agent_url: "http://127.0.0.1:${down}"}`,
        `    fc-real: {restore_agent_url: "${real.url}"}`,
      ].join('\n'),
    );
    const r = await playbook(inv, ['-e', 'flightctl_restore_serial=1', '-e', 'flightctl_restore_max_fail_percentage=0']);
    printed.push(r.out);
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toMatch(/fc-down\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1/);
    // The second batch never ran: fc-real has no task results at all.
    expect(r.out).not.toMatch(/fc-real\s+: ok=/);
  });

  it('nothing printed or journaled holds a secret, the token, or the word Flight Control treats as a leak', () => {
    const all = printed.join('\n');
    expect(all).not.toContain(fleet.token.split('.')[2]);
    expect(leaks(all, [...env.secrets, fleet.token])).toEqual([]);
  });
});
