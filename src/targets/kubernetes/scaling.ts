import { PatchStrategy, setHeaderOptions, type V1Deployment } from '@kubernetes/client-node';
import { asRestoreError, type ErrorCode } from '../../lib/errors.js';
import type { ServiceChange } from '../target.js';
import { desiredReplicas, readDeployment, selectorString, type AppDeployment } from './deployments.js';
import { isConflict, type KubeClient } from './kube-client.js';

/**
 * The replica count a deployment had before the restore scaled it to 0, on the deployment itself:
 * durable in the cluster before the scale, so whoever comes next (the same Job, a second Job after
 * the first died, `recover`) scales it back to what it had, not to 1.
 */
export const REPLICAS_ANNOTATION = 'restore.flightctl.io/replicas';

/** Conflicts (someone else wrote the deployment in between) are re-read and retried this often. */
const CONFLICT_RETRIES = 5;

export interface ScaleSettings {
  scaleTimeoutMs: number;
  pollIntervalMs: number;
}

const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function change(
  d: AppDeployment,
  action: ServiceChange['action'],
  activeState: string,
  subState: string,
  extra: { result?: string; code?: ErrorCode } = {},
): ServiceChange {
  return { unit: d.name, action, activeState, subState, ...extra };
}

/** Merge patch of the annotations; with a resourceVersion it only applies to that version (409 otherwise). */
function patchAnnotation(client: KubeClient, d: AppDeployment, value: string | null, resourceVersion?: string): Promise<V1Deployment> {
  const body = { metadata: { ...(resourceVersion ? { resourceVersion } : {}), annotations: { [REPLICAS_ANNOTATION]: value } } };
  return client.call({ verb: 'patch', resource: 'deployments', namespace: d.namespace, name: d.name }, () =>
    client.apps.patchNamespacedDeployment({ name: d.name, namespace: d.namespace, body }, MERGE_PATCH),
  );
}

/**
 * A replace of the Scale, conditioned on the resourceVersion read: an operator's change in between
 * makes it fail (409) rather than be overwritten. (A json-patch replace would be refused from 0:
 * the API server leaves spec.replicas out of a Scale at 0.)
 */
function scaleTo(client: KubeClient, d: AppDeployment, resourceVersion: string | undefined, replicas: number): Promise<unknown> {
  const body = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: d.name, namespace: d.namespace, resourceVersion }, spec: { replicas } };
  return client.call({ verb: 'update', resource: 'deployments/scale', namespace: d.namespace, name: d.name }, () =>
    client.apps.replaceNamespacedDeploymentScale({ name: d.name, namespace: d.namespace, body }),
  );
}

/** Pods of the deployment, those being deleted included (they still run until they are gone). */
async function podsOf(client: KubeClient, d: AppDeployment, dep: V1Deployment): Promise<string[]> {
  const labelSelector = selectorString(dep.spec?.selector);
  const list = await client.call({ verb: 'list', resource: 'pods', namespace: d.namespace }, () =>
    client.core.listNamespacedPod({ namespace: d.namespace, labelSelector }),
  );
  return list.items.map((p) => `${p.metadata?.name ?? '?'}${p.metadata?.deletionTimestamp ? ' (terminating)' : ''}`);
}

async function waitPodsGone(client: KubeClient, d: AppDeployment, dep: V1Deployment, s: ScaleSettings): Promise<string[]> {
  const deadline = performance.now() + s.scaleTimeoutMs;
  for (;;) {
    const left = await podsOf(client, d, dep);
    if (!left.length || performance.now() >= deadline) return left;
    await sleep(Math.min(s.pollIntervalMs, Math.max(10, deadline - performance.now())));
  }
}

/**
 * Records the count, scales to 0, waits (bounded) until no pod of it is left. At 0 already: ours
 * from an earlier run when the annotation is there (it stays, with the count it names), else not
 * ours to start again; either way its pods must be gone before the swap.
 */
