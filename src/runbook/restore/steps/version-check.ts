import { FlightctlApi } from '../../../flightctl/api-client.js';
import { judgeVersion, parseVersion, SUPPORTED_RANGE_TEXT } from '../../../flightctl/versions.js';
import { RestoreError } from '../../../lib/errors.js';
import { defineStep, type StepOutcome } from '../../step.js';
import type { RestoreContext } from '../context.js';

async function versionCheck(ctx: RestoreContext): Promise<StepOutcome> {
  // Flight Control's own answer when its API is configured; else what the host runs (an image tag).
  const api = FlightctlApi.fromConfig(ctx.config.flightctl);
  const running = api
    ? { version: await api.version(), source: `GET ${ctx.config.flightctl.apiUrl.replace(/\/$/, '')}/api/v1/version` }
    : await ctx.target.runningVersion();
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

export const versionCheckStep = defineStep<RestoreContext>({ name: 'version-check', check: versionCheck, apply: versionCheck });
