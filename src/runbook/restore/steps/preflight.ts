import path from 'node:path';
import { inspectDump } from '../../../flightctl/database/dump-format.js';
import { RestoreError } from '../../../lib/errors.js';
import { defineStep, type StepOutcome } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { formatBytes } from '../../../lib/format.js';

/** Read-only, the same in check mode: nothing destructive starts before all of this holds. */
async function preflight(ctx: RestoreContext): Promise<StepOutcome> {
  const { target, names, data: stores } = ctx;
  const host = await target.preflight();
  for (const w of host.warnings) ctx.warn(w);
  const live = await stores.inspectLive(names.live);
  if (live.leftovers > 0)
    ctx.warn(`${live.leftovers} temporary database(s) ${names.live}_restore_* from an earlier run exist; run "flightctl-restore-agent recover" or drop them`);

  const parts = [host.msg, `database ${names.live} ${formatBytes(live.bytes)}`];
  if (!ctx.canConnect()) {
    ctx.warn(
      `${ctx.run.options.endpointStrategy ?? 'this endpoint strategy'}: the database restarts to publish its port, so it is reached only inside the stop window; prepare-database moves into it, and the keys are written there through the KV store's own client (no staging)`,
    );
  }
  // With the credentials, exactly as the later steps will connect.
  parts.push((await stores.ping(names.live)) === 'network' ? 'database and KV store reachable with the secrets' : 'KV store answers with the secret');
  const data: Record<string, unknown> = { ...host.data, database: names.live, databaseBytes: live.bytes };
  // The dump to load: --dump, or the one an archive brought (unpack-archive read it).
  const dump = ctx.state.dump ?? (ctx.options.dump ? await inspectDump(ctx.options.dump) : undefined);
  if (dump) {
    ctx.state.dump = dump;
    if (!target.database.loadableFormats.includes(dump.format)) {
      throw new RestoreError(
        'RESTORE_ERR_DUMP_UNSUPPORTED',
        `${dump.path} is a pg_dump ${dump.format}-format archive, which the ${target.kind} target cannot load (it takes ${target.database.loadableFormats.join(', ')} dumps); convert it first: pg_restore -f ${dump.path.replace(/\.[^./]*$/, '')}.sql ${dump.path}`,
        { dump: dump.path, format: dump.format },
      );
    }
    const missing = await stores.missingLoadPrivileges(names.live);
    if (missing.length) {
      throw new RestoreError(
        'RESTORE_ERR_EXTERNAL_DB_PRIVILEGE',
        `the database user lacks ${missing.join(' and ')}, which loading ${path.basename(dump.path)} beside ${names.live} and swapping it in needs; nothing was changed: grant it, or restore ${names.live} yourself (pg_restore, psql) and run again without a dump, which prepares it in place`,
        { missing },
      );
    }
    const free = await stores.freeBytes(live.dataDir);
    // A second copy of the database must fit; a custom-format dump is also copied next to it.
    const needed = Math.ceil(live.bytes * ctx.config.restore.spaceFactor) + (dump.format === 'custom' ? dump.size : 0);
    const kind = dump.format === 'plain' ? 'plain SQL' : 'custom format';
    if (free === undefined) {
      ctx.warn(
        `the free space of the database's volume cannot be told on this ${target.kind} target: make sure ${formatBytes(needed)} fit (a second copy of ${names.live})`,
      );
      parts.push(`dump ${kind} ${formatBytes(dump.size)}`, `${formatBytes(needed)} needed (free space unknown)`);
      Object.assign(data, { dumpFormat: dump.format, dumpBytes: dump.size, neededBytes: needed });
    } else if (free < needed) {
      throw new RestoreError(
        'RESTORE_ERR_INSUFFICIENT_SPACE',
        `the database volume has ${formatBytes(free)} free, the restore needs ${formatBytes(needed)} (${ctx.config.restore.spaceFactor} x ${formatBytes(live.bytes)} of ${names.live}${dump.format === 'custom' ? ' + the dump copy' : ''})`,
        { free, needed },
      );
    } else {
      parts.push(`dump ${kind} ${formatBytes(dump.size)}`, `${formatBytes(free)} free, ${formatBytes(needed)} needed`);
      Object.assign(data, { dumpFormat: dump.format, dumpBytes: dump.size, freeBytes: free, neededBytes: needed });
    }
  }
  try {
    ctx.run.devices = { ...ctx.run.devices, before: await stores.summary(names.live) };
  } catch (err) {
    // A database without Flight Control's tables can still be replaced by a dump.
    ctx.warn(`no device summary of ${names.live}: ${(err as Error).message}`);
  }
  return { changed: false, msg: parts.join('; '), data };
}

export const preflightStep = defineStep<RestoreContext>({ name: 'preflight', check: preflight, apply: preflight });
