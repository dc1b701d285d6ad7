import { FlightctlApi } from '../../flightctl/api-client.js';
import { inspectDump } from '../../flightctl/database/dump-format.js';
import { literal } from '../../flightctl/database/swap-sql.js';
import { withKv } from '../../flightctl/datastores/kv.js';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { DEVICE_SUMMARY_JSON_SQL, parseSummaryJson } from '../../flightctl/devices/summary-sql.js';
import { judgeVersion, parseVersion, SUPPORTED_RANGE_TEXT } from '../../flightctl/versions.js';
import { RestoreError } from '../../lib/errors.js';
import type { Step, StepOutcome } from '../runner.js';
import type { RestoreContext } from './context.js';
import { formatBytes } from './format.js';

/** Read-only, the same in check mode: nothing destructive starts before all of this holds. */
async function preflight(ctx: RestoreContext): Promise<StepOutcome> {
  const { target, names } = ctx;
  const host = await target.preflight();
  for (const w of host.warnings) ctx.warn(w);
  const live = (
    await target.database.sql(
      `SELECT pg_database_size(datname), current_setting('data_directory') FROM pg_database WHERE datname = ${literal(names.live)};\n` +
        `SELECT count(*) FROM pg_database WHERE datname LIKE ${literal(`${names.live}\\_restore\\_%`)};\n`,
    )
  )
    .trim()
    .split('\n');
  if (live.length < 2 || !live[0]!.includes('|')) {
    throw new RestoreError('RESTORE_ERR_DB_NOT_FLIGHTCTL', `database ${names.live} does not exist in flightctl-db`, { database: names.live });
  }
  const [sizeText, dataDir] = live[0]!.split('|');
  const liveSize = Number(sizeText);
  if (Number(live[1]) > 0) ctx.warn(`${live[1]} temporary database(s) ${names.live}_restore_* from an earlier run exist; run "flightctl-restore-agent recover" or drop them`);

  const parts = [host.msg, `database ${names.live} ${formatBytes(liveSize)}`];
  if (ctx.canConnect()) {
    // With the credentials, over the network, exactly as the later steps will connect.
    const ep = await ctx.endpoints();
    await withPostgres(await ctx.dbEndpoint(ep, names.live), (c) => c.query('SELECT 1'));
    const kv = await ctx.kvEndpoint(ep);
    await (kv ? withKv(kv, (r) => r.ping()) : target.kvShell.command(['PING']));
    parts.push('database and KV store reachable with the secrets');
  } else {
    ctx.warn(
      'publish-dropin: the database restarts to publish its port, so it is reached only inside the stop window; prepare-database moves into it, and the keys are written there through the KV store\'s own client (no staging)',
    );
    await target.kvShell.command(['PING']);
    parts.push('KV store answers with the secret');
  }
  const data: Record<string, unknown> = { ...host.data, database: names.live, databaseBytes: liveSize };
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
    const free = await target.database.freeBytes(dataDir!);
    // A second copy of the database must fit; a custom-format dump is also copied next to it.
    const needed = Math.ceil(liveSize * ctx.config.restore.spaceFactor) + (dump.format === 'custom' ? dump.size : 0);
    if (free === undefined) {
      ctx.warn(`the free space of the database's volume cannot be told on this ${target.kind} target: make sure ${formatBytes(needed)} fit (a second copy of ${names.live})`);
      parts.push(`dump ${dump.format === 'plain' ? 'plain SQL' : 'custom format'} ${formatBytes(dump.size)}`, `${formatBytes(needed)} needed (free space unknown)`);
      Object.assign(data, { dumpFormat: dump.format, dumpBytes: dump.size, neededBytes: needed });
    } else if (free < needed) {
      throw new RestoreError(
        'RESTORE_ERR_INSUFFICIENT_SPACE',
        `the database volume has ${formatBytes(free)} free, the restore needs ${formatBytes(needed)} (${ctx.config.restore.spaceFactor} x ${formatBytes(liveSize)} of ${names.live}${dump.format === 'custom' ? ' + the dump copy' : ''})`,
        { free, needed },
      );
    } else {
      parts.push(`dump ${dump.format === 'plain' ? 'plain SQL' : 'custom format'} ${formatBytes(dump.size)}`, `${formatBytes(free)} free, ${formatBytes(needed)} needed`);
      Object.assign(data, { dumpFormat: dump.format, dumpBytes: dump.size, freeBytes: free, neededBytes: needed });
    }
  }
  try {
    ctx.run.devices = { ...ctx.run.devices, before: parseSummaryJson(await target.database.sql(DEVICE_SUMMARY_JSON_SQL, { database: names.live })) };
  } catch (err) {
    // A database without Flight Control's tables can still be replaced by a dump.
    ctx.warn(`no device summary of ${names.live}: ${(err as Error).message}`);
  }
  return { changed: false, msg: parts.join('; '), data };
}

