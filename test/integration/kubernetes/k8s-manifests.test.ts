import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigMap, PersistentVolumeClaim, ServiceAccount } from 'kubernetes-models/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { FLIGHTCTL_SECRETS } from '../../../src/targets/kubernetes/secrets.js';
import { grants, loadManifests, used, type Manifests } from '../../harness/kube/rbac.js';
import { leaks } from '../cli/run-cli.js';
import { finishedRun } from '../runbook/restore-env.js';
import { startKubeEnv, type KubeEnv } from './kube-env.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const DEPLOY = path.join(ROOT, 'deploy/kubernetes');
const FILES = ['serviceaccount.yaml', 'rbac.yaml', 'config.yaml', 'backups-pvc.yaml', 'job.yaml'].map((f) => path.join(DEPLOY, f));
const SA = { name: 'flightctl-restore-agent', namespace: 'flightctl-internal' };
const MODELS: Record<string, new (doc: any) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'batch/v1/Job': Job,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

describe('deploy/kubernetes: the shipped manifests', () => {
  const m: Manifests = loadManifests(FILES, SA);
  const job = m.docs.find((d) => d.kind === 'Job')!;
  const configMap = m.docs.find((d) => d.kind === 'ConfigMap')!;

  it('are valid Kubernetes objects (the Kubernetes schemas, offline, through kubernetes-models)', () => {
    expect(m.docs.map((d) => d.kind).sort()).toEqual([
      'ConfigMap',
      'Job',
      'PersistentVolumeClaim',
      'Role',
      'Role',
      'RoleBinding',
      'RoleBinding',
      'ServiceAccount',
    ]);
    for (const d of m.docs) {
      const Model = MODELS[`${d.apiVersion}/${d.kind}`];
      expect(Model, `${d.apiVersion} ${d.kind}`).toBeDefined();
      expect(() => new Model!(d).validate(), `${d.kind} ${d.metadata.name}`).not.toThrow();
    }
    // The validator does catch what is wrong.
    expect(() => new Job({ ...job, spec: { ...job.spec, backoffLimit: 'none' } }).validate()).toThrow(/backoffLimit must be integer/);
  });

  it('the Job: no retries, a deadline, non-root, read-only root, no capabilities, seccomp, time for its finalizers', () => {
    const pod = job.spec.template.spec;
    const c = pod.containers[0];
    expect(job.spec.backoffLimit).toBe(0);
    expect(job.spec.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(300);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.serviceAccountName).toBe(SA.name);
    expect(job.metadata.namespace).toBe(SA.namespace);
  });

  it('the Job, its configuration and the mounts agree: the config file, the Secrets where secretsDir says, the dump', () => {
    const c = job.spec.template.spec.containers[0];
    const mounts = Object.fromEntries(c.volumeMounts.map((v: any) => [v.name, v]));
    const volumes = Object.fromEntries(job.spec.template.spec.volumes.map((v: any) => [v.name, v]));
    const configPath = c.args[c.args.indexOf('--config') + 1];
    expect(path.dirname(configPath)).toBe(mounts.config.mountPath);
    expect(volumes.config.configMap.name).toBe(configMap.metadata.name);
    expect(Object.keys(configMap.data)).toEqual([path.basename(configPath)]);
    // The configuration is valid as the agent reads it, and aims at the namespaces the Roles are in.
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'fcra-cm-')), 'config.yaml');
    writeFileSync(file, configMap.data['config.yaml']);
    const config = loadConfig({ file });
    rmSync(path.dirname(file), { recursive: true, force: true });
    expect(config.target).toBe('kubernetes');
    expect(config.kubernetes.internalNamespace).toBe(job.metadata.namespace);
    expect([...m.rules.keys()].sort()).toEqual([config.kubernetes.namespace, config.kubernetes.internalNamespace].sort());
    for (const spec of Object.values(FLIGHTCTL_SECRETS)) {
      const mount = c.volumeMounts.find((v: any) => volumes[v.name]?.secret?.secretName === spec.name);
      expect(mount?.mountPath, spec.name).toBe(path.posix.join(config.kubernetes.secretsDir, spec.name));
      expect(mount.readOnly).toBe(true);
    }
    const dump = c.args[c.args.indexOf('--dump') + 1];
    expect(dump.startsWith(`${mounts.backups.mountPath}/`)).toBe(true);
    expect(volumes.backups.persistentVolumeClaim.claimName).toBe(m.docs.find((d) => d.kind === 'PersistentVolumeClaim')!.metadata.name);
  });

  it("the Containerfile: a Node runtime base, the bundle only, no shell in the final image, the Job's user", () => {
    const text = readFileSync(path.join(DEPLOY, 'Containerfile'), 'utf8');
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages).toHaveLength(2);
    const final = stages[1]!;
    expect(final).toMatch(/^\S*nodejs20\S*/);
    expect(final).not.toMatch(/^RUN /m);
    expect(final).toMatch(/^COPY --from=build \/out\/agent\.mjs \/out\/package\.json /m);
    expect(final).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node", "\/opt\/flightctl-restore-agent\/agent\.mjs"\]$/m);
    const user = /^USER (\d+):(\d+)$/m.exec(final);
    expect(Number(user?.[1])).toBe(job.spec.template.spec.securityContext.runAsUser);
    expect(stages[0]).toMatch(/node scripts\/bundle\.mjs \/out/);
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts/bundle.mjs', 'src/cli/agent.ts'])
      expect(existsSync(path.join(ROOT, f)), f).toBe(true);
  });
});

