import { asRestoreError, RestoreError } from '../lib/errors.js';
import { sleep } from '../lib/sleep.js';
import { cancelled, isRetryable, type AgentClient } from './agent-client.js';
import { eventView, isFinishedPhase, runView, type EventView, type RunView } from './run-view.js';

export interface FollowHooks {
  onEvent(e: EventView): void;
  /** The stream broke; the client reconnects from the event after `afterSeq`. */
  onReconnect?(attempt: number, err: RestoreError, afterSeq: number): void;
}

/** How long an agent may stay unreachable while a run is followed (a restart of serve fits). */
export const GIVE_UP_MS = 60_000;
const MAX_ATTEMPTS = 60;

export async function getRun(client: AgentClient, id: string, signal?: AbortSignal): Promise<RunView> {
  const body = await client.json('GET', `/v1/restores/${encodeURIComponent(id)}`, undefined, signal);
  const parsed = runView.safeParse(body);
  if (!parsed.success)
    throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${client.target.name}: the run ${id} it answered is not one this client understands`);
  return parsed.data;
}

/**
 * Follows a run through its NDJSON event stream until run-finished. When the connection drops
 * (or goes silent past the heartbeat), it reconnects with Last-Event-ID = the last seq it
 * handled, so every event is handled once and none is missed; it gives up after GIVE_UP_MS
 * without any contact. A stream that ends without run-finished is checked against the run
 * itself (a run finished by recovery after the agent restarted).
 */
export async function followRun(client: AgentClient, id: string, hooks: FollowHooks, signal?: AbortSignal): Promise<RunView> {
  let last = 0;
  let lastContact = performance.now();
  for (let attempt = 0; attempt <= MAX_ATTEMPTS;) {
    if (signal?.aborted) throw cancelled(client.target);
    try {
      for await (const line of client.eventLines(id, last, signal)) {
        lastContact = performance.now();
        attempt = 0;
        let e: EventView;
        try {
          e = eventView.parse(JSON.parse(line));
        } catch {
          throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${client.target.name}: an event of run ${id} is not one this client understands`);
        }
        if (e.seq <= last) continue;
        last = e.seq;
        hooks.onEvent(e);
        if (e.type === 'run-finished' && e.run) return e.run;
      }
      const run = await getRun(client, id, signal);
      lastContact = performance.now();
      if (isFinishedPhase(run.phase)) return run;
      throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${client.target.name}: the event stream of run ${id} ended before the run finished`);
    } catch (err) {
      if (signal?.aborted) throw cancelled(client.target);
      const e = asRestoreError(err);
      attempt++;
      if (!isRetryable(e) || performance.now() - lastContact > GIVE_UP_MS || attempt > MAX_ATTEMPTS) throw e;
      hooks.onReconnect?.(attempt, e, last);
      await sleep(Math.min(250 * 2 ** (attempt - 1), 5_000), signal);
    }
  }
  throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${client.target.name}: gave up following run ${id}`);
}
