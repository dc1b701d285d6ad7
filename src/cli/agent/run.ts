import { userInfo } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { ERROR_CATALOGUE, RestoreError, type ErrorCode } from '../../lib/errors.js';
import { redactText } from '../../lib/secrets.js';
import { recoveryObstacle } from '../../runbook/restore/recovery.js';
import { recover, runRestore } from '../../runbook/restore/restore.js';
import { openRunStore } from '../../runbook/store/open-run-store.js';
import { openTarget } from '../../targets/open-target.js';
import { action, type CommandContext } from './command-context.js';
import { reportFailure } from '../common/errors.js';
import { abortOnSignals } from '../common/signals.js';
import { jsonPrinter, terminalPrinter } from '../common/run-output.js';

export function requester(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Each wait of a recovery for a server not back yet, on stderr: also when step lines hide the logs. */
function saysWait(why: RestoreError, retryInMs: number): void {
  process.stderr.write(redactText(`recovery waits: ${recoveryObstacle(why)}; trying again in ${(retryInMs / 1000).toFixed(1)} s\n`));
}

interface RunFlags {
  dump?: string;
  archive?: string;
  check?: boolean;
  force?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'Restore Flight Control on this Quadlets host or (--target kubernetes) a cluster: check, load the dump beside the live database, prepare it, then stop, swap, start (docs/restore.md)',
    )
    .option('--dump <file>', 'a pg_dump of the flightctl database (plain SQL or custom format); without it the live database is prepared in place')
    .option('--archive <file>', 'a Flight Control backup archive (flightctl-backup-*.tar.gz, with its .sha256 beside it)')
    .option('--check', 'report what a real run would change; stop, write and rename nothing')
    .option('--force', 'go on when the running Flight Control or the dump is of a version this agent does not support')
    .action(
      action(
        async (ctx: CommandContext, opts: RunFlags) => {
          const json = ctx.json;
          const printer = json ? jsonPrinter(ctx.print) : terminalPrinter(ctx.print);
          if (opts.archive && ctx.config.target === 'kubernetes') {
            throw new RestoreError('RESTORE_ERR_USAGE', 'archive restores are not supported on Kubernetes: restore its db/dump.sql with --dump');
          }
          // The step lines carry what the info and warning logs would repeat.
          if (!json && ctx.config.log.level === 'info') ctx.logger.level = 'error';
          const target = await openTarget(ctx.config);
          const store = await openRunStore(ctx.config, ctx.logger);
          const signals = abortOnSignals('running the finalizers');
          try {
            const run = await runRestore(
              { config: ctx.config, logger: ctx.logger, target, store, signal: signals.signal, onEvent: (e) => printer.onEvent(e), onRecoveryWait: saysWait },
              {
                dump: opts.dump ? path.resolve(opts.dump) : undefined,
                archive: opts.archive ? path.resolve(opts.archive) : undefined,
                check: opts.check === true,
                force: opts.force === true,
                keepOldDb: ctx.config.restore.keepOldDb,
                requestedBy: requester(),
              },
            );
            if (run.phase !== 'Succeeded' && run.error) {
              const code = (run.error.code in ERROR_CATALOGUE ? run.error.code : 'RESTORE_ERR_INTERNAL') as ErrorCode;
              reportFailure(code, run.error.message);
            }
          } finally {
            signals.dispose();
            store.close();
            target.close();
          }
        },
        // In a Job nobody is at a terminal, and `kubectl logs job/...` is read by people: step lines.
        { output: (config) => (config.target === 'kubernetes' ? 'text' : 'auto') },
      ),
    );

  program
    .command('continue <run>')
    .description('Tell a run waiting for its external database (phase WaitingForDatabase) that the database is restored')
    .action(
      action(async (ctx: CommandContext, id: string) => {
        const store = await openRunStore(ctx.config, ctx.logger);
        try {
          // No lock: the waiting run holds it; this only leaves it a note in the journal.
          const run = await store.journal.requestContinue(id);
          if (ctx.json) ctx.print(`${JSON.stringify({ continued: run.id })}\n`);
          else ctx.print(`run ${run.id} goes on: it prepares the restored database and starts the services\n`);
        } finally {
          store.close();
        }
      }),
    );

  program
    .command('recover')
    .description(
      'Finish a run that was interrupted (crash, kill, reboot): start (or scale back) what it stopped, remove drop-ins, roll back or complete the databases',
    )
    .action(
      action(async (ctx: CommandContext) => {
        const target = await openTarget(ctx.config);
        const store = await openRunStore(ctx.config, ctx.logger);
        try {
          const report = await recover({ config: ctx.config, logger: ctx.logger, target, store, onRecoveryWait: saysWait }, `recover (${requester()})`);
          if (ctx.json) return ctx.print(`${JSON.stringify(report)}\n`);
          if (report.ok) ctx.print('ok: nothing to recover\n');
          for (const r of report.recovered) {
            ctx.print(`run ${r.runId}: ${r.phase}\n`);
            for (const a of r.actions) ctx.print(`  ${a}\n`);
          }
          for (const l of report.leftovers) ctx.print(`${l}\n`);
          for (const n of report.notes) ctx.print(`note: ${n}\n`);
        } finally {
          store.close();
          target.close();
        }
      }),
    );
}