/**
 * Real runs with the Job's own configuration, its mounted Secrets and the image's bundle, against
 * a fake API server that enforces the shipped Roles: the runs succeed (nothing is missing), and
 * the rules the recorded requests needed are exactly the rules granted (nothing is extra).
 */
describe('deploy/kubernetes: the Roles are exactly what the agent uses', () => {
  const m = loadManifests(FILES, SA);
  const agentConfig = parse(m.docs.find((d) => d.kind === 'ConfigMap')!.data['config.yaml']) as Record<string, any>;
  const bundleDir = mkdtempSync(path.join(tmpdir(), 'fcra-image-'));
  let env: KubeEnv;
  const printed: string[] = [];

  beforeAll(async () => {
    // What the image holds: the bundle made by the Containerfile's build stage.
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/bundle.mjs'), bundleDir], { cwd: ROOT, stdio: 'pipe' });
    env = await startKubeEnv({
      devices: 300,
      external: agentConfig.kubernetes.namespace,
      internal: agentConfig.kubernetes.internalNamespace,
      mountedSecrets: true,
      imagebuilder: true,
      agentScript: path.join(bundleDir, 'agent.mjs'),
      // The test's own timings (the shipped lease is 30 s: a killed holder would be waited for that long).
      config: {
        ...agentConfig,
        kubernetes: { ...agentConfig.kubernetes, leaseDurationSec: 2, scaleTimeoutMs: 5000 },
        restore: { ...agentConfig.restore, keepRuns: 1 },
      },
    });
    // Every deployment the Roles name runs, so every name is used.
    env.api.model.operatorScale(env.ns.internal, 'flightctl-alert-exporter', 1);
    env.api.rbac = m.rules;
  }, 300_000);
  afterAll(async () => {
    await env?.stop();
    rmSync(bundleDir, { recursive: true, force: true });
  });

  it('a check run, a restore, a Job killed mid-run and recovered, and a restore that prunes the journal all succeed under the Roles', async () => {
    const check = await env.agent('run', ['--dump', env.dump, '--check']);
    printed.push(check.all);
    expect(check.code, check.all).toBe(0);
    const full = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(full.all);
    expect(full.code, full.all).toBe(0);
    expect(finishedRun(full.stdout).phase).toBe('Succeeded');

    const hold = path.join(env.dir, 'hold');
    const killed = env.spawn('run', ['--dump', env.dump, '--json'], {
      FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:after:stop-services',
      FLIGHTCTL_RESTORE_TEST_FAULT_FILE: hold,
    });
    onTestFinished(() => void (killed.process.exitCode === null && killed.process.kill('SIGKILL')));
    for (const deadline = Date.now() + 60_000; !existsSync(hold); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > deadline || killed.process.exitCode !== null) throw new Error(`never held: ${(await killed.done).all.slice(-2000)}`);
    }
    killed.process.kill('SIGKILL');
    printed.push((await killed.done).all);
    const rec = await env.agent('recover', ['--json']);
    printed.push(rec.all);
    expect(rec.code, rec.all).toBe(0);

    const again = await env.agent('run', ['--dump', env.dump, '--json']);
    printed.push(again.all);
    expect(again.code, again.all).toBe(0);
    const runs = [...env.api.model.configmaps.values()].filter((c) => c.metadata.name.startsWith('flightctl-restore-run-'));
    expect(runs).toHaveLength(1);
    expect(env.api.requests.filter((q) => q.status === 403)).toEqual([]);
    expect(env.replicas()).toMatchObject({ 'flightctl-api': 3, 'flightctl-worker': 2, 'flightctl-alert-exporter': 1 });
  });

  it('every verb on every resource the Roles grant was used, and nothing else was', () => {
    const requests = env.api.requests.filter((q) => q.status !== 401);
    expect(used(requests)).toEqual(grants(m.rules));
  });

  it('rules limited to names name exactly the objects the agent touched with them', () => {
    for (const [ns, rules] of m.rules) {
      for (const r of rules.filter((x) => x.resourceNames?.length)) {
        for (const verb of r.verbs) {
          const names = new Set(
            env.api.requests
              .filter((q) => q.namespace === ns && q.verb === verb && r.resources.includes(q.resource) && r.apiGroups.includes(q.apiGroup))
              .map((q) => q.name),
          );
          expect([...names].sort(), `${ns} ${verb} ${r.resources.join(',')}`).toEqual([...r.resourceNames!].sort());
        }
      }
    }
  });

  it('nothing printed or stored in the cluster holds a secret', () => {
    for (const text of printed) expect(leaks(text, env.secrets)).toEqual([]);
    expect(leaks(env.clusterText(), env.secrets)).toEqual([]);
  });
});
