import { createTempDatabaseSql, dropDatabaseSql, existingDatabasesSql, ident, swapSql } from '../../flightctl/database/swap-sql.js';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { prepare } from '../../flightctl/prepare/prepare.js';
import { detectSchema } from '../../flightctl/prepare/schema.js';
import { checkDatabase } from '../../flightctl/prepare/sql.js';
import { RestoreError, isRestoreError } from '../../lib/errors.js';
import type { Step } from '../runner.js';
import { externalDatabase, loadsDump, type RestoreContext } from './context.js';
import { formatBytes } from './format.js';

export async function existingDatabases(ctx: Pick<RestoreContext, 'target'>, names: string[]): Promise<Set<string>> {
  return new Set((await ctx.target.database.sql(existingDatabasesSql(names))).split('\n').filter(Boolean));
}

const noDump = (ctx: RestoreContext) =>
  loadsDump(ctx) ? undefined : externalDatabase(ctx) ? 'the archive has no database (external database)' : 'no --dump: the live database is prepared in place';

/** A failure of the load is a problem of the dump, unless the database itself ran out of room. */
function asDumpError(err: unknown, file: string): unknown {
  if (!isRestoreError(err)) return err;
  if (['RESTORE_ERR_DB_QUERY', 'RESTORE_ERR_EXEC_FAILED', 'RESTORE_ERR_DB_PERMISSION'].includes(err.code)) {
    return new RestoreError('RESTORE_ERR_DUMP_INVALID', `loading ${file} failed, the temporary database is dropped and nothing else changed: ${err.message}`, { dump: file });
  }
  return err;
}

/** Which schema generation the loaded dump has, read as the superuser inside the container. */
async function restoredSchema(ctx: RestoreContext): Promise<'device_timestamps' | 'devices.last_seen'> {
  const out = await ctx.target.database.sql(
    `SELECT string_agg(table_name || '.' || column_name, ',') FROM information_schema.columns
      WHERE table_schema = 'public' AND ((table_name = 'devices' AND column_name IN ('name', 'last_seen')) OR table_name = 'device_timestamps');\n`,
    { database: ctx.names.temp },
  );
  const cols = new Set(out.trim().split(','));
  if (!cols.has('devices.name')) {
    throw new RestoreError('RESTORE_ERR_DUMP_INVALID', `${ctx.options.dump} is not a Flight Control database dump: it has no devices table`, { dump: ctx.options.dump });
  }
  return cols.has('device_timestamps.last_seen') ? 'device_timestamps' : 'devices.last_seen';
}

export const loadDumpStep: Step<RestoreContext> = {
  name: 'load-dump',
  skip: noDump,
  async check(ctx) {
    const d = ctx.state.dump!;
    return { changed: true, msg: `would create ${ctx.names.temp} and load ${formatBytes(d.size)} (${d.format}) into it while the services run` };
  },
  async apply(ctx) {
    const { names, target } = ctx;
    const dump = ctx.state.dump!;
    await ctx.intent.update((i) => (i.database.temp = names.temp));
    await target.database.sql(createTempDatabaseSql(names));
    if (!(await existingDatabases(ctx, [names.temp])).has(names.temp)) {
      throw new RestoreError('RESTORE_ERR_INTERNAL', `${names.temp} was not created`);
    }
    const t0 = performance.now();
    try {
      await target.database.load(names.temp, dump, {
        jobs: ctx.config.restore.jobs,
        signal: ctx.signal,
        onBytes: (sent) => ctx.progress({ done: sent, total: dump.size, unit: 'bytes' }),
        recordContainerFile: async (file) => {
          await ctx.intent.update((i) => (i.database.containerFile = file));
        },
      });
    } catch (err) {
      throw asDumpError(err, dump.path);
    }
    await ctx.intent.update((i) => (i.database.containerFile = undefined));
    const schema = await restoredSchema(ctx);
    if (ctx.state.runningSchema && schema !== ctx.state.runningSchema) {
      const what = `the dump has Flight Control's ${schema} schema, the running Flight Control expects ${ctx.state.runningSchema}`;
      if (!ctx.options.force) throw new RestoreError('RESTORE_ERR_VERSION_MISMATCH', `${what}: it is a backup of another version`, { schema });
      ctx.warn(`${what}; continuing because of --force`);
    }
    const seconds = (performance.now() - t0) / 1000;
    return {
      changed: true,
      msg: `loaded ${formatBytes(dump.size)} (${dump.format === 'plain' ? 'plain SQL' : `custom format, ${ctx.config.restore.jobs} jobs`}) into ${names.temp} in ${seconds.toFixed(1)} s`,
      data: { database: names.temp, bytes: dump.size, format: dump.format, schema },
    };
  },
};

