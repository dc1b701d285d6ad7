import cliProgress from 'cli-progress';
import { formatBytes, formatMs } from '../../lib/format.js';
import { runDurationMs, type Run, type RunEvent, type StepResult } from '../../model/run.js';

export interface RunPrinter {
  onEvent(event: RunEvent): void;
}

/** Off a terminal, or with --json: every event as one JSON line, the last one run-finished. */
export function jsonPrinter(print: (text: string) => void): RunPrinter {
  return { onEvent: (event) => print(`${JSON.stringify(event)}\n`) };
}

const STATUS_WIDTH = 8;
const STEP_WIDTH = 18;

export function stepLine(r: StepResult): string {
  const status = r.status === 'failed' ? 'FAILED' : r.status;
  const warnings = r.warnings.map((w) => `\n${' '.repeat(STATUS_WIDTH + STEP_WIDTH + 13)}warning: ${w}`).join('');
  return `  ${status.padEnd(STATUS_WIDTH)} ${r.name.padEnd(STEP_WIDTH)} ${formatMs(r.durationMs).padStart(8)}  ${r.msg}${warnings}\n`;
}

function progressText(done: number, total: number | undefined, unit: string): string {
  const fmt = (n: number) => (unit === 'bytes' ? formatBytes(n) : String(n));
  return total !== undefined ? `${fmt(done)} / ${fmt(total)}` : `${fmt(done)} ${unit}`;
}

/** How long the run took, on the monotonic clock when one process ran it whole. */
export function formatTook(run: Run): string | undefined {
  const ms = runDurationMs(run);
  return ms === undefined ? undefined : formatMs(ms);
}

export function summaryLines(run: Run): string {
  const took = formatTook(run) ?? '';
  const lines = [`\nrun ${run.id} ${run.check ? '(check mode: nothing was changed) ' : ''}${run.phase} in ${took}`];
  if (run.downtimeMs !== undefined) lines.push(`  application downtime: ${formatMs(run.downtimeMs)}`);
  const devices = (label: string, s?: { total: number; byStatus: Record<string, number> }) => {
    if (s)
      lines.push(
        `  devices ${label}: ${s.total} (${
          Object.entries(s.byStatus)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ') || 'none'
        })`,
      );
  };
  devices('before', run.devices?.before);
  devices('after ', run.devices?.after);
  for (const f of run.faults ?? []) lines.push(`  fault met${f.step ? ` in ${f.step}` : ''}: ${f.code}: ${f.message}; ${f.action}`);
  for (const f of run.finalizers) lines.push(`  finalizer: ${f}`);
  return `${lines.join('\n')}\n`;
}

/**
 * On a terminal: one line per step as it finishes and a progress bar (stderr, cli-progress) while
 * a step reports progress; a summary at the end.
 */
export function terminalPrinter(print: (text: string) => void): RunPrinter {
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    onEvent(event) {
      switch (event.type) {
        case 'step-started':
          return;
        case 'progress': {
          const { done, total, unit } = event.progress;
          if (!bar) {
            bar = new cliProgress.SingleBar(
              { format: `  ${event.step.padEnd(STEP_WIDTH)} [{bar}] {percentage}%  {text}`, hideCursor: true, clearOnComplete: true, stream: process.stderr },
              cliProgress.Presets.shades_classic,
            );
            bar.start(total ?? done, done, { text: progressText(done, total, unit) });
          }
          if (total !== undefined) bar.setTotal(total);
          bar.update(done, { text: progressText(done, total, unit) });
          return;
        }
        case 'step-finished':
          stopBar();
          return print(stepLine(event.result));
        case 'run-finished':
          stopBar();
          return print(summaryLines(event.run));
      }
    },
  };
}
