import { defineStep } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { formatMs } from '../../../lib/format.js';
import { runningServices } from './stop-services.js';
import { closeWindowLease, servicesError } from './window.js';

/** Closes the stop window: what published the data stores goes, then what stop-services stopped starts. */
export const startServicesStep = defineStep<RestoreContext>({
  name: 'start-services',
  async check(ctx) {
    if (ctx.state.windowWork === false) return { changed: false, msg: 'nothing was stopped' };
    const units = [...new Set([...(await ctx.target.stoppedByAgent()), ...(await runningServices(ctx))])];
    return { changed: units.length > 0, msg: units.length ? `would start ${units.join(', ')} again` : 'nothing to start', data: { units } };
  },
  async apply(ctx) {
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
    if (err) throw err;
    ctx.state.window = false;
    const started = changes.filter((c) => c.action === 'started').map((c) => c.unit);
    if (ctx.state.stoppedAt !== undefined) ctx.run.downtimeMs = Math.round(performance.now() - ctx.state.stoppedAt);
    return {
      changed: true,
      msg: `started ${started.join(', ')}${ctx.run.downtimeMs !== undefined ? `; the services were down ${formatMs(ctx.run.downtimeMs)}` : ''}`,
      data: { started, dropinsRemoved: removed, downtimeMs: ctx.run.downtimeMs },
    };
  },
});
