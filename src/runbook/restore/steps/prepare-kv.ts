import { defineStep, type StepOutcome } from '../../step.js';
import { loadsDump, type RestoreContext } from '../context.js';
import { ensureLiveKeys, kvIsComplete } from './live-database.js';

/** FLUSHALL and the keys of the live database, verified: the KV part of Flight Control's preparation. */
async function writeKeys(ctx: RestoreContext): Promise<StepOutcome> {
  const r = await ctx.data.writeKeys(ctx.names.live, (written, expected) => ctx.progress({ done: written, total: expected, unit: 'keys' }), ctx.signal);
  ctx.state.kvKeys = r.keys;
  const how = r.method === 'write' ? '' : " through the KV store's own client";
  return { changed: true, msg: `flushed the KV store and wrote ${r.keys} awaiting-reconnect keys${how}, verified`, data: { keys: r.keys, method: r.method } };
}

/**
 * The keys of the restored devices in the KV store, inside the stop window: the staged ones
 * swapped in (SWAPDB, constant time), else written here. Completed after an interruption by
 * checking them (where the store can be compared) and writing them all again otherwise.
 */
export const prepareKvStep = defineStep<RestoreContext>({
  name: 'prepare-kv',
  async check(ctx) {
    if (loadsDump(ctx)) {
      const staged = !ctx.target.reachingDatabaseRestartsIt && ctx.config.kv.stagingDb !== 0;
      return {
        changed: true,
        msg: staged
          ? `would swap the staged keys in (SWAPDB 0 ${ctx.config.kv.stagingDb}) and empty the rest`
          : 'would flush the KV store and write the keys of the restored devices',
      };
    }
    if (!ctx.canConnect())
      return { changed: true, msg: 'would flush the KV store and write the keys (not compared: the store is reached only inside the stop window here)' };
    const c = await ctx.data.keys(ctx.names.live, ctx.signal);
    if (!c) return { changed: true, msg: 'would flush the KV store and write the keys (not compared: the store is reached through its own client)' };
    return kvIsComplete(c)
      ? { changed: false, msg: `the KV store holds exactly the ${c.expected} awaiting-reconnect keys`, data: { ...c } }
      : { changed: true, msg: `would flush the KV store and write ${c.expected} keys (${c.present} present, ${c.other} other keys)`, data: { ...c } };
  },
  async apply(ctx) {
    if (ctx.state.nothingToDo || ctx.state.kvComplete) return { changed: false, msg: 'the KV store already holds exactly the awaiting-reconnect keys' };
    const staged = ctx.state.staged;
    if (staged) {
      const out = await ctx.data.swapInStaged(staged.db, staged.keys);
      if (out.swapped) {
        ctx.state.kvKeys = out.keys;
        return {
          changed: true,
          msg: `swapped in ${out.keys} staged keys (SWAPDB 0 ${staged.db}) and emptied the rest`,
          data: { keys: out.keys, method: 'swapdb' },
        };
      }
      if (out.lost)
        ctx.fault({
          kind: 'kv-keys-lost',
          code: 'RESTORE_ERR_KV_VERIFY',
          message: `${out.reason} (the KV store restarted since, or was emptied)`,
          action: 'the keys are written instead',
        });
      else ctx.warn(`${out.reason}: writing the keys instead`);
    }
    return writeKeys(ctx);
  },
  complete: ensureLiveKeys,
});
