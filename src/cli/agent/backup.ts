import path from 'node:path';
import type { Command } from 'commander';
import { createBackup } from '../../runbook/backup/create-backup.js';
import { formatBytes, formatMs } from '../../lib/format.js';
import { openRunStore } from '../../runbook/store/open-run-store.js';
import { QuadletTarget } from '../../targets/quadlet/quadlet-target.js';
import { action, type CommandContext } from './command-context.js';
import { parseWholeNumber } from '../common/numbers.js';

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description(
      'Back up Flight Control in its own archive format (flightctl-backup compatible), while the services run; the archive and its .sha256 go to --backup-dir',
    )
    .option('--keep <n>', 'then keep only the newest n archives (default: all)', parseWholeNumber(10_000))
    .action(
      action(async (ctx: CommandContext, opts: { keep?: number }) => {
        const { config } = ctx;
        const target = new QuadletTarget(config.host, config.db.user, config.flightctl.etcDir);
        const store = await openRunStore(config, ctx.logger);
        try {
          const outputDir = path.resolve(config.backup.outputDir || path.join(config.host.stateDir, 'backups'));
          const r = await createBackup({ config, logger: ctx.logger, target, store }, outputDir, opts.keep ?? config.backup.keep);
          if (ctx.json) return ctx.print(`${JSON.stringify(r)}\n`);
          ctx.print(`${r.archive}\n  ${formatBytes(r.bytes)} in ${formatMs(r.durationMs)}; sha256 ${r.sha256}\n`);
          ctx.print(
            `  Flight Control ${r.version}, ${r.databaseIncluded ? `database ${formatBytes(r.contents.dumpBytes ?? 0)}` : 'external database (not included)'}, ${r.contents.pkiFiles} PKI files, ${r.contents.encryptionFiles} encryption files${r.contents.pamVolume ? ', PAM issuer volume' : ''}\n`,
          );
          for (const old of r.removed) ctx.print(`  removed older ${old}\n`);
        } finally {
          store.close();
          target.close();
        }
      }),
    );
}
