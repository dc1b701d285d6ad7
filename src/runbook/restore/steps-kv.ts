import type { Logger } from 'winston';
import { connectKv, type KvEndpoint } from '../../flightctl/datastores/kv.js';
import { withPostgres, type PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import { writeKeysThroughShell } from '../../flightctl/prepare/kv-pipe.js';
import type { RestoreTarget } from '../../targets/target.js';
import { checkAwaitingReconnectKeys, type KvCheck } from '../../flightctl/prepare/kv-keys.js';
import { stageAwaitingReconnectKeys, swapInStagedKeys } from '../../flightctl/prepare/kv-staging.js';
import { prepare } from '../../flightctl/prepare/prepare.js';
import { isRestoreError } from '../../lib/errors.js';
import type { Step, StepOutcome } from '../runner.js';
import { loadsDump, type RestoreContext } from './context.js';

/**
 * Read-only: what the KV store holds against what the live database's devices need; undefined
 * when the store is not reachable over the network (only its own client, which cannot compare).
 */
export async function checkKv(ctx: RestoreContext): Promise<KvCheck | undefined> {
  const ep = await ctx.endpoints();
  const kvEp = await ctx.kvEndpoint(ep);
  if (!kvEp) return undefined;
  const redis = await connectKv(kvEp, ctx.logger);
  try {
    return await withPostgres(await ctx.dbEndpoint(ep, ctx.names.live), (db) =>
      checkAwaitingReconnectKeys(db, redis, { kvEndpoint: kvEp, batchSize: ctx.config.prepare.kvBatchSize, signal: ctx.signal }),
    );
  } finally {
    redis.disconnect();
  }
}

export function kvIsComplete(c: KvCheck | undefined): boolean {
  return !!c && c.present === c.expected && c.other === 0;
}

/**
 * FLUSHALL and the keys of `database`, verified: the KV part of Flight Control's preparation,
 * over the network when the store is reachable, else through its own client.
 */
export async function writeAllKeys(
  deps: { target: RestoreTarget; db: PostgresEndpoint; kv?: KvEndpoint | undefined; batchSize: number; logger: Logger; signal?: AbortSignal | undefined },
  onKeys?: (written: number, expected: number) => Promise<void> | void,
): Promise<number> {
  if (!deps.kv) {
    return withPostgres(deps.db, (db) => writeKeysThroughShell(db, deps.target.kvShell, { batchSize: deps.batchSize, signal: deps.signal, onProgress: onKeys }));
  }
  const r = await prepare({ db: deps.db, kv: deps.kv, check: false, parts: { sql: false, kv: true }, kvBatchSize: deps.batchSize, logger: deps.logger, signal: deps.signal, onKeys });
  return r.kvKeysWritten;
}

export const stageKvStep: Step<RestoreContext> = {
  name: 'stage-kv',
  skip(ctx) {
    if (!loadsDump(ctx)) return 'no database is loaded beside the live one: the keys are written in prepare-kv';
    if (ctx.target.disruptiveEndpoints) return 'publish-dropin: the keys are written in prepare-kv, inside the stop window';
    if (ctx.config.kv.stagingDb === 0) return 'staging is off (kv.stagingDb: 0): the keys are written in prepare-kv';
    return undefined;
  },
  async check(ctx) {
    return { changed: true, msg: `would write the restored devices' awaiting-reconnect keys into KV database ${ctx.config.kv.stagingDb} while the services run` };
  },
  async apply(ctx) {
    const stagingDb = ctx.config.kv.stagingDb;
    await ctx.intent.update((i) => (i.kvStagingDb = stagingDb));
    const ep = await ctx.endpoints();
    const kv = (await ctx.kvEndpoint(ep))!; // staging runs only where the store is reachable
    let keys: number;
    try {
      keys = await withPostgres(await ctx.dbEndpoint(ep, ctx.names.temp), (db) =>
        stageAwaitingReconnectKeys(db, {
          kv,
          stagingDb,
          batchSize: ctx.config.prepare.kvBatchSize,
          signal: ctx.signal,
          logger: ctx.logger,
          onProgress: (written, expected) => ctx.progress({ done: written, total: expected, unit: 'keys' }),
        }),
      );
    } catch (err) {
      // A store configured with fewer databases has no spare one: write the keys later instead.
      if (isRestoreError(err) && /DB index is out of range/i.test(err.message)) {
        ctx.warn(`the KV store has no database ${stagingDb}: the keys are written in prepare-kv, inside the stop window`);
        await ctx.intent.update((i) => (i.kvStagingDb = undefined));
        return { changed: false, msg: `no KV database ${stagingDb}; keys are written in prepare-kv` };
      }
      throw err;
    }
    ctx.state.staged = { db: stagingDb, keys };
    return { changed: true, msg: `staged ${keys} awaiting-reconnect keys in KV database ${stagingDb}, verified`, data: { kvDb: stagingDb, keys } };
  },
};

/** FLUSHALL and the keys of the live database, verified: the KV part of Flight Control's preparation. */
async function writeKeys(ctx: RestoreContext): Promise<StepOutcome> {
  const ep = await ctx.endpoints();
  const kv = await ctx.kvEndpoint(ep);
  const keys = await writeAllKeys(
    { target: ctx.target, db: await ctx.dbEndpoint(ep, ctx.names.live), kv, batchSize: ctx.config.prepare.kvBatchSize, logger: ctx.logger, signal: ctx.signal },
    (written, expected) => ctx.progress({ done: written, total: expected, unit: 'keys' }),
  );
  const how = kv ? '' : " through the KV store's own client";
  return { changed: true, msg: `flushed the KV store and wrote ${keys} awaiting-reconnect keys${how}, verified`, data: { keys, method: kv ? 'write' : 'client-pipe' } };
}

export const prepareKvStep: Step<RestoreContext> = {
  name: 'prepare-kv',
  async check(ctx) {
    if (loadsDump(ctx)) {
      const staged = !ctx.target.disruptiveEndpoints && ctx.config.kv.stagingDb !== 0;
      return { changed: true, msg: staged ? `would swap the staged keys in (SWAPDB 0 ${ctx.config.kv.stagingDb}) and empty the rest` : 'would flush the KV store and write the keys of the restored devices' };
    }
    if (!ctx.canConnect()) return { changed: true, msg: 'would flush the KV store and write the keys (not compared: with publish-dropin the store is reached only inside the stop window)' };
    const c = await checkKv(ctx);
    if (!c) return { changed: true, msg: 'would flush the KV store and write the keys (not compared: the store is reached through its own client)' };
    return kvIsComplete(c)
      ? { changed: false, msg: `the KV store holds exactly the ${c.expected} awaiting-reconnect keys`, data: { ...c } }
      : { changed: true, msg: `would flush the KV store and write ${c.expected} keys (${c.present} present, ${c.other} other keys)`, data: { ...c } };
  },
  async apply(ctx) {
    if (ctx.state.nothingToDo || ctx.state.kvComplete) return { changed: false, msg: 'the KV store already holds exactly the awaiting-reconnect keys' };
    const staged = ctx.state.staged;
    if (staged) {
      const out = await swapInStagedKeys((await ctx.kvEndpoint(await ctx.endpoints()))!, staged.db, staged.keys);
      if (out.swapped) {
        await ctx.intent.update((i) => (i.kvStagingDb = undefined));
        return { changed: true, msg: `swapped in ${out.keys} staged keys (SWAPDB 0 ${staged.db}) and emptied the rest`, data: { keys: out.keys, method: 'swapdb' } };
      }
      ctx.warn(`${out.reason}: writing the keys instead`);
    }
    const result = await writeKeys(ctx);
    if (staged) await ctx.intent.update((i) => (i.kvStagingDb = undefined));
    return result;
  },
};
