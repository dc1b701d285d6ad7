import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'winston';
import type { KubeClient } from '../../../targets/kubernetes/kube-client.js';
import type { IntentStore, RunLock, RunStore } from '../run-store.js';
import { ConfigMapDoc } from './configmap-doc.js';
import { ConfigMapJournal } from './configmap-journal.js';
import { LeaseLock } from './lease-lock.js';

export const INTENT_CONFIGMAP = 'flightctl-restore-intent';

/** The intent of the unfinished run: key intent.json of one ConfigMap, deleted once it is settled. */
class ConfigMapIntent implements IntentStore {
  readonly where: string;
  private readonly doc: ConfigMapDoc;

  constructor(client: KubeClient, namespace: string) {
    this.doc = new ConfigMapDoc(client, namespace, INTENT_CONFIGMAP, { 'restore.flightctl.io/record': 'intent' });
    this.where = `ConfigMap ${INTENT_CONFIGMAP} in namespace ${namespace}`;
  }

  async read(): Promise<string | undefined> {
    return (await this.doc.read())?.data?.['intent.json'] || undefined;
  }

  async write(text: string): Promise<void> {
    await this.doc.mutate((cm) => {
      cm.data = { 'intent.json': text };
    });
  }

  clear(): Promise<void> {
    return this.doc.remove();
  }
}

/**
 * The run store of a Job: everything in the state namespace (ConfigMaps for the journal and the
 * intent, a Lease for the lock), because the Job's filesystem goes with it. The holder names the
 * pod (its host name) and a random part: every container's process may be PID 1.
 */
export class ClusterRunStore implements RunStore {
  readonly journal: ConfigMapJournal;
  readonly intent: IntentStore;
  readonly holder: string;
  private readonly leaseLock: LeaseLock;

  constructor(client: KubeClient, namespace: string, leaseDurationSec: number, logger?: Logger) {
    this.holder = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
    this.journal = new ConfigMapJournal(client, namespace, this.holder, leaseDurationSec * 1000);
    this.intent = new ConfigMapIntent(client, namespace);
    this.leaseLock = new LeaseLock(client, namespace, this.holder, leaseDurationSec, logger);
  }

  lock(what: string): Promise<RunLock> {
    return this.leaseLock.acquire(what);
  }

  close(): void {
    this.journal.close();
  }
}
