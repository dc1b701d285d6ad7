import { RestoreError } from '../../../lib/errors.js';
import { defineStep } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { formatMs } from '../../../lib/format.js';
import { runningServices } from './stop-services.js';
import { closeWindowLease, servicesError } from './window.js';
import { keysStillThere } from './live-database.js';

/** Closes the stop window: what published the data stores goes, then what stop-services stopped starts. */
export const startServicesStep = defineStep<RestoreContext>({
  name: 'start-services',
  async check(ctx) {
    if (ctx.state.windowWork === false) return { changed: false, msg: 'nothing was stopped' };
    const units = [...new Set([...(await ctx.target.stoppedByAgent()), ...(await runningServices(ctx))])];
    return { changed: units.length > 0, msg: units.length ? `would start ${units.join(', ')} again` : 'nothing to start', data: { units } };
  },
  async apply(ctx) {
    const rewritten = await keysStillThere(ctx);
    const again = rewritten === undefined ? '' : `; the KV store had lost the keys: ${rewritten} keys written again first`;
    const removed = await closeWindowLease(ctx);
    const pending = await ctx.target.stoppedByAgent();
    if (!pending.length) {
      ctx.state.window = false;
      return { changed: removed.length > 0, msg: ctx.state.nothingToDo ? 'nothing was stopped' : 'nothing to start', data: { dropinsRemoved: removed } };
    }
    const changes = await ctx.target.startServices();
    // Left alone on purpose (someone else changed it during the run): say so.
    for (const c of changes) if (c.action === 'not-stopped-by-us' && c.result) ctx.warn(`${c.unit}: ${c.result}`);
    const err = servicesError('start', changes);
    if (err) {
      // The others run; the restore stays in place (it is past its point of no return) and the
      // run's intent stays, so that a later recover starts what would not start now.
      const failed = (err.details.units as string[] | undefined) ?? [];
      for (const unit of failed)
        ctx.fault({
          kind: 'unit-failed',
          code: err.code,
          message: `${unit} did not start`,
          action: 'the other units were started; a later recover starts it again',
        });
      throw new RestoreError(
        err.code,
        `${err.message}; the other units run on the restored data. See journalctl -u ${failed[0] ?? '<unit>'}, fix it, then run flightctl-restore-agent recover`,
        err.details,
      );
    }
    ctx.state.window = false;
    const started = changes.filter((c) => c.action === 'started').map((c) => c.unit);
    if (ctx.state.stoppedAt !== undefined) ctx.run.downtimeMs = Math.round(performance.now() - ctx.state.stoppedAt);
    return {
      changed: true,
      msg: `started ${started.join(', ')}${ctx.run.downtimeMs !== undefined ? `; the services were down ${formatMs(ctx.run.downtimeMs)}` : ''}${again}`,
      data: { started, dropinsRemoved: removed, downtimeMs: ctx.run.downtimeMs, ...(rewritten !== undefined ? { keysWrittenAgain: rewritten } : {}) },
    };
  },
});
