import { z } from 'zod';
import { RestoreError, isRestoreError } from '../../../lib/errors.js';
import { defineStep } from '../../step.js';
import { externalDatabase, loadsDump, type RestoreContext } from '../context.js';
import { formatBytes } from '../../../lib/format.js';

export const noDump = (ctx: RestoreContext) =>
  loadsDump(ctx) ? undefined : externalDatabase(ctx) ? 'the archive has no database (external database)' : 'no --dump: the live database is prepared in place';

/** A failure of the load is a problem of the dump, unless the database itself ran out of room. */
function asDumpError(err: unknown, file: string): unknown {
  if (!isRestoreError(err)) return err;
  if (['RESTORE_ERR_DB_QUERY', 'RESTORE_ERR_EXEC_FAILED', 'RESTORE_ERR_DB_PERMISSION'].includes(err.code)) {
    return new RestoreError('RESTORE_ERR_DUMP_INVALID', `loading ${file} failed, the temporary database is dropped and nothing else changed: ${err.message}`, {
      dump: file,
    });
  }
  return err;
}

const intentSchema = z.object({
  /** `<db>_restore_<id>`, recorded before it is created. */
  database: z.string(),
  /** A copy of the dump the load leaves inside the database's container (custom format), to remove. */
  containerFile: z.string().optional(),
});

/** Creates `<db>_restore_<id>` and loads the dump into it while the services run. */
export const loadDumpStep = defineStep<RestoreContext, z.infer<typeof intentSchema>>({
  name: 'load-dump',
  skip: noDump,
  async check(ctx) {
    const d = ctx.state.dump!;
    return { changed: true, msg: `would create ${ctx.names.temp} and load ${formatBytes(d.size)} (${d.format}) into it while the services run` };
  },
  async apply(ctx) {
    const { names } = ctx;
    const dump = ctx.state.dump!;
    await ctx.data.createTemp(names);
    const t0 = performance.now();
    try {
      await ctx.data.load(names.temp, dump, {
        jobs: ctx.config.restore.jobs,
        signal: ctx.signal,
        onBytes: (sent) => ctx.progress({ done: sent, total: dump.size, unit: 'bytes' }),
        recordContainerFile: (file) => ctx.record({ database: names.temp, containerFile: file }),
      });
    } catch (err) {
      throw asDumpError(err, dump.path);
    }
    await ctx.record({ database: names.temp });
    const schema = await ctx.data.schemaOf(names.temp);
    if (!schema)
      throw new RestoreError('RESTORE_ERR_DUMP_INVALID', `${dump.path} is not a Flight Control database dump: it has no devices table`, { dump: dump.path });
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
  intent: { schema: intentSchema, before: (ctx) => ({ database: ctx.names.temp }) },
  async undo(ctx, { database }) {
    const exist = await ctx.data.existing([ctx.names.live, ctx.names.old, database]);
    if (!exist.has(database)) return [];
    // Never the last copy: a host whose live database went missing keeps the loaded one.
    if (!exist.has(ctx.names.live) && !exist.has(ctx.names.old)) {
      throw new RestoreError(
        'RESTORE_ERR_RECOVERY_INCOMPLETE',
        `neither ${ctx.names.live} nor a previous copy of it exists; ${database} is kept: rename it to ${ctx.names.live} or restore by hand`,
      );
    }
    await ctx.data.drop(database);
    return [`dropped the temporary database ${database}; ${ctx.names.live} is the original database`];
  },
  async release(ctx, { containerFile }) {
    if (!containerFile) return [];
    await ctx.data.removeDumpCopy(containerFile);
    return [`removed the dump copy ${containerFile} from the database container`];
  },
});
