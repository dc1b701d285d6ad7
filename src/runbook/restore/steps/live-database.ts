import type { KvCheck } from '../data-stores.js';
import type { RestoreContext } from '../context.js';

export function kvIsComplete(c: KvCheck | undefined): boolean {
  return !!c && c.present === c.expected && c.other === 0;
}

/** Past the point of no return without a dump: the live database's devices all marked (idempotent). */
export async function markLiveAgain(ctx: RestoreContext): Promise<string[]> {
  const r = await ctx.data.markDevices(ctx.names.live, false);
  return [`completed the preparation of ${ctx.names.live}: ${r.devicesUpdated} more devices marked`];
}

/**
 * Past the point of no return the live database holds (or may hold) marked devices: without their
 * keys they would wait forever. The keys are left alone only when provably complete (that needs
 * the store over the network), else flushed and written again.
 */
export async function ensureLiveKeys(ctx: RestoreContext): Promise<string[]> {
  const live = ctx.names.live;
  if (kvIsComplete(await ctx.data.keys(live))) return [`${live} is the prepared, restored database and the KV store holds its keys`];
  const { keys } = await ctx.data.writeKeys(live);
  return [`completed the preparation of ${live}: ${keys} awaiting-reconnect keys written`];
}

/**
 * Right before the services start: the KV store still holds the keys prepare-kv left. One that
 * restarted since comes back empty (Flight Control runs it without persistence), and the marked
 * devices would then wait for ever: their keys are written again first. DBSIZE costs nothing
 * inside the window; nothing else writes to the store while the services are stopped.
 */
export async function keysStillThere(ctx: RestoreContext): Promise<number | undefined> {
  const expected = ctx.state.kvKeys;
  if (expected === undefined || !ctx.canConnect()) return undefined;
  const size = await ctx.data.kvSize();
  if (size === undefined || size === expected) return undefined;
  ctx.fault({
    kind: 'kv-keys-lost',
    code: 'RESTORE_ERR_KV_VERIFY',
    message: `the KV store holds ${size} keys where prepare-kv left ${expected} (it restarted since, or was emptied)`,
    action: 'the keys are written again before the services start',
  });
  const { keys } = await ctx.data.writeKeys(ctx.names.live, undefined, ctx.signal);
  ctx.state.kvKeys = keys;
  return keys;
}
