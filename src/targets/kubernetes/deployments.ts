import type { V1Deployment, V1LabelSelector } from '@kubernetes/client-node';
import type { Config } from '../../config/schema.js';
import type { KubeClient } from './kube-client.js';

export interface Namespaces {
  /** The release's namespace: the API and what faces outside. */
  external: string;
  /** The worker, periodic, alert exporter, the database and the KV store. */
  internal: string;
  /** The run's journal, intent and lock. */
  state: string;
}

export function namespacesOf(settings: Readonly<Config['kubernetes']>): Namespaces {
  const internal = settings.internalNamespace || settings.namespace;
  return { external: settings.namespace, internal, state: settings.stateNamespace || internal };
}

export interface AppDeployment {
  name: string;
  namespace: string;
}

/**
 * Flight Control's application deployments, in the order the runbook lists them; the database
 * and the KV store keep running. Optional ones (newer charts) may be absent.
 */
export function appDeployments(ns: Namespaces): AppDeployment[] {
  return [
    ...['flightctl-api', 'flightctl-alertmanager-proxy', 'flightctl-imagebuilder-api'].map((name) => ({ name, namespace: ns.external })),
    ...['flightctl-worker', 'flightctl-periodic', 'flightctl-alert-exporter', 'flightctl-imagebuilder-worker'].map((name) => ({
      name,
      namespace: ns.internal,
    })),
  ];
}

/** The one deployment without which this is not a Flight Control installation. */
export const REQUIRED_DEPLOYMENT = 'flightctl-api';

export function readDeployment(client: KubeClient, d: AppDeployment): Promise<V1Deployment | undefined> {
  return client.get({ verb: 'get', resource: 'deployments', namespace: d.namespace, name: d.name }, () =>
    client.apps.readNamespacedDeployment({ name: d.name, namespace: d.namespace }),
  );
}

/** The desired count: a deployment without spec.replicas runs one (the API server's default). */
export function desiredReplicas(dep: V1Deployment): number {
  return dep.spec?.replicas ?? 1;
}

/** A label selector as the list call takes it (matchLabels and matchExpressions). */
export function selectorString(sel: V1LabelSelector | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    const values = `(${(e.values ?? []).join(',')})`;
    if (e.operator === 'In') parts.push(`${e.key} in ${values}`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin ${values}`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
