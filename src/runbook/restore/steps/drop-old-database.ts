import { ident } from '../../../flightctl/database/swap-sql.js';
import { defineStep } from '../../step.js';
import { loadsDump, type RestoreContext } from '../context.js';

/** The previous database goes once the restored one runs (kept with --keep-old-db; a settled run keeps it too). */
export const dropOldDatabaseStep = defineStep<RestoreContext>({
  name: 'drop-old-database',
  skip(ctx) {
    if (!loadsDump(ctx)) return 'no database was loaded: no previous database to drop';
    if (ctx.options.keepOldDb) return `kept ${ctx.names.old} (--keep-old-db); drop it with DROP DATABASE ${ident(ctx.names.old)} when satisfied`;
    return undefined;
  },
  async check(ctx) {
    return { changed: true, msg: `would drop ${ctx.names.old} once the restored database runs` };
  },
  async apply(ctx) {
    await ctx.data.drop(ctx.names.old);
    return { changed: true, msg: `dropped the previous database ${ctx.names.old}` };
  },
});
