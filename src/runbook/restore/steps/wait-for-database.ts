import { z } from 'zod';
import { RestoreError } from '../../../lib/errors.js';
import { defineStep } from '../../step.js';
import { externalDatabase, type RestoreContext } from '../context.js';
import { formatMs } from '../../../lib/format.js';
import { markLiveAgain } from './live-database.js';

const POLL_MS = 500;

const intentSchema = z.object({
  /** The operator said the database is restored: from here its devices are being marked. */
  touchedLive: z.boolean(),
});

/**
 * An archive without db/ (Flight Control on an external database): with the services stopped,
 * the operator restores that database with their own tools and says so (`continue RUN`, or POST
 * /v1/restores/{id}/continue); then the live database is prepared. Waiting too long gives up:
 * the services start again and the run fails.
 */
export const waitForDatabaseStep = defineStep<RestoreContext, z.infer<typeof intentSchema>>({
  name: 'wait-for-database',
  skip: (ctx) => (externalDatabase(ctx) ? undefined : ctx.options.archive ? 'the archive includes the database' : 'no --archive'),
  async check(ctx) {
    return {
      changed: true,
      msg: `would wait (at most ${formatMs(ctx.config.restore.databaseWaitTimeoutMs)}) for the external database to be restored, then mark its devices AwaitingReconnect`,
    };
  },
  async apply(ctx) {
    const timeout = ctx.config.restore.databaseWaitTimeoutMs;
    ctx.warn(
      `the archive does not include the database (external database): restore ${ctx.names.live} from your database backup now, then run "flightctl-restore-agent continue ${ctx.run.id}" (or POST /v1/restores/${ctx.run.id}/continue); the run gives up in ${formatMs(timeout)}`,
    );
    await ctx.setPhase('WaitingForDatabase');
    const deadline = performance.now() + timeout;
    try {
      while (!(await ctx.journal.takeContinue(ctx.run.id))) {
        if (ctx.signal.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', 'interrupted while waiting for the external database');
        if (performance.now() > deadline) {
          throw new RestoreError(
            'RESTORE_ERR_DATABASE_WAIT_TIMEOUT',
            `nobody said the external database was restored within ${formatMs(timeout)}; the services start again`,
          );
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      await ctx.setPhase('Running');
    }
    await ctx.record({ touchedLive: true });
    // Reachable and a Flight Control database, or the error says what is wrong with it.
    await ctx.data.reachable(ctx.names.live);
    const r = await ctx.data.markDevices(ctx.names.live, false, ctx.signal);
    return {
      changed: true,
      msg: `the external database was restored; marked ${r.devicesUpdated} devices and ${r.enrollmentRequestsUpdated} enrollment requests AwaitingReconnect`,
      data: { devices: r.devicesUpdated, enrollmentRequests: r.enrollmentRequestsUpdated },
    };
  },
  intent: { schema: intentSchema, before: () => ({ touchedLive: false }) },
  pointOfNoReturn: (_ctx, { touchedLive }) => touchedLive,
  complete: markLiveAgain,
});
