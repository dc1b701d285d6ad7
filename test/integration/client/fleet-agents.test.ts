/**
 * flightctl-restorectl against real agents (serve from the built binary) on loopback HTTP, a
 * Unix socket and HTTPS with a CA of the test's own, on hosts that are not there: every restore
 * there is a real run that fails in its first step. What needs a host that is there (runs that
 * succeed, a dump that fails to load, a live run followed through a dropped connection) is in
 * fleet-sandbox.test.ts.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, type JsonWebKey as CryptoJwk } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDroppingProxy } from '../../harness/dropping-proxy.js';
import { generateTestKey, mintToken } from '../../harness/tokens.js';
import { leaks } from '../cli/run-cli.js';
import { AUD, deadPort, ISS, startFleet, type Agent, type Fleet } from './agents.js';
import { RESTORECTL, restorectl, spawnRestorectl } from './restorectl-cli.js';

const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ /;

interface FleetDoc {
  hosts: Array<{
    host: string;
    result: string;
    runId: string | null;
    phase: string | null;
    error: { code: string; message: string } | null;
    reason: string | null;
    batch: number;
  }>;
  summary: Record<string, number>;
  ok: boolean;
  stopped: string | null;
  interrupted: boolean;
}

describe('fleet client against real agents (hosts that are not there)', () => {
  let fleet: Fleet;
  let bad: Agent[];
  let sock: Agent;
  let tls: Agent;
  let down: number;
  const printed: string[] = [];

  const ctl = async (args: string[], env: Record<string, string> = { FLIGHTCTL_RESTORE_TOKEN: fleet.token }) => {
    const r = await restorectl(args, env);
    printed.push(r.all);
    return r;
  };
  const runsOn = async (a: Agent) => {
    const r = await ctl(['status', '--host', a.url, '--ca-file', fleet.ca.caFile, '-o', 'json']);
    return (JSON.parse(r.stdout) as { hosts: Array<{ run: { id: string; phase: string } | null }> }).hosts[0]!.run;
  };
  const inventory = (name: string, lines: string[]) => {
    const f = path.join(fleet.dir, name);
    writeFileSync(f, `${lines.join('\n')}\n`);
    return f;
  };
  const line = (a: Agent, extra = '') => `${a.name} restore_agent_url=${a.url}${extra}`;

  beforeAll(async () => {
    fleet = await startFleet();
    const started = await Promise.all([
      fleet.start('bad1'),
      fleet.start('bad2'),
      fleet.start('bad3'),
      fleet.start('sock', { listen: ['unix'] }),
      fleet.start('tls', { listen: ['https'] }),
    ]);
    bad = started.slice(0, 3);
    [sock, tls] = started.slice(3) as [Agent, Agent];
    down = await deadPort();
  });
  afterAll(async () => {
    if (fleet) printed.push(await fleet.stopAll());
  });

  it('a fleet over HTTP, a Unix socket and HTTPS, one host down: each result, timestamped lines off a terminal, one JSON document, exit 32', async () => {
    const inv = inventory('fleet.ini', [
      '[fc]',
      line(bad[0]!),
      line(sock),
      line(tls, ` restore_agent_ca_file=${fleet.ca.caFile}`),
      `down restore_agent_url=http://127.0.0.1:${down}`,
      '[fc:vars]',
      'restore_dump=backup.sql',
    ]);
    for (const a of [bad[0]!, sock, tls]) writeFileSync(path.join(a.importDir, 'backup.sql'), '--\n-- PostgreSQL database dump\n--\n');
    const r = await ctl(['restore', '-i', inv, '--forks', '2']);
    expect(r.code).toBe(32);
    const doc = JSON.parse(r.stdout) as FleetDoc;
    expect(doc.hosts.map((h) => [h.host, h.result, h.phase, h.error?.code])).toEqual([
      ['bad1', 'failed', 'Failed', 'RESTORE_ERR_DBUS_UNREACHABLE'],
      ['sock', 'failed', 'Failed', 'RESTORE_ERR_DBUS_UNREACHABLE'],
      ['tls', 'failed', 'Failed', 'RESTORE_ERR_DBUS_UNREACHABLE'],
      ['down', 'unreachable', null, 'RESTORE_ERR_AGENT_UNREACHABLE'],
    ]);
    expect(doc.hosts.find((h) => h.host === 'down')!.error!.message).toMatch(/nothing listens at http:\/\/127\.0\.0\.1:\d+ \(connection refused\)/);
    expect(doc.summary).toMatchObject({ total: 4, failed: 3, unreachable: 1, succeeded: 0 });
    // The run each agent recorded is the one the summary names, with the dump from the inventory.
    for (const a of [bad[0]!, sock, tls]) {
      const run = await runsOn(a);
      expect(run).toMatchObject({
        id: doc.hosts.find((h) => h.host === a.name)!.runId,
        phase: 'Failed',
        options: { dump: expect.stringMatching(/backup\.sql$/) },
      });
    }
    const lines = r.stderr.trim().split('\n');
    expect(
      lines.slice(0, -2).every((l) => STAMPED.test(l)),
      r.stderr,
    ).toBe(true);
    expect(r.stderr).toMatch(/ bad1 preflight failed .*D-Bus/);
    expect(r.stderr).not.toContain('\x1b[');
    expect(lines.at(-2)).toMatch(/^error RESTORE_ERR_FLEET_INCOMPLETE: 4 of 4 hosts did not succeed: bad1 failed \(RESTORE_ERR_DBUS_UNREACHABLE\)/);
  });

  it('--max-fail 2: once two hosts failed no more start; the others are skipped and never contacted', async () => {
    const before = await Promise.all([bad[2]!, sock].map(runsOn));
    const inv = inventory('maxfail.ini', ['[fc]', ...bad.map((a) => line(a)), line(sock)]);
    const r = await ctl(['restore', '-i', inv, '--forks', '1', '--max-fail', '2', '--check']);
    expect(r.code).toBe(32);
    const doc = JSON.parse(r.stdout) as FleetDoc;
    expect(doc.hosts.map((h) => [h.host, h.result, h.reason])).toEqual([
      ['bad1', 'failed', null],
      ['bad2', 'failed', null],
      ['bad3', 'skipped', '2 hosts failed (--max-fail 2)'],
      ['sock', 'skipped', '2 hosts failed (--max-fail 2)'],
    ]);
    expect(doc.stopped).toBe('2 hosts failed (--max-fail 2)');
    expect(await Promise.all([bad[2]!, sock].map(runsOn))).toEqual(before);
  });

  it('--serial 1 --serial 100%: a failed canary stops the next batches, as a serial Ansible play does', async () => {
    const before = await Promise.all([bad[2]!, tls].map(runsOn));
    const inv = inventory('serial.yml', [
      'all:',
      '  children:',
      '    fc:',
      '      hosts:',
      ...[bad[1]!, bad[2]!].map((a) => `        ${a.name}: {restore_agent_url: "${a.url}"}`),
      `        tls: {restore_agent_url: "${tls.url}", restore_agent_ca_file: "${fleet.ca.caFile}"}`,
    ]);
    const r = await ctl(['restore', '-i', inv, '--serial', '1', '--serial', '100%', '--check']);
    const doc = JSON.parse(r.stdout) as FleetDoc;
    expect(doc.hosts.map((h) => [h.host, h.batch, h.result])).toEqual([
      ['bad2', 1, 'failed'],
      ['bad3', 2, 'skipped'],
      ['tls', 2, 'skipped'],
    ]);
    expect(doc.stopped).toBe('every host of batch 1 failed');
    expect(await Promise.all([bad[2]!, tls].map(runsOn))).toEqual(before);
    expect(r.code).toBe(32);
  });

  it('a wrong token, a missing token, a missing scope: refused with their codes, and the token is never printed', async () => {
    const other = await generateTestKey('ec', fleet.key.kid);
    const stranger = await mintToken({ key: other, iss: ISS, aud: AUD, sub: 'mallory', scope: 'restore:read restore:run' });
    const wrong = await ctl(['restore', '--host', bad[0]!.url, '--check', '-o', 'json'], { FLIGHTCTL_RESTORE_TOKEN: stranger });
    expect(wrong.code).toBe(25);
    expect(JSON.parse(wrong.stdout)).toMatchObject({
      hosts: [
        {
          result: 'failed',
          error: { code: 'RESTORE_ERR_UNAUTHENTICATED', message: expect.stringMatching(/missing or invalid bearer token: check the token/) },
        },
      ],
    });
    expect(wrong.stderr).toMatch(/error RESTORE_ERR_UNAUTHENTICATED: /);
    expect(wrong.all).not.toContain(stranger.split('.')[2]);

    const none = await ctl(['status', '--host', bad[0]!.url], {});
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/RESTORE_ERR_SECRET_MISSING: no token for .*--token-file FILE or set FLIGHTCTL_RESTORE_TOKEN/);

    const readOnly = await mintToken({ key: fleet.key, iss: ISS, aud: AUD, sub: 'viewer', scope: 'restore:read' });
    const forbidden = await ctl(['restore', '--host', bad[0]!.url, '--check', '-o', 'json'], { FLIGHTCTL_RESTORE_TOKEN: readOnly });
    expect(forbidden.code).toBe(25);
    expect(forbidden.stdout).toContain('RESTORE_ERR_FORBIDDEN');

    const fromFile = await ctl(['status', '--host', bad[0]!.url, '--token-file', fleet.tokenFile, '-o', 'json'], {});
    expect(fromFile.code).toBe(0);
    // A host's own token file (inventory) wins over the token every other host gets.
    const perHost = inventory('tokens.ini', [line(bad[0]!, ` restore_agent_token_file=${path.basename(fleet.tokenFile)}`), line(bad[1]!)]);
    const mixed = await ctl(['status', '-i', perHost, '-o', 'json'], { FLIGHTCTL_RESTORE_TOKEN: stranger });
    expect(mixed.code).toBe(32);
    expect(JSON.parse(mixed.stdout)).toMatchObject({
      hosts: [
        { host: 'bad1', ok: true },
        { host: 'bad2', ok: false, error: { code: 'RESTORE_ERR_UNAUTHENTICATED' } },
      ],
    });
    // token mint (the operator's way to make one) with --output json, used as is.
    const keyFile = path.join(fleet.dir, 'signer.pem');
    writeFileSync(keyFile, createPrivateKey({ key: fleet.key.privateJwk as CryptoJwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    const minted = await ctl(
      ['token', 'mint', '--key', keyFile, '--issuer', ISS, '--audience', AUD, '--scope', 'restore:read', '--ttl', '5m', '-o', 'json'],
      {},
    );
    expect(minted.code).toBe(0);
    const { token: mintedToken, expiresAt } = JSON.parse(minted.stdout) as { token: string; expiresAt: string };
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(200_000);
    expect((await restorectl(['status', '--host', bad[0]!.url], { FLIGHTCTL_RESTORE_TOKEN: mintedToken })).code).toBe(0);
    const garbage = path.join(fleet.dir, 'not-a-token');
    writeFileSync(garbage, 'hello\n');
    const bad2 = await ctl(['status', '--host', bad[0]!.url, '--token-file', garbage], {});
    expect(bad2.code).toBe(3);
    expect(bad2.stderr).toMatch(/does not hold a JWT/);
  });

  it('TLS is always verified: without the CA the agent is refused (even with NODE_TLS_REJECT_UNAUTHORIZED=0), with --ca-file it answers', async () => {
    const env = { FLIGHTCTL_RESTORE_TOKEN: fleet.token, NODE_TLS_REJECT_UNAUTHORIZED: '0' };
    const refused = await ctl(['status', '--host', tls.url, '-o', 'json'], env);
    expect(refused.code).toBe(31);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      hosts: [
        {
          ok: false,
          error: {
            code: 'RESTORE_ERR_AGENT_UNREACHABLE',
            message: expect.stringMatching(/TLS certificate cannot be verified \(\w+\); give the CA bundle .* --ca-file/),
          },
        },
      ],
    });
    const ok = await ctl(['status', '--host', tls.url, '--ca-file', fleet.ca.caFile, '-o', 'json'], env);
    expect(ok.code).toBe(0);
    const plainToTls = await ctl(['status', '--host', `https://127.0.0.1:${bad[0]!.url.split(':').at(-1)}`, '--ca-file', fleet.ca.caFile]);
    expect(plainToTls.code).toBe(31);
    expect(plainToTls.stderr).toMatch(/TLS handshake .* failed/);
    const offLoopback = await ctl(['status', '--host', 'http://192.0.2.10:8080']);
    expect(offLoopback.code).toBe(2);
    expect(offLoopback.stderr).toMatch(/plain http only to loopback/);
  });

  it('events: a stream dropped mid-line is resumed with Last-Event-ID; each event printed once', async () => {
    const run = await runsOn(bad[0]!);
    const port = Number(bad[0]!.url.split(':').at(-1));
    const direct = await ctl(['events', run!.id, '--host', bad[0]!.url, '-o', 'json']);
    const all = direct.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string });
    expect(all.at(-1)!.type).toBe('run-finished');
    const proxy = await startDroppingProxy({ host: '127.0.0.1', port }, { drops: 2, afterLines: 12 });
    try {
      const r = await ctl(['events', run!.id, '--host', proxy.url, '-o', 'json']);
      expect(proxy.dropped()).toBe(2);
      expect(r.stdout).toBe(direct.stdout);
      expect(r.code).toBe(direct.code);
      expect(r.code).toBe(9); // the run's own error: D-Bus unreachable
      expect(r.stderr).toMatch(/event stream lost .*; reconnecting after event \d+, attempt 1/);
      const ids = proxy.eventRequests.map((h) => /last-event-id: (\d+)/i.exec(h)?.[1]);
      expect(ids[0]).toBeUndefined();
      expect(Number(ids.at(-1))).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  });

  it('reads over the fleet: status, services, backups; an older agent without backups; resume refused before any call', async () => {
    const inv = inventory('reads.ini', ['[fc]', ...bad.map((a) => line(a)), line(sock)]);
    const status = await ctl(['status', '-i', inv, '-o', 'text']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^HOST\s+RUN\s+PHASE\s+CHECK\s+STARTED\s+DURATION\s+CHANGED\s+ERROR\n/);
    expect(status.stdout).toMatch(/\nbad1\s+\d{8}T\d{6}Z-\w+\s+Failed\s+(yes|no)\s/);
    const services = await ctl(['services', '-i', inv, '-o', 'json']);
    expect(services.code).toBe(32);
    expect(JSON.parse(services.stdout)).toMatchObject({
      hosts: [...bad, sock].map((a) => ({ host: a.name, ok: false, error: { code: 'RESTORE_ERR_DBUS_UNREACHABLE' } })),
    });
    const one = await ctl(['services', '--host', bad[0]!.url]);
    expect(one.code).toBe(9);

    mkdirSync(path.join(bad[0]!.stateDir, 'backups'), { recursive: true });
    writeFileSync(path.join(bad[0]!.stateDir, 'backups', 'flightctl-backup-20261127T000000Z.tar.gz'), 'x'.repeat(2048));
    const backups = await ctl(['backups', '--host', `east=${bad[0]!.url}`, '-o', 'text']);
    expect(backups.code).toBe(0);
    expect(backups.stdout).toMatch(/^HOST\s+ARCHIVE\s+SIZE\s+CREATED\neast\s+flightctl-backup-20261127T000000Z\.tar\.gz\s+2\.0 KiB\s/);
    // An agent from before the backup endpoint answers its catch-all 404, and one from before
    // archives refuses the field as unknown (served here as they did).
    const old = http.createServer((req, res) => {
      const refuse = (status: number, code: string, detail: string) => {
        res.writeHead(status, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: `urn:flightctl-restore-agent:error:${code}`, title: 'refused', status, code, detail, hint: '' }));
      };
      if (req.method === 'POST' && req.url === '/v1/restores') refuse(400, 'RESTORE_ERR_REQUEST_INVALID', 'invalid restore request: unknown field archive');
      else refuse(404, 'RESTORE_ERR_NOT_FOUND', `no endpoint ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => old.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(old.address() as { port: number }).port}`;
      for (const args of [['backups'], ['backups', 'create']]) {
        const r = await ctl([...args, '--host', `old=${url}`, '-o', 'json']);
        expect(r.code).toBe(27);
        expect(JSON.parse(r.stdout)).toMatchObject({
          hosts: [
            {
              host: 'old',
              error: {
                code: 'RESTORE_ERR_NOT_FOUND',
                message: expect.stringMatching(/old: this agent does not support backups \((GET|POST) \/v1\/backups answered 404/),
              },
            },
          ],
        });
      }
      const oldArchive = await ctl(['restore', '--archive', 'flightctl-backup-20261127T000000Z.tar.gz', '--host', `old=${url}`, '-o', 'json']);
      expect(JSON.parse(oldArchive.stdout)).toMatchObject({
        hosts: [
          {
            error: {
              code: 'RESTORE_ERR_REQUEST_INVALID',
              message: 'old: this agent does not restore from archives (it refused the field archive); upgrade it, or restore a dump with --dump',
            },
          },
        ],
      });
      // A current agent's own refusal of the name is passed on as it is, naming where it looked.
      const missing = await ctl(['restore', '--archive', 'nope.tar.gz', '--host', `east=${bad[0]!.url}`, '-o', 'json']);
      expect(missing.code).toBe(2);
      expect(JSON.parse(missing.stdout)).toMatchObject({
        hosts: [
          {
            error: {
              code: 'RESTORE_ERR_REQUEST_INVALID',
              message: expect.stringMatching(
                /^east: archive "nope\.tar\.gz" does not exist in the import directory \(.*\) or the backup directory \(.*\); give the name/,
              ),
            },
          },
        ],
      });
    } finally {
      old.close();
    }

    // Refused before any agent is contacted, even before the token is looked for.
    const all = await ctl(['resume', '--all', '-i', inv], {});
    expect(all.code).toBe(2);
    expect(all.stderr).toMatch(/--all resumes every ConflictPaused device .* add --yes/);
    const sel = await ctl(['resume', '--selector', 'env in (a', '-i', inv], {});
    expect(sel.code).toBe(2);
    expect(sel.stderr).toMatch(/RESTORE_ERR_SELECTOR_INVALID/);
    const mixed = await ctl(['restore', '--host', bad[0]!.url, '-i', inv]);
    expect(mixed.code).toBe(2);
  });

  it('Ctrl-C stops starting hosts and leaves the started restores running on their agents; a second Ctrl-C stops waiting (exit 130)', async () => {
    const hold = await Promise.all(
      ['hold1', 'hold2'].map((n) =>
        fleet.start(n, {
          env: { FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:preflight', FLIGHTCTL_RESTORE_TEST_FAULT_FILE: path.join(fleet.dir, `${n}.held`) },
        }),
      ),
    );
    const inv = inventory('hold.ini', ['[fc]', ...hold.map((a) => line(a)), line(bad[2]!)]);
    const before = await runsOn(bad[2]!);
    const ctlRun = spawnRestorectl(['restore', '-i', inv, '--forks', '2', '--check'], { FLIGHTCTL_RESTORE_TOKEN: fleet.token });
    await ctlRun.waitFor(/hold1 preflight started[\s\S]*hold2 preflight started|hold2 preflight started[\s\S]*hold1 preflight started/);
    await new Promise((r) => setTimeout(r, 300));
    expect(ctlRun.output()).not.toContain('bad3 starting'); // --forks 2: both slots are taken
    ctlRun.process.kill('SIGINT');
    await ctlRun.waitFor('Ctrl-C: no more hosts start. The restores already started keep running on their agents and finish safely there; waiting for them');
    await new Promise((r) => setTimeout(r, 300));
    expect(ctlRun.process.exitCode).toBeNull();
    ctlRun.process.kill('SIGINT');
    const r = await ctlRun.done;
    printed.push(r.all);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/Ctrl-C again: no longer waiting/);
    const doc = JSON.parse(r.stdout) as FleetDoc;
    expect(doc.interrupted).toBe(true);
    expect(doc.hosts.map((h) => [h.host, h.result])).toEqual([
      ['hold1', 'running'],
      ['hold2', 'running'],
      ['bad3', 'skipped'],
    ]);
    for (const [i, a] of hold.entries()) expect(await runsOn(a)).toMatchObject({ id: doc.hosts[i]!.runId, phase: 'Running' });
    expect(await runsOn(bad[2]!)).toEqual(before);
  });

  it('on a terminal (a pty): live lines with bars, step lines, a summary table; no JSON', async () => {
    const inv = inventory('pty.ini', ['[fc]', line(bad[0]!), line(sock), `down restore_agent_url=http://127.0.0.1:${down}`]);
    const cmd = `${process.execPath} ${RESTORECTL} restore -i ${inv} --check --forks 1`;
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile(
        'script',
        ['-qec', cmd, '/dev/null'],
        { env: { PATH: process.env.PATH ?? '', TERM: 'xterm', FLIGHTCTL_RESTORE_TOKEN: fleet.token } },
        (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout }),
      );
    });
    printed.push(r.out);
    expect(r.code).toBe(32);
    expect(r.out).toContain('\x1b[?25l'); // cli-progress hides the cursor while it draws
    expect(r.out).toMatch(/bad1\s+\[[█░]{24}\] FAILED RESTORE_ERR_DBUS_UNREACHABLE \(Failed\)/);
    expect(r.out).toMatch(/bad1: FAILED\s+preflight/);
    expect(r.out).toMatch(/HOST\s+RESULT\s+RUN\s+PHASE\s+CHANGED\s+DURATION\s+DOWNTIME\s+ERROR\r?\n/);
    expect(r.out).toMatch(/down\s+unreachable\s+-\s+-\s+-\s+\S+( \S+)?\s+-\s+RESTORE_ERR_AGENT_UNREACHABLE/);
    expect(r.out).toMatch(/3 hosts: 2 failed, 1 unreachable/);
    expect(r.out).not.toContain('{"');
  });

  it('nothing printed holds the token or key material', () => {
    const all = printed.join('\n');
    expect(all).not.toContain(fleet.token.split('.')[2]);
    expect(leaks(all, [fleet.token])).toEqual([]);
  });
});
