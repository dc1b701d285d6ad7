import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { RestoreError } from '../../../lib/errors.js';
import type { RunLock } from '../run-store.js';
import { isConflict, type KubeClient } from '../../../targets/kubernetes/kube-client.js';

export const LOCK_NAME = 'flightctl-restore-lock';
const WHAT_ANNOTATION = 'restore.flightctl.io/operation';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One mutating run per cluster: a coordination.k8s.io Lease naming its holder, renewed while held.
 * A Job that died stops renewing and, one lease duration later, holds nothing. Whether a holder is
 * alive is told by watching its lease change, not by comparing clocks: a taker that finds the
 * lease held waits up to one lease duration; a renewal in that time means a live holder
 * (RESTORE_ERR_RUN_ACTIVE), none means a dead one, whose lease is taken over. Every write is
 * conditioned on the resourceVersion read, so two takers cannot both win.
 */
export class LeaseLock {
  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly holder: string,
    private readonly durationSec: number,
    private readonly logger?: Logger,
  ) {}

  private req(verb: 'get' | 'create' | 'update') {
    return { verb, resource: 'leases', namespace: this.namespace, name: LOCK_NAME } as const;
  }

  private read(): Promise<V1Lease | undefined> {
    return this.client.get(this.req('get'), () => this.client.coordination.readNamespacedLease({ name: LOCK_NAME, namespace: this.namespace }));
  }

  private body(what: string, resourceVersion?: string): V1Lease {
    const now = new V1MicroTime();
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: LOCK_NAME, namespace: this.namespace, resourceVersion, annotations: { [WHAT_ANNOTATION]: what } },
      spec: { holderIdentity: this.holder, leaseDurationSeconds: this.durationSec, acquireTime: now, renewTime: now },
    };
  }

  private replace(lease: V1Lease): Promise<V1Lease> {
    return this.client.call(this.req('update'), () =>
      this.client.coordination.replaceNamespacedLease({ name: LOCK_NAME, namespace: this.namespace, body: lease }),
    );
  }

  async acquire(what: string): Promise<RunLock> {
    const durationMs = this.durationSec * 1000;
    let watched: { resourceVersion?: string; since: number } | undefined;
    for (;;) {
      const lease = await this.read();
      try {
        if (!lease)
          return this.held(
            await this.client.call(this.req('create'), () =>
              this.client.coordination.createNamespacedLease({ namespace: this.namespace, body: this.body(what) }),
            ),
            what,
          );
        const holder = lease.spec?.holderIdentity;
        const rv = lease.metadata?.resourceVersion;
        if (!holder || holder === this.holder) return this.held(await this.replace(this.body(what, rv)), what);
        if (watched && watched.resourceVersion !== rv) {
          throw new RestoreError(
            'RESTORE_ERR_RUN_ACTIVE',
            `another operation holds the lock (Lease ${LOCK_NAME} in namespace ${this.namespace}): ${lease.metadata?.annotations?.[WHAT_ANNOTATION] ?? 'unknown'} by ${holder}, renewed ${String(lease.spec?.renewTime ?? '')}`,
            {
              holder,
            },
          );
        }
        if (watched && performance.now() - watched.since >= durationMs) {
          this.logger?.warn(`the lock's holder ${holder} did not renew it for ${this.durationSec} s: it is gone; taking the lock over`);
          return this.held(await this.replace(this.body(what, rv)), what);
        }
        if (!watched) this.logger?.info(`the lock is held by ${holder}: watching it for up to ${this.durationSec} s to tell whether that holder is alive`);
        watched ??= { resourceVersion: rv, since: performance.now() };
      } catch (err) {
        if (isConflict(err)) continue; // someone wrote it first: look again
        throw err;
      }
      await sleep(Math.min(1000, Math.max(50, durationMs / 10)));
    }
  }

  /** Renews every third of the lease; a conflict that shows another holder means the lock is lost. */
  private held(lease: V1Lease, what: string): RunLock {
    let current = lease;
    const lost = new AbortController();
    let released = false;
    let inflight: Promise<void> | undefined;
    const renewOnce = async () => {
      try {
        current = await this.replace({ ...current, spec: { ...current.spec, renewTime: new V1MicroTime() } });
      } catch (err) {
        if (!isConflict(err)) return; // the API is away for a moment: the next renewal tries again
        const now = await this.read().catch(() => undefined);
        if (now?.spec?.holderIdentity === this.holder) current = now;
        else if (!released) {
          this.logger?.error(`the lock (Lease ${LOCK_NAME}) was taken over by ${now?.spec?.holderIdentity || 'nobody'}: stopping at the next safe point`);
          lost.abort(new RestoreError('RESTORE_ERR_RUN_ACTIVE', 'the lock was taken over by another operation'));
        }
      }
    };
    const renew = () => {
      if (released || lost.signal.aborted || inflight) return;
      inflight = renewOnce().finally(() => (inflight = undefined));
    };
    const timer = setInterval(renew, Math.max(100, (this.durationSec * 1000) / 3));
    timer.unref();
    return {
      lost: lost.signal,
      release: async () => {
        released = true;
        clearInterval(timer);
        await inflight;
        if (lost.signal.aborted) return;
        for (let attempt = 0; attempt < 5; attempt++) {
          const now = await this.read();
          if (now?.spec?.holderIdentity !== this.holder) return;
          try {
            await this.replace({
              ...now,
              metadata: { ...now.metadata, annotations: { [WHAT_ANNOTATION]: `released after ${what}` } },
              spec: { leaseDurationSeconds: this.durationSec },
            });
            return;
          } catch (err) {
            if (!isConflict(err)) throw err;
          }
        }
      },
    };
  }
}
