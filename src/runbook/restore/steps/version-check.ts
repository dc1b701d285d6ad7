import { FlightctlApi } from '../../../flightctl/api-client.js';
import { judgeArchiveVersion, judgeVersion, SUPPORTED_RANGE_TEXT } from '../../../flightctl/versions.js';
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
 * An archive restores onto the major.minor that made it (docs/backups.md, "Versions"); a patch or
 * pre-release apart is a warning naming both; anything else is refused before any change unless
 * --force.
 */
function compareWithArchive(ctx: RestoreContext, archived: string, running: string | undefined): void {
  const verdict = judgeArchiveVersion(archived, running);
  switch (verdict.kind) {
    case 'same':
      return;
    case 'running-unknown':
      ctx.warn(`the archive is a backup of Flight Control ${verdict.archive}; the running version is unknown, so only the dump's schema is checked`);
      return;
    case 'patch-differs':
      ctx.warn(
        `the archive is a backup of Flight Control ${verdict.archive}, this host runs ${verdict.running}: the same ${verdict.running.split('.').slice(0, 2).join('.')} release, restored`,
      );
      return;
    case 'minor-differs':
      refuseUnlessForced(
        ctx,
        `the archive is a backup of Flight Control ${verdict.archive}, this host runs ${verdict.running}: another release, whose database schema may differ`,
        { archive: verdict.archive, running: verdict.running },
      );
      return;
    case 'archive-unreadable':
      refuseUnlessForced(ctx, `the archive's Flight Control version (${JSON.stringify(verdict.text)} in metadata.json) cannot be read`, {
        archive: verdict.text,
      });
  }
}

function refuseUnlessForced(ctx: RestoreContext, what: string, details: Record<string, string>): void {
  if (!ctx.options.force) {
    throw new RestoreError(
      'RESTORE_ERR_ARCHIVE_VERSION',
      `${what}; restore it onto the release that made it, or pass --force if you know they are compatible`,
      details,
    );
  }
  ctx.warn(`${what}; continuing because of --force`);
}

export const versionCheckStep = defineStep<RestoreContext>({ name: 'version-check', check: versionCheck, apply: versionCheck });
