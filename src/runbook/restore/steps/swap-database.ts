import { z } from 'zod';
import { ident } from '../../../flightctl/database/swap-sql.js';
import { RestoreError } from '../../../lib/errors.js';
import { defineStep } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { noDump } from './load-dump.js';

const intentSchema = z.object({ live: z.string(), temp: z.string(), old: z.string() });

/**
 * `<db>` becomes the restored database and the previous one `<db>_old_<id>`, both renames in one
 * transaction: `<db>` always exists and is one or the other. This is the point of no return of a
 * restore with a dump.
 */
export const swapDatabaseStep = defineStep<RestoreContext, z.infer<typeof intentSchema>>({
  name: 'swap-database',
  skip: noDump,
  async check(ctx) {
    const { live, temp, old } = ctx.names;
    return { changed: true, msg: `would rename ${live} to ${old} and ${temp} to ${live}, in one transaction` };
  },
  async apply(ctx) {
    const { live, temp, old } = ctx.names;
    await ctx.data.swap(ctx.names, ctx.config.restore.swapTimeoutMs);
    const exist = await ctx.data.existing([live, temp, old]);
    if (!exist.has(live) || !exist.has(old) || exist.has(temp)) {
      throw new RestoreError('RESTORE_ERR_INTERNAL', `after the swap the databases are ${[...exist].join(', ') || 'none'}; expected ${live} and ${old}`);
    }
    return { changed: true, msg: `${live} is now the restored database; the previous one is ${old}`, data: { live, old } };
  },
  intent: { schema: intentSchema, before: (ctx) => ({ ...ctx.names }) },
  // The temporary database is renamed away in the same transaction as the live one: while it is
  // still there, the swap did not commit.
  async pointOfNoReturn(ctx, { live, temp }) {
    const exist = await ctx.data.existing([live, temp]);
    return exist.has(live) && !exist.has(temp);
  },
  async undo(ctx, { live, temp, old }) {
    const exist = await ctx.data.existing([live, temp, old]);
    if (exist.has(live)) return [];
    // Cannot happen with the one-transaction swap, but never leave the host without its database.
    if (exist.has(old)) {
      await ctx.data.renameBack(ctx.names);
      return [`renamed ${old} back to ${live}`];
    }
    throw new RestoreError('RESTORE_ERR_RECOVERY_INCOMPLETE', `neither ${live} nor a previous copy of it exists; restore it by hand`);
  },
  // What a run that did not reach drop-old-database leaves: said, with how to drop it.
  async release(ctx, { old }) {
    if (!(await ctx.data.existing([old])).has(old)) return [];
    return [`kept the previous database as ${old}: drop it when the restored one is confirmed (DROP DATABASE ${ident(old)})`];
  },
});
