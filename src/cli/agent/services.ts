import type { Command } from 'commander';
import type { ServiceChange } from '../../targets/target.js';
import { withQuadletHost } from '../../targets/quadlet/host.js';
import { describeServices, startApplications, stopApplications } from '../../targets/quadlet/services.js';
import { action, locked, type CommandContext } from './command-context.js';
import { reportFailure } from '../common/errors.js';

function printChanges(ctx: CommandContext, verb: string, changes: ServiceChange[]): void {
  const failed = changes.filter((c) => c.action === 'failed');
  if (ctx.json) ctx.print(`${JSON.stringify({ [verb]: changes, ok: failed.length === 0 })}\n`);
  else {
    for (const c of changes) ctx.print(`${c.unit.padEnd(40)} ${c.action.padEnd(18)} ${c.activeState}/${c.subState}${c.result ? ` (job ${c.result})` : ''}\n`);
  }
  if (failed.length) {
    const timedOut = failed.some((c) => c.result === 'timeout');
    const code = timedOut ? 'RESTORE_ERR_UNIT_TIMEOUT' : 'RESTORE_ERR_UNIT_JOB_FAILED';
    reportFailure(code, failed.map((c) => `${c.unit} (${c.result})`).join(', '));
  }
}

export function registerServices(program: Command): void {
  const services = program
    .command('services')
    .description('Flight Control units on this Quadlets host: states, quadlet files, drop-ins in effect')
    .action(
      action(async (ctx: CommandContext) => {
        const report = await withQuadletHost(ctx.config.host, (host) => describeServices(host));
        if (ctx.json) return ctx.print(`${JSON.stringify({ services: report })}\n`);
        for (const s of report) {
          ctx.print(`${s.unit.padEnd(38)} ${s.loadState.padEnd(9)} ${s.activeState}/${s.subState}  ${s.sourcePath || '-'}\n`);
          for (const d of [...s.dropIns, ...s.quadletDropIns.map((q) => q.file)]) ctx.print(`${''.padEnd(38)} drop-in ${d}\n`);
        }
      }),
    );

  // A restore run must not find its units stopped or started under it: one mutation at a time.
  services
    .command('stop')
    .description('Stop the application units concurrently (db and kv keep running); remembers what it stopped')
    .action(
      action(async (ctx: CommandContext) => {
        printChanges(ctx, 'stop', await locked(ctx, 'services stop', () => withQuadletHost(ctx.config.host, (host) => stopApplications(host))));
      }),
    );

  services
    .command('start')
    .description('Start what "services stop" stopped, also from an earlier invocation')
    .action(
      action(async (ctx: CommandContext) => {
        printChanges(ctx, 'start', await locked(ctx, 'services start', () => withQuadletHost(ctx.config.host, (host) => startApplications(host))));
      }),
    );
}
