import type { Command } from 'commander';
import { isOk, restoreFleet, type HostResult, type RestoreRequest } from '../../client/fleet/restore-fleet.js';
import { parseSerial } from '../../client/fleet/serial.js';
import { RestoreError } from '../../lib/errors.js';
import { parseWholeNumber } from '../common/numbers.js';
import { plainDisplay, terminalDisplay } from './display.js';
import { remoteAction, type RemoteContext } from './remote.js';
import { exitForRestore, ms, table } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface RestoreFlags {
  check?: boolean;
  dump?: string;
  archive?: string;
  force?: boolean;
  keepOldDb?: boolean;
  wait?: boolean;
  maxFail?: number;
  serial?: string[];
}

function summaryCounts(results: HostResult[]): Record<string, number> {
  const counts: Record<string, number> = { total: results.length, succeeded: 0, failed: 0, unreachable: 0, skipped: 0, running: 0, started: 0 };
  for (const r of results) counts[r.result] = (counts[r.result] ?? 0) + 1;
  return counts;
}

function summaryText(results: HostResult[], stopped: string | undefined): string {
  const rows = results.map((r) => [
    r.host,
    r.result,
    r.runId ?? '-',
    r.phase ?? '-',
    r.runId ? String(r.changedSteps.length) : '-',
    ms(r.durationMs),
    ms(r.downtimeMs),
    r.error?.code ?? (r.reason ? `(${r.reason})` : '-'),
  ]);
  const c = summaryCounts(results);
  const parts = ['succeeded', 'started', 'failed', 'unreachable', 'skipped', 'running'].filter((k) => c[k]).map((k) => `${c[k]} ${k}`);
  let out = `\n${table(['HOST', 'RESULT', 'RUN', 'PHASE', 'CHANGED', 'DURATION', 'DOWNTIME', 'ERROR'], rows)}\n${c.total} host${c.total === 1 ? '' : 's'}: ${parts.join(', ')}${stopped ? ` (${stopped})` : ''}\n`;
  for (const r of results) if (r.error) out += `  ${r.host}: ${r.error.code}: ${r.error.message}\n`;
  const running = results.filter((r) => r.result === 'running' || r.result === 'started');
  if (running.some((r) => r.result === 'running')) {
    out += `still running on their agents (they finish safely there): ${running.map((r) => `${r.host} (run ${r.runId})`).join(', ')}; follow one with: flightctl-restorectl events RUN --host ...\n`;
  }
  return out;
}

function checkFlags(flags: RestoreFlags): void {
  if (flags.dump !== undefined && flags.archive !== undefined) throw new RestoreError('RESTORE_ERR_USAGE', 'give --dump or --archive, not both');
  if (flags.maxFail === 0) throw new RestoreError('RESTORE_ERR_USAGE', '--max-fail must be at least 1');
  parseSerial(flags.serial ?? []);
}

async function restore(ctx: RemoteContext, flags: RestoreFlags): Promise<number> {
  const request: RestoreRequest = {};
  if (flags.check) request.check = true;
  if (flags.dump !== undefined) request.dump = flags.dump;
  if (flags.archive !== undefined) request.archive = flags.archive;
  if (flags.force) request.force = true;
  if (flags.keepOldDb) request.keepOldDb = true;
  const serial = parseSerial(flags.serial ?? []);
  // --serial and --max-fail decide from results, so a fleet is always followed.
  const wait = flags.wait === true || ctx.targets.length > 1;
  const display = process.stderr.isTTY ? terminalDisplay(ctx.targets) : plainDisplay();
  const stopStarting = new AbortController();
  const detach = new AbortController();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = true;
    if (!stopStarting.signal.aborted && signal === 'SIGINT') {
      stopStarting.abort();
      display.note(
        `Ctrl-C: no more hosts start. The restores already started keep running on their agents and finish safely there${wait ? '; waiting for them to finish (Ctrl-C again to stop waiting)' : ''}.`,
      );
      return;
    }
    stopStarting.abort();
    if (!detach.signal.aborted) {
      detach.abort();
      display.note(
        `${signal === 'SIGINT' ? 'Ctrl-C again' : signal}: no longer waiting. Restores that were running go on on their agents and finish safely there.`,
      );
    }
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let outcome;
  try {
    outcome = await restoreFleet(
      ctx.targets,
      { request, wait, forks: ctx.forks, maxFail: flags.maxFail, serial, clientFor: ctx.clientFor, stopStarting: stopStarting.signal, detach: detach.signal },
      display,
    );
  } finally {
    display.stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  const { results, stopped } = outcome;
  if (ctx.output === 'json') {
    ctx.print(
      `${JSON.stringify({ command: 'restore', request, wait, hosts: results, summary: summaryCounts(results), ok: results.every(isOk), stopped: stopped ?? null, interrupted })}\n`,
    );
  } else ctx.print(summaryText(results, stopped));
  return exitForRestore(results, interrupted);
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('Start a restore on every target (with a fleet: in batches, a few at a time, followed live) and print a summary')
    .option('--check', 'report what a restore would change; change nothing')
    .option('--dump <name>', "a pg_dump file name inside the agent's import directory")
    .option('--archive <name>', "a backup archive name: in the agent's import directory, or as `backups` lists it")
    .option('--force', 'go on when the version check fails')
    .option('--keep-old-db', 'keep the replaced database as <db>_old_<id>')
    .option('--wait', 'follow each run to its end (always on with more than one host)')
    .option('--max-fail <n>', 'start no more hosts once this many failed or were unreachable', parseWholeNumber(100_000))
    .option(
      '--serial <size>',
      "batches like Ansible's serial: a number or a percentage, repeatable (--serial 1 --serial 100%: one canary, then the rest)",
      collect,
    )
    .action(
      remoteAction(
        (ctx, opts) => restore(ctx, opts as RestoreFlags),
        (opts) => checkFlags(opts as RestoreFlags),
      ),
    );
}