/** The database this run prepares: the loaded copy before the swap, or the live one without a dump. */
function preparedDatabase(ctx: RestoreContext): string {
  return loadsDump(ctx) ? ctx.names.temp : ctx.names.live;
}

export const prepareDatabaseStep: Step<RestoreContext> = {
  name: 'prepare-database',
  skip: (ctx) => (externalDatabase(ctx) ? 'external database: it is prepared in wait-for-database, once the operator has restored it' : undefined),
  async check(ctx) {
    if (loadsDump(ctx)) return { changed: true, msg: `would mark every device of ${ctx.names.temp} AwaitingReconnect (counted once it is loaded)` };
    if (!ctx.canConnect()) return { changed: true, msg: `would mark the devices of ${ctx.names.live} AwaitingReconnect (not counted: with publish-dropin the database is reached only inside the stop window)` };
    const ep = await ctx.endpoints();
    const counts = await withPostgres(await ctx.dbEndpoint(ep, ctx.names.live), async (c) => checkDatabase(c, await detectSchema(c, ctx.names.live)));
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
    if (!loadsDump(ctx)) await ctx.intent.update((i) => (i.liveTouched = true));
    const ep = await ctx.endpoints();
    const r = await prepare({
      db: await ctx.dbEndpoint(ep, database),
      kv: await ctx.kvEndpoint(ep),
      check: false,
      parts: { sql: true, kv: false },
      kvBatchSize: ctx.config.prepare.kvBatchSize,
      logger: ctx.logger,
      signal: ctx.signal,
    });
    const changed = r.devicesUpdated + r.enrollmentRequestsUpdated > 0;
    return {
      changed,
      msg: changed
        ? `marked ${r.devicesUpdated} devices and ${r.enrollmentRequestsUpdated} enrollment requests of ${database} AwaitingReconnect${r.eventCreated ? ', SystemRestored event recorded' : ''}`
        : `every device of ${database} is already marked`,
      data: { database, devices: r.devicesUpdated, enrollmentRequests: r.enrollmentRequestsUpdated, schema: r.schema, eventCreated: r.eventCreated },
    };
  },
};

export const swapDatabaseStep: Step<RestoreContext> = {
  name: 'swap-database',
  skip: noDump,
  async check(ctx) {
    const { live, temp, old } = ctx.names;
    return { changed: true, msg: `would rename ${live} to ${old} and ${temp} to ${live}, in one transaction` };
  },
  async apply(ctx) {
    const { live, temp, old } = ctx.names;
    await ctx.intent.update((i) => {
      i.liveTouched = true;
      i.database.old = old;
    });
    // No signal: once sent, the transaction commits or rolls back on its own; the finalizers
    // look at which names exist afterwards.
    await ctx.target.database.sql(swapSql(ctx.names, ctx.config.restore.swapTimeoutMs), { timeoutMs: ctx.config.restore.swapTimeoutMs + 30_000 });
    const exist = await existingDatabases(ctx, [live, temp, old]);
    if (!exist.has(live) || !exist.has(old) || exist.has(temp)) {
      throw new RestoreError('RESTORE_ERR_INTERNAL', `after the swap the databases are ${[...exist].join(', ') || 'none'}; expected ${live} and ${old}`);
    }
    ctx.state.swapped = true;
    return { changed: true, msg: `${live} is now the restored database; the previous one is ${old}`, data: { live, old } };
  },
};

export const dropOldDatabaseStep: Step<RestoreContext> = {
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
    await ctx.target.database.sql(dropDatabaseSql(ctx.names.old));
    await ctx.intent.update((i) => (i.database.old = undefined));
    return { changed: true, msg: `dropped the previous database ${ctx.names.old}` };
  },
};
