import type { V1ConfigMap } from '@kubernetes/client-node';
import { isConflict, type KubeClient } from '../../../targets/kubernetes/kube-client.js';

export const AGENT_LABEL = { 'app.kubernetes.io/name': 'flightctl-restore-agent' };

/**
 * One ConfigMap this process reads and rewrites: every write is a replace conditioned on the
 * resourceVersion last seen (a create when there is none), so a write never silently undoes
 * another's. A conflict re-reads it and applies the change again; writes of one document are
 * serialized, so events land in order.
 */
export class ConfigMapDoc {
  private known?: V1ConfigMap;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: KubeClient,
    readonly namespace: string,
    readonly name: string,
    private readonly labels: Record<string, string>,
  ) {}

  read(): Promise<V1ConfigMap | undefined> {
    return this.client.get({ verb: 'get', resource: 'configmaps', namespace: this.namespace, name: this.name }, () =>
      this.client.core.readNamespacedConfigMap({ name: this.name, namespace: this.namespace }),
    );
  }

  /** Applies fn to the current document (a new one when there is none) and writes it back. */
  mutate(fn: (cm: V1ConfigMap) => void): Promise<V1ConfigMap> {
    const next = this.queue.then(() => this.write(fn));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async write(fn: (cm: V1ConfigMap) => void): Promise<V1ConfigMap> {
    for (let attempt = 0; ; attempt++) {
      const base = this.known ?? (await this.read());
      const doc: V1ConfigMap = base
        ? structuredClone(base)
        : {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: this.name, namespace: this.namespace, labels: { ...AGENT_LABEL, ...this.labels } },
            data: {},
          };
      doc.data ??= {};
      doc.metadata!.annotations ??= {};
      fn(doc);
      try {
        this.known = base
          ? await this.client.call({ verb: 'update', resource: 'configmaps', namespace: this.namespace, name: this.name }, () =>
              this.client.core.replaceNamespacedConfigMap({ name: this.name, namespace: this.namespace, body: doc }),
            )
          : await this.client.call({ verb: 'create', resource: 'configmaps', namespace: this.namespace }, () =>
              this.client.core.createNamespacedConfigMap({ namespace: this.namespace, body: doc }),
            );
        return this.known;
      } catch (err) {
        this.known = undefined;
        if (isConflict(err) && attempt < 10) continue;
        throw err;
      }
    }
  }

  /** Deletes it (gone already is fine). */
  async remove(): Promise<void> {
    await this.queue;
    this.known = undefined;
    await this.client.get({ verb: 'delete', resource: 'configmaps', namespace: this.namespace, name: this.name }, () =>
      this.client.core.deleteNamespacedConfigMap({ name: this.name, namespace: this.namespace }),
    );
  }
}
