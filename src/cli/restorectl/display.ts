import cliProgress from 'cli-progress';
import type { AgentTarget } from '../../client/agent-target.js';
import type { FleetHooks, HostResult } from '../../client/fleet/restore-fleet.js';
import type { EventView, RunView } from '../../client/run-view.js';
import type { RestoreError } from '../../lib/errors.js';
import { formatBytes, formatMs } from '../../lib/format.js';
import { note } from './remote.js';
import { stepText } from './output.js';

export interface FleetDisplay extends FleetHooks {
  stop(): void;
}

const waiting = (t: AgentTarget, runId: string | undefined) =>
  `the services are stopped and run ${runId ?? '?'} waits for the external database: restore it, then run flightctl-restorectl continue ${runId ?? 'RUN'} --host ${t.url}`;

function progressText(p: NonNullable<EventView['progress']>): string {
  const fmt = (n: number) => (p.unit === 'bytes' ? formatBytes(n) : String(n));
  return p.total !== undefined ? `${fmt(p.done)} / ${fmt(p.total)}` : `${fmt(p.done)} ${p.unit}`;
}

function outcomeText(r: HostResult): string {
  switch (r.result) {
    case 'succeeded':
      return `${r.check ? 'check ' : ''}succeeded in ${formatMs(r.durationMs ?? 0)}, ${r.changedSteps.length} step${r.changedSteps.length === 1 ? '' : 's'} ${r.check ? 'would change' : 'changed'}${r.downtimeMs !== null ? `, downtime ${formatMs(r.downtimeMs)}` : ''}`;
    case 'started':
      return `started run ${r.runId}`;
    case 'skipped':
      return `skipped: ${r.reason ?? 'not started'}`;
    case 'running':
      return `still running on the agent (run ${r.runId})`;
    default:
      return `${r.result.toUpperCase()} ${r.error?.code ?? ''}${r.phase ? ` (${r.phase})` : ''}`;
  }
}

/**
 * On a terminal: one live line per host with a bar (cli-progress on stderr): the steps done out
 * of the run's plan, plus the part of the current step its progress reports, and the current
 * step. With a single host, each step's result line is printed above the bar as it finishes.
 */
export function terminalDisplay(targets: AgentTarget[]): FleetDisplay {
  const width = Math.min(40, Math.max(4, ...targets.map((t) => t.name.length)));
  const multi = new cliProgress.MultiBar(
    {
      format: '{host} [{bar}] {state}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 24,
      stream: process.stderr,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<AgentTarget, { bar: cliProgress.SingleBar; plan: number; done: number; runId?: string }>();
  const host = (t: AgentTarget) => t.name.slice(0, width).padEnd(width);
  for (const t of targets) bars.set(t, { bar: multi.create(11, 0, { host: host(t), state: 'waiting' }), plan: 11, done: 0 });
  const set = (t: AgentTarget, value: number | undefined, state: string) => {
    const b = bars.get(t)!;
    b.bar.update(value ?? b.done, { host: host(t), state });
  };
  const single = targets.length === 1;
  return {
    hostStarting: (t) => set(t, 0, 'starting'),
    runStarted(t, run: RunView) {
      const b = bars.get(t)!;
      b.plan = Math.max(1, run.plan.length);
      b.runId = run.id;
      b.bar.setTotal(b.plan);
      set(t, 0, `run ${run.id}${run.check ? ' (check)' : ''}`);
    },
    event(t, e) {
      const b = bars.get(t)!;
      if (e.type === 'step-started') {
        set(t, b.done, `${e.step}`);
        if (e.step === 'wait-for-database') multi.log(`${t.name}: ${waiting(t, b.runId)}\n`);
      } else if (e.type === 'progress' && e.progress) {
        const frac = e.progress.total ? Math.min(1, e.progress.done / e.progress.total) : 0;
        set(t, b.done + frac, `${e.step} ${progressText(e.progress)}`);
      } else if (e.type === 'step-finished' && e.result) {
        b.done += 1;
        set(t, b.done, `${e.step} ${e.result.status}`);
        if (single || e.result.status === 'failed') multi.log(`${single ? '' : `${t.name}: `}${stepText(e.result)}\n`);
      }
    },
    reconnecting: (t, attempt, err: RestoreError) => set(t, undefined, `reconnecting (${attempt}): ${err.code}`),
    hostDone(t, r) {
      const b = bars.get(t)!;
      if (r.result === 'succeeded') {
        b.bar.setTotal(b.plan);
        set(t, b.plan, outcomeText(r));
      } else set(t, undefined, outcomeText(r));
    },
    note: (text) => multi.log(`${text}\n`),
    stop() {
      // Lines logged since the last redraw are written by a redraw only; one last one first.
      multi.update();
      multi.stop();
    },
  };
}

/** Off a terminal: one timestamped line per host event on stderr, for logs and CI. */
export function plainDisplay(): FleetDisplay {
  const line = (host: string, text: string) => note(`${new Date().toISOString()} ${host} ${text}\n`);
  const runs = new Map<AgentTarget, string>();
  return {
    hostStarting: (t) => line(t.name, `starting (${t.url})`),
    runStarted(t, run) {
      runs.set(t, run.id);
      line(t.name, `run ${run.id} ${run.phase}${run.check ? ' (check mode)' : ''}`);
    },
    event(t, e) {
      if (e.type === 'step-started') line(t.name, `${e.step} started${e.step === 'wait-for-database' ? `: ${waiting(t, runs.get(t))}` : ''}`);
      else if (e.type === 'step-finished' && e.result) line(t.name, `${e.step} ${e.result.status} ${formatMs(e.result.durationMs)} ${e.result.msg}`.trimEnd());
      else if (e.type === 'run-finished' && e.run) line(t.name, `run ${e.run.id} ${e.run.phase}`);
    },
    reconnecting: (t, attempt, err) => line(t.name, `event stream lost (${err.message}); reconnecting, attempt ${attempt}`),
    hostDone: (t, r) => line(t.name, outcomeText(r)),
    note: (text) => line('-', text),
    stop: () => undefined,
  };
}
