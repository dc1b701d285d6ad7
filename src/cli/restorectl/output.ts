import { ERROR_CATALOGUE, type ErrorCode } from '../../lib/errors.js';
import type { ErrorView, StepView } from '../../client/run-view.js';
import { formatMs } from '../../lib/format.js';
import { isOk, type HostResult } from '../../client/fleet/restore-fleet.js';
import { reportFailure } from '../common/errors.js';

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `${cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export const ms = (n: number | null | undefined) => (n === null || n === undefined ? '-' : formatMs(n));

export function stepText(s: StepView): string {
  const status = s.status === 'failed' ? 'FAILED' : s.status;
  return `${status.padEnd(8)} ${s.name.padEnd(18)} ${formatMs(s.durationMs).padStart(8)}  ${s.msg}${s.warnings.map((w) => `\n${' '.repeat(38)}warning: ${w}`).join('')}`;
}

const exitOf = (code: string) => (code in ERROR_CATALOGUE ? ERROR_CATALOGUE[code as ErrorCode].exit : ERROR_CATALOGUE.RESTORE_ERR_INTERNAL.exit);

const errorLine = reportFailure;

/** Per-host outcome of a read or a resume. */
export interface HostAnswer {
  host: string;
  target: string;
  ok: boolean;
  error: ErrorView | null;
}

/**
 * The exit code of a command over hosts: 0 when every host answered; with one host, that host's
 * own error code (25 for a refused token, 31 unreachable...); with several, 32
 * (RESTORE_ERR_FLEET_INCOMPLETE). The error line goes to stderr.
 */
export function exitForHosts(answers: HostAnswer[]): number {
  const bad = answers.filter((a) => !a.ok);
  if (!bad.length) return 0;
  if (answers.length === 1) {
    const e = bad[0]!.error ?? { code: 'RESTORE_ERR_INTERNAL', message: `${bad[0]!.host}: failed`, hint: '' };
    errorLine(e.code, e.message);
    return exitOf(e.code);
  }
  errorLine(
    'RESTORE_ERR_FLEET_INCOMPLETE',
    `${bad.length} of ${answers.length} hosts failed: ${bad.map((b) => `${b.host} (${b.error?.code ?? 'failed'})`).join(', ')}`,
  );
  return ERROR_CATALOGUE.RESTORE_ERR_FLEET_INCOMPLETE.exit;
}

/** The same for a fleet restore, where an interruption (Ctrl-C) ends with 130 whatever else happened. */
export function exitForRestore(results: HostResult[], interrupted: boolean): number {
  const bad = results.filter((r) => !isOk(r));
  if (!bad.length) return 0;
  if (interrupted) {
    errorLine(
      'RESTORE_ERR_CANCELLED',
      `interrupted: ${bad.length} of ${results.length} hosts did not finish here (the summary says which are still running on their agents)`,
    );
    return ERROR_CATALOGUE.RESTORE_ERR_CANCELLED.exit;
  }
  if (results.length === 1) {
    const r = bad[0]!;
    const e = r.error ?? { code: 'RESTORE_ERR_INTERNAL', message: `${r.host}: ${r.result}`, hint: '' };
    errorLine(e.code, e.message);
    return exitOf(e.code);
  }
  errorLine(
    'RESTORE_ERR_FLEET_INCOMPLETE',
    `${bad.length} of ${results.length} hosts did not succeed: ${bad.map((b) => `${b.host} ${b.result}${b.error ? ` (${b.error.code})` : ''}`).join(', ')}`,
  );
  return ERROR_CATALOGUE.RESTORE_ERR_FLEET_INCOMPLETE.exit;
}
