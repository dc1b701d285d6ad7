import { randomBytes } from 'node:crypto';

/** A Kubernetes object as the API serves it (JSON). */
export type KubeObject = Record<string, any>;

export interface PodTiming {
  /** A new pod is ready this long after it was created. */
  readyDelayMs: number;
  /** A deleted pod stays listed (terminating) this long; Infinity: it never goes away. */
  terminateDelayMs: number;
}

interface SimPod {
  namespace: string;
  name: string;
  owner: string;
  labels: Record<string, string>;
  createdAt: number;
  readyAt: number;
  deletedAt?: number;
  goneAt?: number;
}

const key = (ns: string, name: string) => `${ns}/${name}`;

/**
 * What the fake API server keeps: deployments, pods, secrets, configmaps, leases and volume claims,
 * with resourceVersions, and a deployment controller reduced to what a restore sees: pods created
 * for missing replicas (ready after a delay), surplus pods deleted (listed as terminating until
 * they are gone, or forever when stuck), and the deployment's status following them. Time moves
 * on each request (and on a timer), so the agent's polling sees pods go and come back.
 */
export class ClusterModel {
  private rv = 1000;
  readonly deployments = new Map<string, KubeObject>();
  readonly secrets = new Map<string, KubeObject>();
  readonly configmaps = new Map<string, KubeObject>();
  readonly leases = new Map<string, KubeObject>();
  readonly pvcs = new Map<string, KubeObject>();
  private readonly pods = new Map<string, SimPod>();
  /** Per deployment ("ns/name"), else the defaults. */
  readonly timing = new Map<string, Partial<PodTiming>>();
  defaults: PodTiming = { readyDelayMs: 150, terminateDelayMs: 150 };

  nextVersion(): string {
    return String(++this.rv);
  }

  /** A Flight Control deployment as the Helm chart makes it (labels flightctl.service, container of its name). */
  addDeployment(
    namespace: string,
    name: string,
    opts: { replicas?: number; image?: string; claim?: string; labels?: Record<string, string> } = {},
  ): KubeObject {
    const replicas = opts.replicas ?? 1;
    const dep: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name,
        namespace,
        uid: randomBytes(8).toString('hex'),
        labels: { 'flightctl.service': name, ...opts.labels },
        annotations: {},
        generation: 1,
        resourceVersion: this.nextVersion(),
      },
      spec: {
        replicas,
        selector: { matchLabels: { 'flightctl.service': name } },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels: { 'flightctl.service': name } },
          spec: {
            containers: [{ name, image: opts.image ?? `quay.io/flightctl/${name}:1.2.0` }],
            ...(opts.claim ? { volumes: [{ name, persistentVolumeClaim: { claimName: opts.claim } }] } : {}),
          },
        },
      },
      status: { observedGeneration: 1, replicas: 0, readyReplicas: 0, availableReplicas: 0, updatedReplicas: 0 },
    };
    this.deployments.set(key(namespace, name), dep);
    // Its pods were there and ready long before the test.
    for (let i = 0; i < replicas; i++) this.createPod(dep, Date.now() - 60_000);
    this.settle();
    return dep;
  }

  addSecret(namespace: string, name: string, data: Record<string, string>): void {
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    this.secrets.set(key(namespace, name), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name, namespace, resourceVersion: this.nextVersion() },
      data: encoded,
    });
  }

  addClaim(namespace: string, name: string, capacity: string): void {
    this.pvcs.set(key(namespace, name), {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, namespace, resourceVersion: this.nextVersion() },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: capacity } } },
      status: { phase: 'Bound', capacity: { storage: capacity } },
    });
  }

  deployment(namespace: string, name: string): KubeObject | undefined {
    this.settle();
    return this.deployments.get(key(namespace, name));
  }

  /** An operator's `kubectl scale` (not through the recorded API). */
  operatorScale(namespace: string, name: string, replicas: number): void {
    const dep = this.deployments.get(key(namespace, name));
    if (!dep) throw new Error(`no deployment ${namespace}/${name}`);
    this.setReplicas(dep, replicas);
  }

  setReplicas(dep: KubeObject, replicas: number): void {
    dep.spec.replicas = replicas;
    dep.metadata.generation += 1;
    dep.metadata.resourceVersion = this.nextVersion();
    this.settle();
  }

  private timingOf(dep: KubeObject): PodTiming {
    return { ...this.defaults, ...this.timing.get(key(dep.metadata.namespace, dep.metadata.name)) };
  }

  private createPod(dep: KubeObject, at: number): void {
    const name = `${dep.metadata.name}-${randomBytes(3).toString('hex')}`;
    this.pods.set(key(dep.metadata.namespace, name), {
      namespace: dep.metadata.namespace,
      name,
      owner: key(dep.metadata.namespace, dep.metadata.name),
      labels: { ...dep.spec.template.metadata.labels },
      createdAt: at,
      readyAt: at + this.timingOf(dep).readyDelayMs,
    });
  }

  /** The controller's work up to now. */
  settle(): void {
    const now = Date.now();
    for (const [k, p] of this.pods) if (p.goneAt !== undefined && p.goneAt <= now) this.pods.delete(k);
    for (const [k, dep] of this.deployments) {
      const mine = [...this.pods.values()].filter((p) => p.owner === k);
      const live = mine.filter((p) => p.deletedAt === undefined);
      const want = dep.spec.replicas ?? 1;
      for (let i = live.length; i < want; i++) this.createPod(dep, now);
      const t = this.timingOf(dep);
      for (const p of live.slice(want)) {
        p.deletedAt = now;
        p.goneAt = now + t.terminateDelayMs;
      }
      const current = [...this.pods.values()].filter((p) => p.owner === k && p.deletedAt === undefined);
      const ready = current.filter((p) => p.readyAt <= now).length;
      const status = {
        observedGeneration: dep.metadata.generation,
        replicas: current.length,
        readyReplicas: ready,
        availableReplicas: ready,
        updatedReplicas: current.length,
      };
      if (JSON.stringify(status) !== JSON.stringify(dep.status)) {
        dep.status = status;
        // The controller's status writes change the resourceVersion, as a real one's do.
        dep.metadata.resourceVersion = this.nextVersion();
      }
    }
  }

  /** Pods of a namespace matching an equality selector ("a=b,c=d"), terminating ones included. */
  listPods(namespace: string, selector: string): KubeObject[] {
    this.settle();
    const want = selector
      .split(',')
      .filter(Boolean)
      .map((s) => s.split('='));
    return [...this.pods.values()]
      .filter((p) => p.namespace === namespace && want.every(([k, v]) => p.labels[k!] === v))
      .map((p) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: p.name,
          namespace: p.namespace,
          labels: p.labels,
          ...(p.deletedAt ? { deletionTimestamp: new Date(p.deletedAt).toISOString() } : {}),
        },
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: p.readyAt <= Date.now() && !p.deletedAt ? 'True' : 'False' }] },
      }));
  }

  podCount(namespace: string, name: string): number {
    this.settle();
    return [...this.pods.values()].filter((p) => p.owner === key(namespace, name)).length;
  }
}
