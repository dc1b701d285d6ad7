import type { Command } from 'commander';
import { formatMs } from '../../lib/format.js';
import { openRunStore } from '../../runbook/store/open-run-store.js';
import type { JournalStore } from '../../runbook/store/run-store.js';
import type { Run } from '../../model/run.js';
import { action, type CommandContext } from './command-context.js';
import { formatTook, stepLine, summaryLines } from '../common/run-output.js';

function took(run: Run): string {
  return formatTook(run) ?? '-';
}

export function registerRuns(program: Command): void {
  program
    .command('runs [id]')
    .description('Past restore runs from the journal (newest first); with an id, that run and its events')
    .action(
      action(async (ctx: CommandContext, id: string | undefined) => {
        // Reads never wait for the lock of a running restore.
        const store = await openRunStore(ctx.config, ctx.logger);
        try {
          await printRuns(ctx, store.journal, id);
        } finally {
          store.close();
        }
      }),
    );
}

async function printRuns(ctx: CommandContext, journal: JournalStore, id: string | undefined): Promise<void> {
  const json = ctx.json;
  if (id) {
    const run = await journal.require(id);
    const events = await journal.events(id);
    if (json) return ctx.print(`${JSON.stringify({ run, events })}\n`);
    ctx.print(`run ${run.id} (${run.check ? 'check mode' : 'real'}, requested by ${run.requestedBy}${run.options.dump ? `, dump ${run.options.dump}` : ''})\n`);
    ctx.print(`plan: ${run.plan.join(' → ')}\n`);
    for (const s of run.steps) ctx.print(stepLine(s));
    if (run.currentStep) ctx.print(`  running  ${run.currentStep}\n`);
    ctx.print(summaryLines(run));
    if (run.error) ctx.print(`  error ${run.error.code}: ${run.error.message}\n`);
    if (run.recovery) {
      ctx.print(`  recovered at ${run.recovery.at} by ${run.recovery.by}:\n`);
      for (const a of run.recovery.actions) ctx.print(`    ${a}\n`);
    }
    ctx.print(`\nevents (${events.length}):\n`);
    for (const e of events) {
      const what =
        e.type === 'step-finished'
          ? `${e.step} ${e.result.status}`
          : e.type === 'progress'
            ? `${e.step} ${e.progress.done}${e.progress.total ? `/${e.progress.total}` : ''} ${e.progress.unit}`
            : e.type === 'step-started'
              ? e.step
              : e.run.phase;
      ctx.print(`  ${String(e.seq).padStart(4)} ${e.time} ${e.type.padEnd(13)} ${what}\n`);
    }
    return;
  }
  const runs = await journal.list();
  if (json) return ctx.print(`${JSON.stringify({ runs })}\n`);
  if (!runs.length) return ctx.print(`no runs in ${journal.where}\n`);
  const rows = runs.map((r) => [
    r.id,
    r.phase,
    r.check ? 'check' : 'real',
    r.startedAt.slice(0, 19).replace('T', ' '),
    took(r),
    r.downtimeMs !== undefined ? formatMs(r.downtimeMs) : '-',
    r.error?.code ?? '',
  ]);
  const head = ['ID', 'PHASE', 'MODE', 'STARTED (UTC)', 'TOOK', 'DOWNTIME', 'ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [head, ...rows])
    ctx.print(
      `${row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}
