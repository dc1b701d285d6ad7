import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PG_BIN_DIR } from '../../harness/pg-server.js';
import { fingerprint } from '../../harness/restore-scenario.js';
import type { Rule } from '../../harness/kube/rbac.js';
import { leaks, runAgent } from '../cli/run-cli.js';
import { servers } from '../context.js';
import { finishedRun } from '../runbook/restore-env.js';
import { startKubeEnv, type KubeEnv } from './kube-env.js';

const RESTORED = { 'flightctl-api': 3, 'flightctl-alertmanager-proxy': 1, 'flightctl-worker': 2, 'flightctl-periodic': 1, 'flightctl-alert-exporter': 0 };

/** Operators, stuck pods, refusals: whatever happens, every count comes back and the database is whole. */
describe('run --target kubernetes: interference and failures', () => {
  let env: KubeEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    env = await startKubeEnv({ devices: 300 });
  });
  beforeEach(async () => {
    await env.reset();
    env.api.beforeServe = undefined;
    env.api.rbac = undefined;
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function liveIsOriginal(): Promise<boolean> {
    const db = await env.live();
    try {
      return JSON.stringify(await fingerprint(db)) === JSON.stringify(env.mutated);
    } finally {
      await db.end();
    }
  }

  /** Nothing of the run is left and nothing of the database changed. */
  async function expectUntouched(): Promise<void> {
    expect(env.replicas()).toEqual(RESTORED);
    expect(Object.values(env.annotations()).filter(Boolean)).toEqual([]);
    expect(await env.databases()).toEqual([env.database]);
    expect(await liveIsOriginal()).toBe(true);
    expect(env.api.model.configmaps.has(`${env.ns.internal}/flightctl-restore-intent`)).toBe(false);
  }

  it('an operator who scales a deployment up during the run wins: the conditioned scale-back is refused (409), re-read, and left alone', async () => {
    let raced = false;
    env.api.beforeServe = (req, body) => {
      // Just before the agent scales flightctl-worker back, an operator scales it to 5.
      if (!raced && req.verb === 'update' && req.resource === 'deployments/scale' && req.name === 'flightctl-worker' && body?.spec?.replicas > 0) {
        raced = true;
        env.api.model.operatorScale(env.ns.internal, 'flightctl-worker', 5);
      }
    };
    const r = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(r.all);
    expect(r.code, r.stderr).toBe(0);
    expect(raced).toBe(true);
    const run = finishedRun(r.stdout);
    expect(run.phase).toBe('Succeeded');
    expect(env.replicas()).toEqual({ ...RESTORED, 'flightctl-worker': 5 });
    expect(Object.values(env.annotations()).filter(Boolean)).toEqual([]);
    expect(env.api.requests.some((q) => q.name === 'flightctl-worker' && q.resource === 'deployments/scale' && q.status === 409)).toBe(true);
    const start = run.steps.find((s) => s.name === 'start-services') as { warnings?: string[] } | undefined;
    expect(start?.warnings?.join('\n')).toContain('someone scaled it to 5 during the restore: left at 5 (it had 2)');
  });

  it('pods that never go away hit the bounded wait: RESTORE_ERR_SCALE_TIMEOUT naming them, nothing swapped, every deployment scaled back', async () => {
    env.api.model.timing.set(`${env.ns.internal}/flightctl-worker`, { terminateDelayMs: Number.POSITIVE_INFINITY });
    const t0 = Date.now();
    const r = await env.agent('run', ['--dump', env.dump, '--json'], { FLIGHTCTL_RESTORE_SCALE_TIMEOUT_MS: '1500' });
    printed.push(r.all);
    expect(r.code).toBe(38);
    expect(Date.now() - t0).toBeLessThan(30_000);
    const run = finishedRun(r.stdout);
    expect(run.error?.code).toBe('RESTORE_ERR_SCALE_TIMEOUT');
    expect(run.error?.message).toMatch(
      /could not stop flightctl-worker \(2 of its pods still there 2 s after scaling to 0: flightctl-worker-[0-9a-f]+ \(terminating\)/,
    );
    expect(r.stderr).toContain('what to do:');
    expect(run.steps.map((s) => s.name)).not.toContain('swap-database');
    expect(run.finalizers.join('\n')).toMatch(/started flightctl-api/);
    await expectUntouched();
  });

  it('a permission the Roles lack (403) fails the stop with RESTORE_ERR_KUBE_FORBIDDEN; what was recorded is scaled back', async () => {
    const all: Rule[] = [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }];
    const noScale: Rule[] = [
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['list'] },
    ];
    env.api.rbac = new Map([
      [env.ns.internal, all],
      [env.ns.external, noScale],
    ]);
    const r = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(r.all);
    expect(r.code).toBe(37);
    const run = finishedRun(r.stdout);
    expect(run.error?.code).toBe('RESTORE_ERR_KUBE_FORBIDDEN');
    expect(run.error?.message).toContain('update deployments/scale flightctl-api in namespace flightctl-external');
    await expectUntouched();
  });

  it('a missing Secret is refused in preflight (exit 13) before anything is written', async () => {
    env.api.model.secrets.delete(`${env.ns.internal}/flightctl-kv-secret`);
    const r = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(r.all);
    expect(r.code).toBe(13);
    expect(finishedRun(r.stdout).error?.message).toBe('the Secret flightctl-kv-secret does not exist in namespace flightctl-internal');
    expect(env.api.requests.filter((q) => q.resource.startsWith('deployments') && q.verb !== 'get')).toEqual([]);
    await expectUntouched();
  });

  it('a namespace without flightctl-api is not Flight Control (exit 23)', async () => {
    const r = await env.agent('run', ['--dump', env.dump, '--json', '--namespace', 'elsewhere']);
    printed.push(r.all);
    expect(r.code).toBe(23);
    expect(finishedRun(r.stdout).error?.code).toBe('RESTORE_ERR_DEPLOYMENT_MISSING');
    await expectUntouched();
  });

  it('a custom-format dump is refused in preflight (exit 20) with how to convert it; an archive is refused at once (exit 2)', async () => {
    const s = servers();
    const custom = path.join(env.dir, 'backup.dump');
    execFileSync(`${PG_BIN_DIR}/pg_dump`, ['-Fc', '-h', s.pg.host, '-p', String(s.pg.port), '-U', 'postgres', '-d', env.database, '-f', custom], {
      env: { PGPASSWORD: s.pg.adminPassword },
      stdio: 'pipe',
    });
    const r = await env.agent('run', ['--dump', custom, '--json']);
    printed.push(r.all);
    expect(r.code).toBe(20);
    const run = finishedRun(r.stdout);
    expect(run.error?.code).toBe('RESTORE_ERR_DUMP_UNSUPPORTED');
    expect(run.error?.message).toContain(`pg_restore -f ${custom.replace(/\.dump$/, '')}.sql ${custom}`);
    const a = await env.agent('run', ['--archive', custom]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('archive restores are not supported on Kubernetes');
    await expectUntouched();
  });

  it('a dump that fails to load is refused with its line; the temporary database is dropped and nothing was scaled', async () => {
    const broken = path.join(env.dir, 'broken.sql');
    const text = readFileSync(env.dump, 'utf8');
    const at = text.indexOf('COPY public.devices');
    writeFileSync(broken, `${text.slice(0, at)}SELECT no_such_function();\n${text.slice(at)}`);
    const r = await env.agent('run', ['--dump', broken, '--json']);
    printed.push(r.all);
    expect(r.code).toBe(20);
    const run = finishedRun(r.stdout);
    expect(run.error?.code).toBe('RESTORE_ERR_DUMP_INVALID');
    expect(run.error?.message).toMatch(/42883 function no_such_function\(\) does not exist \(line \d+ of broken\.sql\)/);
    expect(env.api.requests.filter((q) => q.resource.startsWith('deployments') && q.verb !== 'get')).toEqual([]);
    await expectUntouched();
  });

  it('the API server is verified: a wrong token or another CA is RESTORE_ERR_KUBE_UNREACHABLE (exit 37), nothing written', async () => {
    const badToken = env.api.writeKubeconfig(path.join(env.dir, 'kubeconfig-token'), 'not-the-token');
    const r1 = await env.agent('run', ['--dump', env.dump, '--json', '--kubeconfig', badToken]);
    printed.push(r1.all);
    expect(r1.code).toBe(37);
    expect(r1.stdout).toContain('refused the credentials (401)');
    const otherCa = path.join(env.dir, 'kubeconfig-ca');
    const ssl = execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-days', '1', '-subj', '/CN=another CA'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ).toString();
    writeFileSync(
      otherCa,
      readFileSync(env.kubeconfig, 'utf8').replace(/certificate-authority-data: \S+/, `certificate-authority-data: ${Buffer.from(ssl).toString('base64')}`),
    );
    const r2 = await env.agent('run', ['--dump', env.dump, '--json', '--kubeconfig', otherCa]);
    printed.push(r2.all);
    expect(r2.code).toBe(37);
    expect(r2.stdout).toMatch(/RESTORE_ERR_KUBE_UNREACHABLE.*cannot be reached/);
    expect(env.api.requests.filter((q) => q.status !== 401)).toEqual([]);
    await expectUntouched();
  });

  it('without a kubeconfig (and not in a cluster) it says how to give one, rather than trying localhost:8080', async () => {
    const r = await runAgent(['run', '--target', 'kubernetes', '--check'], { HOME: env.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'RESTORE_ERR_CONFIG_INVALID: no kubeconfig: give --kubeconfig (kubernetes.kubeconfig), set KUBECONFIG, or run inside the cluster as a Job',
    );
  });

  it('nothing printed or stored in the cluster holds a secret', () => {
    for (const text of printed) expect(leaks(text, env.secrets)).toEqual([]);
    expect(leaks(env.clusterText(), env.secrets)).toEqual([]);
  });
});
