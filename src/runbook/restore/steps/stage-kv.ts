import { z } from 'zod';
import { defineStep } from '../../step.js';
import { loadsDump, type RestoreContext } from '../context.js';
import { RECOVERY_BACKOFF, retrying } from '../../../lib/retrying.js';

const intentSchema = z.object({ kvDb: z.number().int().positive() });

/** The restored devices' keys written into a spare KV database while the services run. */
export const stageKvStep = defineStep<RestoreContext, z.infer<typeof intentSchema>>({
  name: 'stage-kv',
  skip(ctx) {
    if (!loadsDump(ctx)) return 'no database is loaded beside the live one: the keys are written in prepare-kv';
    if (ctx.target.reachingDatabaseRestartsIt)
      return 'the KV store is reached only through its own client here: the keys are written in prepare-kv, inside the stop window';
    if (ctx.config.kv.stagingDb === 0) return 'staging is off (kv.stagingDb: 0): the keys are written in prepare-kv';
    return undefined;
  },
  async check(ctx) {
    return {
      changed: true,
      msg: `would write the restored devices' awaiting-reconnect keys into KV database ${ctx.config.kv.stagingDb} while the services run`,
    };
  },
  async apply(ctx) {
    const stagingDb = ctx.config.kv.stagingDb;
    // A KV store that restarts under the staging comes back empty: the staging starts over once it
    // answers again (it empties the spare database first), while the services still run.
    const out = await retrying(
      () => ctx.data.stageKeys(ctx.names.temp, stagingDb, (written, expected) => ctx.progress({ done: written, total: expected, unit: 'keys' }), ctx.signal),
      {
        ...RECOVERY_BACKOFF,
        maxWaitMs: ctx.config.restore.recoveryWaitMs,
        retryIf: (e) => e.code === 'RESTORE_ERR_KV_UNREACHABLE' || e.code === 'RESTORE_ERR_CONTAINER_NOT_RUNNING',
        onWait: (e, delayMs) =>
          ctx.fault({ kind: 'server-unavailable', code: e.code, message: e.message, action: `staging the keys again in ${delayMs / 1000} s` }),
        signal: ctx.signal,
      },
    );
    if (!out.staged) {
      // A store configured with fewer databases has no spare one: write the keys later instead.
      ctx.warn(`the KV store has no database ${stagingDb}: the keys are written in prepare-kv, inside the stop window`);
      await ctx.record(undefined);
      return { changed: false, msg: `no KV database ${stagingDb}; keys are written in prepare-kv` };
    }
    ctx.state.staged = { db: stagingDb, keys: out.keys };
    return {
      changed: true,
      msg: `staged ${out.keys} awaiting-reconnect keys in KV database ${stagingDb}, verified`,
      data: { kvDb: stagingDb, keys: out.keys },
    };
  },
  intent: { schema: intentSchema, before: (ctx) => ({ kvDb: ctx.config.kv.stagingDb }) },
  // Swapped in, the spare database is empty; rolled back or completed without it, it is emptied.
  async release(ctx, { kvDb }) {
    return (await ctx.data.clearStaging(kvDb)) ? [`emptied the spare KV database ${kvDb}`] : [];
  },
});
