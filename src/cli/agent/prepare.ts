import type { Command } from 'commander';
import { prepare, type PrepareResult } from '../../flightctl/prepare/prepare.js';
import { RestoreError } from '../../lib/errors.js';
import { action, type CommandContext } from './command-context.js';
import { withSignalsDeferred } from '../common/signals.js';
import { dbEndpoint, kvEndpoint } from './connection-options.js';

function describe(r: PrepareResult): string {
  const check = r.checkMode;
  const rows: [string, string | number][] = [
    [check ? 'devices to mark AwaitingReconnect' : 'devices marked AwaitingReconnect', r.devicesUpdated],
    [check ? 'enrollment requests to mark' : 'enrollment requests marked', r.enrollmentRequestsUpdated],
    [check ? 'awaiting-reconnect keys to write' : 'awaiting-reconnect keys written', r.kvKeysWritten],
    ['organizations', r.organizations],
    ['SystemRestored event', r.eventCreated ? (check ? 'would be created' : 'created') : 'none (nothing to change)'],
    ['last_seen kept in', r.schema],
    ['took', `${r.durationMs} ms`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const head = check ? 'Check mode: nothing was changed. A real run would do this:' : 'Devices are prepared to reconnect:';
  return `${head}\n${rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}

export function registerPrepare(program: Command): void {
  program
    .command('prepare')
    .description(
      'Mark every device AwaitingReconnect after a restore: the SQL part in one transaction, then FLUSHALL and one awaiting-reconnect key per device. DB_PASSWORD and KV_PASSWORD come from the environment.',
    )
    .option('--check', 'report what would change and change nothing')
    .option('--sql-only', 'run only the database part (any --db-name, e.g. a restored copy before the swap)')
    .option('--kv-only', 'run only the KV part (flush and write the keys)')
    .action(
      action(async (ctx: CommandContext, opts: { check?: boolean; sqlOnly?: boolean; kvOnly?: boolean }) => {
        if (opts.sqlOnly && opts.kvOnly)
          throw new RestoreError('RESTORE_ERR_USAGE', '--sql-only and --kv-only exclude each other; give neither to run both parts');
        const { config } = ctx;
        // SIGINT/SIGTERM: the SQL transaction commits or rolls back on its own; the KV part
        // stops between batches, and the error says how to finish.
        const result = await withSignalsDeferred('finishing the current transaction or batch of keys', (signal) =>
          prepare({
            signal,
            db: dbEndpoint(ctx),
            kv: kvEndpoint(ctx),
            check: opts.check === true,
            parts: { sql: !opts.kvOnly, kv: !opts.sqlOnly },
            kvBatchSize: config.prepare.kvBatchSize,
            logger: ctx.logger,
          }),
        );
        ctx.print(ctx.json ? `${JSON.stringify(result)}\n` : describe(result));
      }),
    );
}
