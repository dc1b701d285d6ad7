import { z } from 'zod';
import { defineStep } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { formatMs } from '../../../lib/format.js';
import { kvIsComplete } from './live-database.js';
import { prepareDatabaseStep } from './prepare-database.js';
import { closeWindow, servicesError } from './window.js';

/**
 * Without a dump, a run on a host that is already prepared has nothing to do while the services
 * are stopped, so it stops nothing: the same checks as the later steps decide.
 */
async function windowHasWork(ctx: RestoreContext): Promise<boolean> {
  if (ctx.options.dump || ctx.options.archive || !ctx.canConnect()) return true;
  if (ctx.state.windowWork !== undefined) return ctx.state.windowWork;
  const db = await prepareDatabaseStep.check(ctx);
  if (!db.changed) ctx.state.kvComplete = kvIsComplete(await ctx.data.keys(ctx.names.live, ctx.signal));
  ctx.state.windowWork = db.changed || !ctx.state.kvComplete;
  return ctx.state.windowWork;
}

export async function runningServices(ctx: RestoreContext): Promise<string[]> {
  return (await ctx.target.services()).filter((s) => s.installed && s.active).map((s) => s.unit);
}

/**
 * Opens the stop window: the application services stop, concurrently; the data stores keep
 * running. The target records which it stopped before it stops them, so whatever happens next
 * (a failure, a signal, a crash) they start again when the window is closed: by start-services,
 * else, once everything else of the run is settled, by this step's `finally`.
 */
export const stopServicesStep = defineStep<RestoreContext, Record<string, never>>({
  name: 'stop-services',
  async check(ctx) {
    if (!(await windowHasWork(ctx))) return { changed: false, msg: 'nothing to change: the services keep running' };
    const running = await runningServices(ctx);
    return {
      changed: running.length > 0,
      msg: running.length ? `would stop ${running.join(', ')}` : 'no application service is running',
      data: { units: running },
    };
  },
  async apply(ctx) {
    if (!(await windowHasWork(ctx))) {
      ctx.state.nothingToDo = true;
      await ctx.record(undefined);
      return { changed: false, msg: 'nothing to change: the services keep running' };
    }
    ctx.state.stoppedAt = performance.now();
    // The window opens before the stop: a service that stopped before another failed is started again.
    ctx.state.window = true;
    const changes = await ctx.target.stopServices();
    const err = servicesError('stop', changes);
    if (err) throw err;
    const stopped = changes.filter((c) => c.action === 'stopped').map((c) => c.unit);
    return {
      changed: stopped.length > 0,
      msg: stopped.length
        ? `stopped ${stopped.length} application services concurrently in ${formatMs(performance.now() - ctx.state.stoppedAt)}: ${stopped.join(', ')}`
        : 'no application service was running',
      data: { stopped, notInstalled: changes.filter((c) => c.action === 'not-installed').map((c) => c.unit) },
    };
  },
  intent: {
    schema: z.record(z.never()),
    before: () => ({}),
    // The services may be down: the window is open for whoever settles the run.
    reload(ctx) {
      ctx.state.window = true;
    },
  },
  async finally(ctx, _recorded, { serveable }) {
    if (!ctx.state.window) return [];
    // A restored database without its keys would leave devices AwaitingReconnect for ever: the
    // services stay down (and held across a reboot) until a later recovery completes the restore.
    if (!serveable)
      return ['the application services stay stopped until the restore is completed: fix what is named above, then run flightctl-restore-agent recover'];
    return closeWindow(ctx);
  },
});
