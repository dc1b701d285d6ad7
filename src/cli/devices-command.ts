import type { Command } from 'commander';
import { withPostgres } from '../flightctl/datastores/postgres.js';
import { listDevices, summarizeDevices } from '../flightctl/devices/report.js';
import { parseSelector } from '../flightctl/devices/selector.js';
import { action, parseWholeNumber, type CommandContext } from './command-runner.js';
import { dbEndpoint, dbOptions } from './connection-options.js';

function withDb(cmd: Command): Command {
  return dbOptions(cmd).option('--json', 'print JSON');
}

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('Read-only reports on the devices in a Flight Control database');

  withDb(devices.command('summary').description('Count non-deleted devices by status.summary.status')).action(
    action(async (ctx: CommandContext) => {
      const summary = await withPostgres(dbEndpoint(ctx), summarizeDevices);
      if (ctx.json) return ctx.print(`${JSON.stringify(summary)}\n`);
      const width = Math.max(5, ...Object.keys(summary.byStatus).map((s) => s.length));
      const lines = Object.entries(summary.byStatus).map(([status, n]) => `${status.padEnd(width)}  ${n}`);
      ctx.print(`${['STATUS'.padEnd(width) + '  DEVICES', ...lines, `${'total'.padEnd(width)}  ${summary.total}`].join('\n')}\n`);
    }),
  );

  withDb(
    devices
      .command('list')
      .description('List non-deleted devices matching selectors (Kubernetes syntax)')
      .option('-l, --selector <labels>', 'label selector, e.g. "env=prod,region in (a,b),!canary"')
      .option('--field-selector <fields>', 'field selector, e.g. "status.summary.status=ConflictPaused"')
      .option('--limit <n>', 'print at most n devices', parseWholeNumber),
  ).action(
    action(async (ctx: CommandContext, opts: { selector?: string; fieldSelector?: string; limit?: number }) => {
      // Parse first: a malformed selector is reported without touching the database.
      if (opts.selector !== undefined) parseSelector('label', opts.selector);
      if (opts.fieldSelector !== undefined) parseSelector('field', opts.fieldSelector);
      await withPostgres(dbEndpoint(ctx), async (db) => {
        const query = { labelSelector: opts.selector, fieldSelector: opts.fieldSelector, limit: opts.limit };
        if (ctx.json) {
          // Streamed as one JSON array so a large fleet never sits in memory.
          let first = true;
          ctx.print('[');
          for await (const d of listDevices(db, query)) {
            ctx.print(`${first ? '' : ','}\n${JSON.stringify(d)}`);
            first = false;
          }
          ctx.print(first ? ']\n' : '\n]\n');
          return;
        }
        ctx.print('ORG                                   NAME                                      STATUS             UPDATED      LIFECYCLE\n');
        let count = 0;
        for await (const d of listDevices(db, query)) {
          count++;
          ctx.print(`${d.orgId}  ${d.name.padEnd(40)}  ${(d.summaryStatus ?? '-').padEnd(17)}  ${(d.updatedStatus ?? '-').padEnd(11)}  ${d.lifecycleStatus ?? '-'}\n`);
        }
        ctx.print(`${count} device(s)\n`);
      });
    }),
  );
}
