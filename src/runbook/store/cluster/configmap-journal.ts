import type { V1ConfigMap } from '@kubernetes/client-node';
import { RestoreError } from '../../../lib/errors.js';
import { parseJsonRecord } from '../../../lib/json-record.js';
import { redactValue } from '../../../lib/secrets.js';
import { isFinished, isRunId, runEventSchema, runSchema, type Run, type RunEvent } from '../../../model/run.js';
import type { JournalStore } from '../run-store.js';
import type { KubeClient } from '../../../targets/kubernetes/kube-client.js';
import { AGENT_LABEL, ConfigMapDoc } from './configmap-doc.js';
import { wallClockMs } from '../../../lib/clock.js';

const RUN_LABEL = { 'restore.flightctl.io/record': 'run' };
const HOLDER = 'restore.flightctl.io/holder';
const RENEWED = 'restore.flightctl.io/renewed-at';
const CONTINUE = 'restore.flightctl.io/continue-requested';
/** A ConfigMap holds at most 1 MiB: progress reports stop being kept well before that. */
const PROGRESS_BUDGET = 256 * 1024;
const EVENTS_BUDGET = 900 * 1024;

export function runConfigMapName(id: string): string {
  return `flightctl-restore-run-${id.toLowerCase()}`;
}

function parseRun(cm: V1ConfigMap | undefined): Run | undefined {
  const text = cm?.data?.['run.json'];
  if (!text) return undefined;
  const run = parseJsonRecord(text, runSchema);
  if (!run) {
    throw new RestoreError('RESTORE_ERR_STATE_INVALID', `the run record ConfigMap ${cm?.metadata?.name} is not a valid run; inspect it or delete it`, {
      configMap: cm?.metadata?.name,
    });
  }
  return run;
}

/**
 * The journal in the cluster: one ConfigMap per run (`flightctl-restore-run-<id>`, keys run.json
 * and events.ndjson) in the state namespace, so it survives the Job that wrote it. While a run is
 * unfinished its writer stamps the ConfigMap every third of the lease duration; a run whose stamp
 * is older than two lease durations lost its process, and recovery marks it.
 */
export class ConfigMapJournal implements JournalStore {
  readonly where: string;
  private readonly docs = new Map<string, ConfigMapDoc>();
  private readonly heartbeats = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly holder: string,
    private readonly leaseMs: number,
  ) {
    this.where = `ConfigMaps flightctl-restore-run-* in namespace ${namespace}`;
  }

  private doc(id: string): ConfigMapDoc {
    let d = this.docs.get(id);
    if (!d) this.docs.set(id, (d = new ConfigMapDoc(this.client, this.namespace, runConfigMapName(id), RUN_LABEL)));
    return d;
  }

  private stamp(cm: V1ConfigMap): void {
    cm.metadata!.annotations![HOLDER] = this.holder;
    cm.metadata!.annotations![RENEWED] = new Date().toISOString();
  }

  async save(run: Run): Promise<void> {
    const text = `${JSON.stringify(redactValue(runSchema.parse(run)), null, 2)}\n`;
    await this.doc(run.id).mutate((cm) => {
      cm.data!['run.json'] = text;
      cm.data!['events.ndjson'] ??= '';
      this.stamp(cm);
    });
    this.heartbeat(run.id, !isFinished(run.phase));
  }

  private heartbeat(id: string, on: boolean): void {
    const timer = this.heartbeats.get(id);
    if (on && !timer) {
      const t = setInterval(
        () =>
          void this.doc(id)
            .mutate((cm) => this.stamp(cm))
            .catch(() => undefined),
        Math.max(100, this.leaseMs / 3),
      );
      t.unref();
      this.heartbeats.set(id, t);
    } else if (!on && timer) {
      clearInterval(timer);
      this.heartbeats.delete(id);
    }
  }

  async append(id: string, event: RunEvent): Promise<void> {
    const line = `${JSON.stringify(redactValue(event))}\n`;
    await this.doc(id).mutate((cm) => {
      const events = cm.data!['events.ndjson'] ?? '';
      const budget = event.type === 'progress' ? PROGRESS_BUDGET : EVENTS_BUDGET;
      if (events.length + line.length <= budget || event.type === 'run-finished') cm.data!['events.ndjson'] = events + line;
      this.stamp(cm);
    });
  }

  async read(id: string): Promise<Run | undefined> {
    if (!isRunId(id)) return undefined;
    return parseRun(await this.doc(id).read());
  }

  async require(id: string): Promise<Run> {
    const run = await this.read(id);
    if (!run) throw new RestoreError('RESTORE_ERR_RUN_NOT_FOUND', `no run ${id} in the journal (${this.where})`, { id });
    return run;
  }

  async events(id: string): Promise<RunEvent[]> {
    const cm = isRunId(id) ? await this.doc(id).read() : undefined;
    const out: RunEvent[] = [];
    for (const line of (cm?.data?.['events.ndjson'] ?? '').split('\n')) {
      if (!line) continue;
      try {
        const parsed = runEventSchema.safeParse(JSON.parse(line));
        if (parsed.success) out.push(parsed.data);
      } catch {
        // a line that is not JSON is skipped, as the file journal skips a torn one
      }
    }
    return out;
  }

  private async all(): Promise<V1ConfigMap[]> {
    const selector = Object.entries({ ...AGENT_LABEL, ...RUN_LABEL })
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const list = await this.client.call({ verb: 'list', resource: 'configmaps', namespace: this.namespace }, () =>
      this.client.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector: selector }),
    );
    return list.items;
  }

  async list(): Promise<Run[]> {
    const runs: Run[] = [];
    for (const cm of await this.all()) {
      try {
        const run = parseRun(cm);
        if (run) runs.push(run);
      } catch {
        // a damaged record is left for an operator to look at; it does not hide the others
      }
    }
    return runs.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  }

  async prune(keep: number): Promise<void> {
    const finished = (await this.list()).filter((r) => isFinished(r.phase));
    for (const run of finished.slice(keep)) {
      await this.doc(run.id).remove();
      this.docs.delete(run.id);
    }
  }

  async abandoned(run: Run): Promise<boolean> {
    if (this.heartbeats.has(run.id)) return false;
    const cm = await this.doc(run.id).read();
    const ann = cm?.metadata?.annotations ?? {};
    if (ann[HOLDER] === this.holder) return false;
    const renewed = Date.parse(ann[RENEWED] ?? '');
    return !Number.isFinite(renewed) || wallClockMs() - renewed > 2 * this.leaseMs;
  }

  async requestContinue(id: string): Promise<Run> {
    const run = await this.require(id);
    if (run.phase !== 'WaitingForDatabase') {
      throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', `run ${id} is ${run.phase}, not waiting for its database: there is nothing to continue`, { id });
    }
    await this.doc(id).mutate((cm) => {
      cm.metadata!.annotations![CONTINUE] = new Date().toISOString();
    });
    return run;
  }

  async takeContinue(id: string): Promise<boolean> {
    const cm = await this.doc(id).read();
    if (!cm?.metadata?.annotations?.[CONTINUE]) return false;
    await this.doc(id).mutate((c) => {
      delete c.metadata!.annotations![CONTINUE];
    });
    return true;
  }

  /** Stops the heartbeats (the process is about to end). */
  close(): void {
    for (const t of this.heartbeats.values()) clearInterval(t);
    this.heartbeats.clear();
  }
}
