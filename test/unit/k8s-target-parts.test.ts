import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isExplicit, loadConfig } from '../../src/config/load.js';
import { appDeployments, namespacesOf, selectorString } from '../../src/targets/kubernetes/deployments.js';
import { quantityBytes } from '../../src/targets/kubernetes/free-space.js';
import { mergePatch } from '../harness/kube/fake-apiserver.js';

const dir = mkdtempSync(join(tmpdir(), 'fcra-k8s-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Kubernetes configuration', () => {
  it('defaults: the Quadlets target; on Kubernetes one namespace flightctl for everything', () => {
    const c = loadConfig();
    expect(c.target).toBe('quadlet');
    expect(c.kubernetes).toMatchObject({
      kubeconfig: '',
      namespace: 'flightctl',
      internalNamespace: '',
      stateNamespace: '',
      secretsDir: '',
      leaseDurationSec: 30,
    });
    expect(namespacesOf(c.kubernetes)).toEqual({ external: 'flightctl', internal: 'flightctl', state: 'flightctl' });
  });

  it('every flag has its key; the environment and the file set them too', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'target: kubernetes\nkubernetes:\n  namespace: fc\n  scaleTimeoutMs: 1000\n');
    const c = loadConfig({
      file,
      env: { FLIGHTCTL_RESTORE_INTERNAL_NAMESPACE: 'fc-internal', FLIGHTCTL_RESTORE_LEASE_DURATION_SEC: '5' },
      flags: { 'kubernetes.kubeconfig': '/k', 'kubernetes.secretsDir': '/s', 'kubernetes.stateNamespace': 'fc-state' },
    });
    expect(c.target).toBe('kubernetes');
    expect(c.kubernetes).toMatchObject({
      kubeconfig: '/k',
      namespace: 'fc',
      internalNamespace: 'fc-internal',
      stateNamespace: 'fc-state',
      secretsDir: '/s',
      scaleTimeoutMs: 1000,
      leaseDurationSec: 5,
    });
    expect(namespacesOf(c.kubernetes)).toEqual({ external: 'fc', internal: 'fc-internal', state: 'fc-state' });
    expect(() => loadConfig({ flags: { target: 'nomad' } })).toThrow(/target.*"nomad" is not allowed; allowed: quadlet, kubernetes/);
  });

  it('tells a database address given (--db-host localhost for a port-forward) from the default', () => {
    expect(isExplicit(loadConfig(), 'db.host')).toBe(false);
    const given = loadConfig({ flags: { 'db.host': 'localhost' } });
    expect(given.db.host).toBe('localhost');
    expect(isExplicit(given, 'db.host')).toBe(true);
    expect(isExplicit(given, 'db.port')).toBe(false);
    expect(isExplicit(loadConfig({ env: { FLIGHTCTL_RESTORE_KV_PORT: '6380' } }), 'kv.port')).toBe(true);
    // Never part of what is printed or compared.
    expect(JSON.stringify(given)).not.toContain('explicit');
    expect(Object.keys(given)).not.toContain('explicit');
  });
});

describe('Kubernetes target parts', () => {
  it('the application deployments per namespace, as the runbook lists them', () => {
    expect(appDeployments({ external: 'e', internal: 'i', state: 'i' })).toEqual([
      { name: 'flightctl-api', namespace: 'e' },
      { name: 'flightctl-alertmanager-proxy', namespace: 'e' },
      { name: 'flightctl-imagebuilder-api', namespace: 'e' },
      { name: 'flightctl-worker', namespace: 'i' },
      { name: 'flightctl-periodic', namespace: 'i' },
      { name: 'flightctl-alert-exporter', namespace: 'i' },
      { name: 'flightctl-imagebuilder-worker', namespace: 'i' },
    ]);
  });

  it('label selectors as the list call takes them', () => {
    expect(selectorString({ matchLabels: { 'flightctl.service': 'flightctl-api' } })).toBe('flightctl.service=flightctl-api');
    expect(
      selectorString({
        matchLabels: { a: 'b' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['x', 'y'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'has', operator: 'Exists' },
          { key: 'not', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('a=b,tier in (x,y),env notin (dev),has,!not');
  });

  it('volume sizes from resource quantities', () => {
    expect(quantityBytes('10Gi')).toBe(10 * 2 ** 30);
    expect(quantityBytes('500M')).toBe(5e8);
    expect(quantityBytes('1.5Ti')).toBe(1.5 * 2 ** 40);
    expect(quantityBytes('1e9')).toBe(1e9);
    expect(quantityBytes('123')).toBe(123);
    for (const bad of ['', 'lots', '10 Gi', '-1Gi', undefined]) expect(quantityBytes(bad)).toBeUndefined();
  });

  it("the fake API server's merge patch follows RFC 7386", () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null, e: 3 }, d: [2] })).toEqual({ a: { c: 2, e: 3 }, d: [2] });
  });
});
