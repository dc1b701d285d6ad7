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
