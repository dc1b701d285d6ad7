import { z } from 'zod';
import type { IntentDoc } from '../intent.js';
import type { StepName } from '../../model/run.js';
import type { JournalStore } from '../store/run-store.js';
import type { RestoreOptions } from './context.js';
import { restorePlan } from './plan.js';

/**
 * The intent the previous version of the agent wrote (format 1): one flat record shared by every
 * step. A host upgraded while a run was interrupted still has one; it is read into the current
 * form, step by step, so that run is settled as that version would have settled it.
 */
const v1Schema = z.object({
  version: z.literal(1),
  runId: z.string(),
  pid: z.number().int(),
  holder: z.string().optional(),
  startedAt: z.string(),
  withDump: z.boolean(),
  keepOldDb: z.boolean(),
  database: z.object({ name: z.string(), temp: z.string().optional(), old: z.string().optional(), containerFile: z.string().optional() }),
  extractDir: z.string().optional(),
  kvStagingDb: z.number().int().optional(),
  liveTouched: z.boolean(),
});

export interface UpgradeContext {
  journal: JournalStore;
  reachRestartsDatabase: boolean;
  deploymentType: 'podman' | 'kubernetes';
}

export async function upgradeIntentV1(raw: unknown, ctx: UpgradeContext): Promise<IntentDoc<RestoreOptions> | undefined> {
  const parsed = v1Schema.safeParse(raw);
  if (!parsed.success) return undefined;
  const v1 = parsed.data;
  // The journal knows the run's plan and files; the intent alone is enough where it does not.
  const run = await ctx.journal.read(v1.runId).catch(() => undefined);
  const archive = v1.extractDir !== undefined;
  const params: RestoreOptions = {
    database: v1.database.name,
    keepOldDb: v1.keepOldDb,
    force: run?.options.force ?? false,
    ...(run?.options.dump ? { dump: run.options.dump } : {}),
    ...(run?.options.archive ? { archive: run.options.archive } : archive ? { archive: '(an archive; its path was not recorded)' } : {}),
  };
  const plan: StepName[] =
    run?.plan ?? restorePlan({ dump: v1.withDump && !archive, archive, reachRestartsDatabase: ctx.reachRestartsDatabase }).map((s) => s.name);
  const steps: IntentDoc<RestoreOptions>['steps'] = {};
  if (v1.extractDir) {
    steps['unpack-archive'] = {
      extractDir: v1.extractDir,
      metadata: { timestamp: v1.startedAt, version: '', deploymentType: ctx.deploymentType, databaseIncluded: v1.withDump },
    };
  }
  if (v1.database.temp) steps['load-dump'] = { database: v1.database.temp, ...(v1.database.containerFile ? { containerFile: v1.database.containerFile } : {}) };
  if (v1.kvStagingDb) steps['stage-kv'] = { kvDb: v1.kvStagingDb };
  // Format 1 did not record the stop: the target's own record says what is stopped, if anything.
  steps['stop-services'] = {};
  if (v1.liveTouched && v1.withDump && v1.database.old && v1.database.temp) {
    steps['swap-database'] = { live: v1.database.name, temp: v1.database.temp, old: v1.database.old };
  } else if (v1.liveTouched && !v1.withDump) {
    if (archive) steps['wait-for-database'] = { touchedLive: true };
    else steps['prepare-database'] = { database: v1.database.name };
  }
  return { version: 2, runId: v1.runId, pid: v1.pid, holder: v1.holder ?? `pid:${v1.pid}:`, startedAt: v1.startedAt, params, plan, steps };
}
