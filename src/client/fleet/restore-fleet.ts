import { asRestoreError, RestoreError } from '../../lib/errors.js';
import type { AgentClient } from '../agent-client.js';
import type { AgentTarget } from '../agent-target.js';
import { followRun } from '../follow-run.js';
import { changedSteps, runDurationMs, runView, type ErrorView, type EventView, type RunView } from '../run-view.js';
import { boundedPool } from './pool.js';
import { serialBatches } from './serial.js';

/** What POST /v1/restores gets. `archive` is sent only when asked for (older agents refuse the field). */
export interface RestoreRequest {
  check?: boolean;
  dump?: string;
  archive?: string;
  force?: boolean;
  keepOldDb?: boolean;
}

/**
 * succeeded: the run ended Succeeded. failed: refused, or the run ended otherwise. unreachable:
 * the agent could not be reached (to start, or while following). skipped: never started
 * (--max-fail, a serial batch that failed entirely, Ctrl-C). running: the client stopped
 * following (second Ctrl-C); the run goes on on its agent. started: not followed (no --wait).
 */
export type HostOutcome = 'succeeded' | 'failed' | 'unreachable' | 'skipped' | 'running' | 'started';

export interface HostResult {
  host: string;
  target: string;
  batch: number;
  result: HostOutcome;
  runId: string | null;
  phase: string | null;
  check: boolean;
  changedSteps: string[];
  durationMs: number | null;
  downtimeMs: number | null;
  error: ErrorView | null;
  /** Why a host was skipped or left running. */
  reason: string | null;
}

export interface FleetHooks {
  hostStarting(t: AgentTarget): void;
  runStarted(t: AgentTarget, run: RunView): void;
  event(t: AgentTarget, e: EventView): void;
  reconnecting(t: AgentTarget, attempt: number, err: RestoreError): void;
  hostDone(t: AgentTarget, r: HostResult): void;
  note(text: string): void;
}

export interface FleetOptions {
  request: RestoreRequest;
  wait: boolean;
  forks: number;
  /** Stop starting hosts once this many failed or were unreachable. */
  maxFail: number | undefined;
  serial: Array<number | string>;
  clientFor(t: AgentTarget): AgentClient;
  /** Aborted: start no more hosts (first Ctrl-C). */
  stopStarting: AbortSignal;
  /** Aborted: stop following the runs that go on (second Ctrl-C). */
  detach: AbortSignal;
}

export interface FleetOutcome {
  results: HostResult[];
  /** Why hosts were left out, when some were. */
  stopped: string | undefined;
}

const OK: ReadonlySet<HostOutcome> = new Set(['succeeded', 'started']);
export const isOk = (r: HostResult) => OK.has(r.result);
const isFailure = (r: HostResult) => r.result === 'failed' || r.result === 'unreachable';

function base(t: AgentTarget, batch: number, check: boolean): HostResult {
  return {
    host: t.name,
    target: t.url,
    batch,
    result: 'skipped',
    runId: null,
    phase: null,
    check,
    changedSteps: [],
    durationMs: null,
    downtimeMs: null,
    error: null,
    reason: null,
  };
}

/** Monotonic: a clock set back or forward meanwhile does not change it. */
const elapsedMs = (since: number) => Math.round(performance.now() - since);

function fromError(r: HostResult, err: unknown, started: number): HostResult {
  const e = asRestoreError(err);
  return { ...r, result: e.code === 'RESTORE_ERR_AGENT_UNREACHABLE' ? 'unreachable' : 'failed', durationMs: elapsedMs(started), error: e.toJSON() };
}