export async function stopDeployment(client: KubeClient, d: AppDeployment, s: ScaleSettings): Promise<ServiceChange> {
  try {
    for (let attempt = 0; ; attempt++) {
      const dep = await readDeployment(client, d);
      if (!dep) return change(d, 'not-installed', 'not-found', 'absent');
      const replicas = desiredReplicas(dep);
      const recorded = dep.metadata?.annotations?.[REPLICAS_ANNOTATION];
      let action: 'stopped' | 'already-stopped' = recorded !== undefined ? 'stopped' : 'already-stopped';
      let subject = dep;
      if (replicas > 0) {
        try {
          subject = await patchAnnotation(client, d, String(replicas), dep.metadata?.resourceVersion);
          await scaleTo(client, d, subject.metadata?.resourceVersion, 0);
        } catch (err) {
          if (isConflict(err) && attempt < CONFLICT_RETRIES) continue;
          throw err;
        }
        action = 'stopped';
      }
      const left = await waitPodsGone(client, d, subject, s);
      if (left.length) {
        return change(d, 'failed', 'scaled-to-0', `${left.length} pods left`, {
          result: `${left.length} of its pods still there ${Math.round(s.scaleTimeoutMs / 1000)} s after scaling to 0: ${left.slice(0, 5).join(', ')}`,
          code: 'RESTORE_ERR_SCALE_TIMEOUT',
        });
      }
      return change(d, action, 'scaled-to-0', `no pods (had ${recorded ?? replicas} replicas)`);
    }
  } catch (err) {
    const e = asRestoreError(err);
    // Its state is not known after an error of the API: the message says what failed.
    return change(d, 'failed', '', '', { result: e.message, code: e.code });
  }
}

/**
 * Scales back to the recorded count, only if the deployment is still at 0 (conditioned on the
 * resourceVersion: an operator who scaled it meanwhile wins), forgets the count, and waits
 * (bounded) for the pods to be ready.
 */
export async function startDeployment(client: KubeClient, d: AppDeployment, s: ScaleSettings): Promise<ServiceChange> {
  try {
    for (let attempt = 0; ; attempt++) {
      const dep = await readDeployment(client, d);
      if (!dep) return change(d, 'not-installed', 'not-found', 'absent');
      const recorded = dep.metadata?.annotations?.[REPLICAS_ANNOTATION];
      if (recorded === undefined) return change(d, 'not-stopped-by-us', state(dep), readiness(dep));
      const target = /^\d+$/.test(recorded) ? Number(recorded) : undefined;
      const now = desiredReplicas(dep);
      let note: string | undefined;
      if (target === undefined) note = `its ${REPLICAS_ANNOTATION} annotation "${recorded.slice(0, 20)}" is not a replica count: left at ${now}`;
      else if (now === 0) {
        try {
          await scaleTo(client, d, dep.metadata?.resourceVersion, target);
        } catch (err) {
          if (isConflict(err) && attempt < CONFLICT_RETRIES) continue;
          throw err;
        }
      } else if (now !== target) note = `someone scaled it to ${now} during the restore: left at ${now} (it had ${target})`;
      await patchAnnotation(client, d, null);
      if (note) return change(d, 'not-stopped-by-us', state(dep), readiness(dep), { result: note });
      return await waitReady(client, d, target!, s);
    }
  } catch (err) {
    const e = asRestoreError(err);
    // Its state is not known after an error of the API: the message says what failed.
    return change(d, 'failed', '', '', { result: e.message, code: e.code });
  }
}

function state(dep: V1Deployment): string {
  return desiredReplicas(dep) > 0 ? 'running' : 'scaled-to-0';
}

function readiness(dep: V1Deployment): string {
  return `${dep.status?.readyReplicas ?? 0}/${desiredReplicas(dep)} ready`;
}

async function waitReady(client: KubeClient, d: AppDeployment, target: number, s: ScaleSettings): Promise<ServiceChange> {
  const deadline = performance.now() + s.scaleTimeoutMs;
  for (;;) {
    const dep = await readDeployment(client, d);
    if (!dep) return change(d, 'failed', 'not-found', 'absent', { result: 'deleted while it was scaled back', code: 'RESTORE_ERR_DEPLOYMENT_MISSING' });
    const observed = (dep.status?.observedGeneration ?? 0) >= (dep.metadata?.generation ?? 0);
    if (observed && (dep.status?.readyReplicas ?? 0) >= target) return change(d, 'started', state(dep), readiness(dep));
    if (performance.now() >= deadline) {
      return change(d, 'failed', state(dep), readiness(dep), {
        result: `scaled back to ${target}, but ${dep.status?.readyReplicas ?? 0} ready after ${Math.round(s.scaleTimeoutMs / 1000)} s`,
        code: 'RESTORE_ERR_SCALE_TIMEOUT',
      });
    }
    await sleep(Math.min(s.pollIntervalMs, Math.max(10, deadline - performance.now())));
  }
}

/** Deployment states for services(): installed, running (desired > 0), readiness. */
export async function describeDeployment(client: KubeClient, d: AppDeployment) {
  const dep = await readDeployment(client, d);
  return {
    unit: d.name,
    installed: !!dep,
    active: !!dep && desiredReplicas(dep) > 0,
    activeState: dep ? state(dep) : 'not-found',
    subState: dep ? readiness(dep) : 'absent',
    recorded: dep?.metadata?.annotations?.[REPLICAS_ANNOTATION],
  };
}
