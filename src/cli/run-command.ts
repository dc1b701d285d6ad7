import { userInfo } from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ERROR_CATALOGUE, RestoreError, type ErrorCode } from '../lib/errors.js';
import { recover, runRestore } from '../runbook/restore/restore.js';
import { openRunStore } from '../runbook/store/open-run-store.js';
import { openTarget } from '../targets/open-target.js';
import { action, reportFailure, type CommandContext } from './command-runner.js';
import { kvOptions } from './connection-options.js';
import { hostOptions } from './host-options.js';
import { jsonPrinter, terminalPrinter } from './run-output.js';

export function requester(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** People at a terminal get lines and bars; anything else (a pipe, a file, --json) gets JSON. */
export function wantsJson(ctx: CommandContext): boolean {
  return ctx.json || process.stdout.isTTY !== true;
}

/**
 * A run on Kubernetes prints step lines unless --json: in a Job nobody is at a terminal, and
 * `kubectl logs job/...` is read by people.
 */
function runWantsJson(ctx: CommandContext): boolean {
  return ctx.config.target === 'kubernetes' ? ctx.json : wantsJson(ctx);
}

/** Where a target is, and on Kubernetes where its journal is (config keys target and kubernetes.*). */
export function targetLocationOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--target <target>', 'what to restore: this Quadlets host (default) or a Kubernetes cluster').choices(['quadlet', 'kubernetes']))
    .option('--kubeconfig <file>', 'Kubernetes: a kubeconfig (default: the service account in a Job, else KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'Kubernetes: a context of the kubeconfig (default: its current one)')
    .option('--namespace <ns>', 'Kubernetes: the namespace of flightctl-api (default flightctl)')
    .option('--internal-namespace <ns>', 'Kubernetes: the namespace of the worker, database and KV store (default: --namespace)')
    .option('--state-namespace <ns>', "Kubernetes: where the run's journal and lock live (default: the internal namespace)");
}

/** Options of the commands that drive a target. */
function targetOptions(cmd: Command): Command {
  return kvOptions(
    targetLocationOptions(cmd)
      .option('--secrets-dir <dir>', 'Kubernetes: Secrets mounted as <dir>/<secret>/<key> (default: read them through the API)')
      .option('--db-host <host>', 'Kubernetes: the database address (default: the flightctl-db Service)')
      .option('--db-port <port>', 'Kubernetes: the database port (default 5432)'),
  );
}

interface RunFlags {
  dump?: string;
  archive?: string;
  check?: boolean;
  force?: boolean;
}

/**
 * SIGINT/SIGTERM end the run at its next safe point and run the finalizers (start what was
 * stopped, remove drop-ins, roll back or complete the databases); a second signal is only noted.
 */
function abortOnSignals(what: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(controller.signal.aborted ? `${sig} again: still ${what}\n` : `${sig} received: stopping at the next safe point, then ${what}\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal) };
}

export function registerRun(program: Command): void {
  targetOptions(hostOptions(
    program
      .command('run')
      .description('Restore Flight Control on this Quadlets host or (--target kubernetes) a cluster: check, load the dump beside the live database, prepare it, then stop, swap, start (see the README)')
      .option('--dump <file>', 'a pg_dump of the flightctl database (plain SQL or custom format); without it the live database is prepared in place')
      .option('--archive <file>', "a Flight Control backup archive (flightctl-backup-*.tar.gz, with its .sha256 beside it)")
      .option('--check', 'report what a real run would change; stop, write and rename nothing')
      .option('--force', 'go on when the running Flight Control or the dump is of a version this agent does not support')
      .option('--keep-old-db', 'keep the pre-restore database as <db>_old_<id> after a successful run')
      .option('--jobs <n>', 'pg_restore jobs for a custom-format dump (default 4)')
      .option('--db-name <name>', 'the database to restore (default flightctl)')
      .option('--strategy <strategy>', 'how the database and KV store are reached: container-ip (default) or publish-dropin'),
  )).action(
    action(async (ctx: CommandContext, opts: RunFlags) => {
      const json = runWantsJson(ctx);
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
          { config: ctx.config, logger: ctx.logger, target, store, signal: signals.signal, onEvent: (e) => printer.onEvent(e) },
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
    }),
  );

  targetLocationOptions(
    program
      .command('continue <run>')
      .description('Tell a run waiting for its external database (phase WaitingForDatabase) that the database is restored')
      .option('--state-dir <dir>', 'where the journal is (default /var/lib/flightctl-restore-agent)')
      .option('--config <file>', 'YAML configuration file')
      .option('--json', 'print JSON'),
  ).action(
    action(async (ctx: CommandContext, id: string) => {
      const store = await openRunStore(ctx.config, ctx.logger);
      try {
        // No lock: the waiting run holds it; this only leaves it a note in the journal.
        const run = await store.journal.requestContinue(id);
        if (wantsJson(ctx)) ctx.print(`${JSON.stringify({ continued: run.id })}\n`);
        else ctx.print(`run ${run.id} goes on: it prepares the restored database and starts the services\n`);
      } finally {
        store.close();
      }
    }),
  );

  targetOptions(hostOptions(
    program.command('recover').description('Finish a run that was interrupted (crash, kill, reboot): start (or scale back) what it stopped, remove drop-ins, roll back or complete the databases'),
  )).action(
    action(async (ctx: CommandContext) => {
      const target = await openTarget(ctx.config);
      const store = await openRunStore(ctx.config, ctx.logger);
      try {
        const report = await recover({ config: ctx.config, logger: ctx.logger, target, store }, `recover (${requester()})`);
        if (wantsJson(ctx)) return ctx.print(`${JSON.stringify(report)}\n`);
        if (report.ok) return ctx.print('ok: nothing to recover\n');
        for (const r of report.recovered) {
          ctx.print(`run ${r.runId}: ${r.phase}\n`);
          for (const a of r.actions) ctx.print(`  ${a}\n`);
        }
        for (const l of report.leftovers) ctx.print(`${l}\n`);
      } finally {
        store.close();
        target.close();
      }
    }),
  );
}