async function restoreOne(t: AgentTarget, batch: number, o: FleetOptions, hooks: FleetHooks): Promise<HostResult> {
  const started = performance.now();
  let r = base(t, batch, o.request.check === true);
  hooks.hostStarting(t);
  const client = o.clientFor(t);
  // The command line decides what to restore; without --dump or --archive, the host's inventory does.
  const request = o.request.dump === undefined && o.request.archive === undefined ? { ...o.request, ...t.restoreFrom } : o.request;
  let run: RunView;
  try {
    const answer = await client.json('POST', '/v1/restores', request);
    const parsed = runView.safeParse(answer);
    if (!parsed.success) throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${t.name}: POST /v1/restores answered something that is not a run`);
    run = parsed.data;
  } catch (err) {
    const e = asRestoreError(err);
    // An agent that predates archives refuses the unknown field: say that, not "invalid request".
    // (A newer agent's own word on the archive, such as "does not exist", is passed on as it is.)
    if (request.archive !== undefined && e.code === 'RESTORE_ERR_REQUEST_INVALID' && /unknown fields? (?:\w+, )*archive\b/.test(e.message)) {
      return fromError(
        r,
        new RestoreError(
          'RESTORE_ERR_REQUEST_INVALID',
          `${t.name}: this agent does not restore from archives (it refused the field archive); upgrade it, or restore a dump with --dump`,
        ),
        started,
      );
    }
    return fromError(r, e, started);
  }
  r = { ...r, runId: run.id, phase: run.phase };
  hooks.runStarted(t, run);
  if (!o.wait) return { ...r, result: 'started', durationMs: elapsedMs(started) };
  try {
    run = await followRun(client, run.id, { onEvent: (e) => hooks.event(t, e), onReconnect: (attempt, err) => hooks.reconnecting(t, attempt, err) }, o.detach);
  } catch (err) {
    if (o.detach.aborted) return { ...r, result: 'running', durationMs: elapsedMs(started), reason: `no longer followed; run ${run.id} goes on on the agent` };
    const failed = fromError(r, err, started);
    if (failed.result === 'unreachable' && failed.error)
      failed.error.message += `; run ${run.id} may still be going on the agent (flightctl-restorectl status ${run.id})`;
    return failed;
  }
  return {
    ...r,
    result: run.phase === 'Succeeded' ? 'succeeded' : 'failed',
    phase: run.phase,
    changedSteps: changedSteps(run),
    durationMs: runDurationMs(run) ?? elapsedMs(started),
    downtimeMs: run.downtimeMs ?? null,
    error: run.phase === 'Succeeded' ? null : (run.error ?? { code: 'RESTORE_ERR_INTERNAL', message: `${t.name}: run ${run.id} ended ${run.phase}`, hint: '' }),
  };
}

/**
 * A restore on every target: serial batches one after another, inside a batch at most `forks`
 * hosts at a time. New hosts stop starting after --max-fail failures, after a batch in which
 * every host failed (Ansible's rule for serial plays: a failed canary stops the rest), or on
 * stopStarting; hosts already started are followed to their end unless detach is aborted.
 */
export async function restoreFleet(targets: AgentTarget[], o: FleetOptions, hooks: FleetHooks): Promise<FleetOutcome> {
  const results = new Map<AgentTarget, HostResult>();
  const batches = serialBatches(targets, o.serial);
  let stopped: string | undefined;
  let failures = 0;
  const mayStart = () => {
    if (!stopped && o.stopStarting.aborted) stopped = 'interrupted: no new hosts were started';
    return stopped === undefined;
  };
  for (const [b, batch] of batches.entries()) {
    const notStarted = mayStart()
      ? await boundedPool(
          batch,
          o.forks,
          async (t) => {
            const r = await restoreOne(t, b + 1, o, hooks);
            results.set(t, r);
            hooks.hostDone(t, r);
            if (isFailure(r) && ++failures >= (o.maxFail ?? Infinity) && !stopped) {
              stopped = `${failures} host${failures > 1 ? 's' : ''} failed (--max-fail ${o.maxFail})`;
              hooks.note(`${stopped}: no more hosts start`);
            }
          },
          mayStart,
        )
      : batch.map((_, i) => i);
    for (const i of notStarted) {
      const r = { ...base(batch[i]!, b + 1, o.request.check === true), reason: stopped ?? 'not started' };
      results.set(batch[i]!, r);
      hooks.hostDone(batch[i]!, r);
    }
    const done = batch.map((t) => results.get(t)!);
    if (!stopped && b < batches.length - 1 && done.every(isFailure)) {
      stopped = `every host of batch ${b + 1} failed`;
      hooks.note(`${stopped}: the next batches do not start`);
    }
  }
  return { results: targets.map((t) => results.get(t)!), stopped };
}