async function versionCheck(ctx: RestoreContext): Promise<StepOutcome> {
  // Flight Control's own answer when its API is configured; else what the host runs (an image tag).
  const api = FlightctlApi.fromConfig(ctx.config.flightctl);
  const running = api ? { version: await api.version(), source: `GET ${ctx.config.flightctl.apiUrl.replace(/\/$/, '')}/api/v1/version` } : await ctx.target.runningVersion();
  const verdict = judgeVersion(running.version);
  const archived = ctx.state.archive?.metadata.version;
  if (archived !== undefined) compareWithArchive(ctx, archived, running.version);
  if (verdict.kind === 'supported') {
    ctx.state.runningSchema = verdict.schema;
    return {
      changed: false,
      msg: `Flight Control ${verdict.version} (${running.source}) is supported (schema ${verdict.schema})${archived !== undefined ? `; the archive is of ${archived}` : ''}`,
      data: { version: verdict.version, source: running.source, schema: verdict.schema, ...(archived !== undefined ? { archive: archived } : {}) },
    };
  }
  if (verdict.kind === 'unknown') {
    ctx.warn(`the running Flight Control version is unknown (${running.source}); the restored database's schema is checked instead`);
    return { changed: false, msg: `version unknown (${running.source})`, data: { source: running.source } };
  }
  const what = `Flight Control ${verdict.version} runs on this host (${running.source}); this agent supports ${SUPPORTED_RANGE_TEXT}`;
  if (!ctx.options.force) throw new RestoreError('RESTORE_ERR_VERSION_MISMATCH', what, { version: verdict.version });
  ctx.warn(`${what}; continuing because of --force`);
  return { changed: false, msg: `${verdict.version} is not supported; forced`, data: { version: verdict.version, source: running.source, forced: true } };
}

/**
 * A backup restores onto the Flight Control version that made it (FLIGHTCTL.md §2): another
 * release has another schema. Unknown on either side is a warning, not a refusal.
 */
function compareWithArchive(ctx: RestoreContext, archived: string, running: string | undefined): void {
  const a = parseVersion(archived);
  const r = parseVersion(running);
  if (!a || !r) {
    ctx.warn(`cannot compare the archive's Flight Control version (${archived || 'not recorded'}) with the running one (${running ?? 'unknown'})`);
    return;
  }
  if (a.join('.') === r.join('.')) return;
  const what = `the archive is a backup of Flight Control ${a.join('.')}, this host runs ${r.join('.')}`;
  if (!ctx.options.force) throw new RestoreError('RESTORE_ERR_VERSION_MISMATCH', what, { archive: a.join('.'), running: r.join('.') });
  ctx.warn(`${what}; continuing because of --force`);
}

export const preflightStep: Step<RestoreContext> = { name: 'preflight', check: preflight, apply: preflight };
export const versionCheckStep: Step<RestoreContext> = { name: 'version-check', check: versionCheck, apply: versionCheck };
