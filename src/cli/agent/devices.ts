import type { Command } from 'commander';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { listDevices } from '../../flightctl/devices/report.js';
import { summarizeDevices } from '../../flightctl/devices/summary-sql.js';
import { parseSelector } from '../../model/selector.js';
import { action, type CommandContext } from './command-context.js';
import { parseWholeNumber } from '../common/numbers.js';
import { dbEndpoint } from './connection-options.js';

/** A longer listing is a typo, not a report; and past 2^63 PostgreSQL refuses the LIMIT (22003) only after output began. */
const MAX_LIST_LIMIT = 10_000_000;

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('Read-only reports on the devices in a Flight Control database');

  devices
    .command('summary')
    .description('Count non-deleted devices by status.summary.status')
    .action(
      action(async (ctx: CommandContext) => {
        const summary = await withPostgres(dbEndpoint(ctx), summarizeDevices);
        if (ctx.json) return ctx.print(`${JSON.stringify(summary)}\n`);
        const width = Math.max(5, ...Object.keys(summary.byStatus).map((s) => s.length));
        const lines = Object.entries(summary.byStatus).map(([status, n]) => `${status.padEnd(width)}  ${n}`);
        ctx.print(`${['STATUS'.padEnd(width) + '  DEVICES', ...lines, `${'total'.padEnd(width)}  ${summary.total}`].join('\n')}\n`);
      }),
    );

  devices
    .command('list')
    .description('List non-deleted devices matching selectors (Kubernetes syntax)')
    .option('-l, --selector <labels>', 'label selector, e.g. "env=prod,region in (a,b),!canary"')
    .option('--field-selector <fields>', 'field selector, e.g. "status.summary.status=ConflictPaused"')
    .option('--limit <n>', `print at most n devices (0 to ${MAX_LIST_LIMIT})`, parseWholeNumber(MAX_LIST_LIMIT))
    .action(
      action(async (ctx: CommandContext, opts: { selector?: string; fieldSelector?: string; limit?: number }) => {
        // Parse first: a malformed selector is reported without touching the database.
        if (opts.selector !== undefined) parseSelector('label', opts.selector);
        if (opts.fieldSelector !== undefined) parseSelector('field', opts.fieldSelector);
        await withPostgres(dbEndpoint(ctx), async (db) => {
          const query = { labelSelector: opts.selector, fieldSelector: opts.fieldSelector, limit: opts.limit };
          const rows = listDevices(db, query);
          if (ctx.json) {
            // Streamed as one JSON array so a large fleet never sits in memory.
            return printRows(rows, {
              start: () => ctx.print('['),
              row: (d, i) => ctx.print(`${i === 0 ? '' : ','}\n${JSON.stringify(d)}`),
              end: (n) => ctx.print(n === 0 ? ']\n' : '\n]\n'),
            });
          }
          return printRows(rows, {
            start: () =>
              ctx.print('ORG                                   NAME                                      STATUS             UPDATED      LIFECYCLE\n'),
            row: (d) =>
              ctx.print(
                `${d.orgId}  ${d.name.padEnd(40)}  ${(d.summaryStatus ?? '-').padEnd(17)}  ${(d.updatedStatus ?? '-').padEnd(11)}  ${d.lifecycleStatus ?? '-'}\n`,
              ),
            end: (n) => ctx.print(`${n} device(s)\n`),
          });
        });
      }),
    );
}

/**
 * Prints nothing until the first read is back (a row, or none): that read runs the query, so a
 * failure there leaves stdout empty, or holding only the JSON error with --json, never a stray
 * table header or an opening "[".
 */
async function printRows<T>(rows: AsyncGenerator<T>, out: { start(): void; row(r: T, i: number): void; end(count: number): void }): Promise<void> {
  try {
    let next = await rows.next();
    out.start();
    let count = 0;
    for (; !next.done; next = await rows.next()) out.row(next.value, count++);
    out.end(count);
  } finally {
    // Closes the cursor when printing stopped early.
    await rows.return(undefined);
  }
}
