import { z } from 'zod';
import { defineStep } from '../../step.js';
import { externalDatabase, loadsDump, type RestoreContext } from '../context.js';
import { markLiveAgain } from './live-database.js';

/** The database this run prepares: the loaded copy before the swap, or the live one without a dump. */
function preparedDatabase(ctx: RestoreContext): string {
  return loadsDump(ctx) ? ctx.names.temp : ctx.names.live;
}

const intentSchema = z.object({ database: z.string() });

/**
 * The SQL part of Flight Control's preparation: every device of the loaded copy marked
 * AwaitingReconnect while the services run; without a dump, the live database itself, inside the
 * stop window (from then on the run is completed, never rolled back).
 */
export const prepareDatabaseStep = defineStep<RestoreContext, z.infer<typeof intentSchema>>({
  name: 'prepare-database',
  skip: (ctx) => (externalDatabase(ctx) ? 'external database: it is prepared in wait-for-database, once the operator has restored it' : undefined),
  async check(ctx) {
    if (loadsDump(ctx)) return { changed: true, msg: `would mark every device of ${ctx.names.temp} AwaitingReconnect (counted once it is loaded)` };
    if (!ctx.canConnect())
      return {
        changed: true,
        msg: `would mark the devices of ${ctx.names.live} AwaitingReconnect (not counted: the database is reached only inside the stop window, where reaching it restarts it)`,
      };
    const counts = await ctx.data.markDevices(ctx.names.live, true);
    const changed = counts.devicesUpdated + counts.enrollmentRequestsUpdated > 0;
    return {
      changed,
      msg: changed
        ? `would mark ${counts.devicesUpdated} devices and ${counts.enrollmentRequestsUpdated} enrollment requests of ${ctx.names.live} AwaitingReconnect`
        : `every device of ${ctx.names.live} is already marked`,
      data: { devices: counts.devicesUpdated, enrollmentRequests: counts.enrollmentRequestsUpdated },
    };
  },
  async apply(ctx) {
    if (ctx.state.nothingToDo) return { changed: false, msg: `every device of ${ctx.names.live} is already marked` };
    const database = preparedDatabase(ctx);
    const r = await ctx.data.markDevices(database, false, ctx.signal);
    const changed = r.devicesUpdated + r.enrollmentRequestsUpdated > 0;
    return {
      changed,
      msg: changed
        ? `marked ${r.devicesUpdated} devices and ${r.enrollmentRequestsUpdated} enrollment requests of ${database} AwaitingReconnect${r.eventCreated ? ', SystemRestored event recorded' : ''}`
        : `every device of ${database} is already marked`,
      data: { database, devices: r.devicesUpdated, enrollmentRequests: r.enrollmentRequestsUpdated, schema: r.schema, eventCreated: r.eventCreated },
    };
  },
  intent: {
    schema: intentSchema,
    before: (ctx) => (ctx.state.nothingToDo ? undefined : { database: preparedDatabase(ctx) }),
  },
  // The live database itself: from its first marked device on, only completing is safe.
  pointOfNoReturn: (ctx, { database }) => database === ctx.names.live,
  complete: markLiveAgain,
});
