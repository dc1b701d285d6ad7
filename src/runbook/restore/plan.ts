import { intentSchema } from '../intent.js';
import { STEP_NAMES } from '../../model/run.js';
import type { AnyStep } from '../step.js';
import { restoreParamsSchema, type RestoreContext } from './context.js';
import { dropOldDatabaseStep } from './steps/drop-old-database.js';
import { loadDumpStep } from './steps/load-dump.js';
import { preflightStep } from './steps/preflight.js';
import { prepareDatabaseStep } from './steps/prepare-database.js';
import { prepareKvStep } from './steps/prepare-kv.js';
import { restoreConfigStep } from './steps/restore-config.js';
import { restoreEncryptionStep } from './steps/restore-encryption.js';
import { restorePamVolumeStep } from './steps/restore-pam-volume.js';
import { restorePkiStep } from './steps/restore-pki.js';
import { stageKvStep } from './steps/stage-kv.js';
import { startServicesStep } from './steps/start-services.js';
import { stopServicesStep } from './steps/stop-services.js';
import { swapDatabaseStep } from './steps/swap-database.js';
import { unpackArchiveStep } from './steps/unpack-archive.js';
import { verifyStep } from './steps/verify.js';
import { versionCheckStep } from './steps/version-check.js';
import { waitForDatabaseStep } from './steps/wait-for-database.js';

export type RestoreStep = AnyStep<RestoreContext>;

/** Flight Control's files from an archive, in the stop window. */
const FILE_STEPS: RestoreStep[] = [restorePkiStep, restoreEncryptionStep, restoreConfigStep, restorePamVolumeStep];

export interface PlanOptions {
  dump: boolean;
  archive?: boolean;
  /** Reaching the database restarts it (RestoreTarget.reachingDatabaseRestartsIt). */
  reachRestartsDatabase: boolean;
}

/**
 * The order of the steps. With a dump, everything that grows with the database (load, mark the
 * devices, write the keys) runs while the services still run; the stop window holds only the
 * rename and SWAPDB (and, from an archive, Flight Control's files). Without a dump, the live
 * database is prepared inside the window. Where reaching the database restarts it, its work moves
 * into the window. An archive adds its unpacking first, the wait for an external database, and
 * the files.
 */
export function restorePlan(opts: PlanOptions): RestoreStep[] {
  const loads = opts.dump || opts.archive;
  const head = [...(opts.archive ? [unpackArchiveStep] : []), preflightStep, versionCheckStep, loadDumpStep];
  const window = opts.archive ? [waitForDatabaseStep, swapDatabaseStep, ...FILE_STEPS] : [swapDatabaseStep];
  const tail = [...window, prepareKvStep, startServicesStep, verifyStep, dropOldDatabaseStep];
  if (loads && !opts.reachRestartsDatabase) return [...head, prepareDatabaseStep, stageKvStep, stopServicesStep, ...tail];
  if (loads)
    return [
      ...head,
      stopServicesStep,
      ...(opts.archive ? [waitForDatabaseStep] : []),
      prepareDatabaseStep,
      stageKvStep,
      ...tail.filter((s) => s !== waitForDatabaseStep),
    ];
  return [...head, stageKvStep, stopServicesStep, prepareDatabaseStep, ...tail];
}

/**
 * Every step a restore can have, in the run model's order: what its intent document may hold,
 * and how a recorded plan is read back. Taken from the plans themselves, so a new step is one
 * line in restorePlan.
 */
export const RESTORE_STEPS: readonly RestoreStep[] = (() => {
  const all = [true, false].flatMap((reachRestartsDatabase) =>
    [{ dump: true }, { dump: false }, { dump: false, archive: true }].flatMap((o) => restorePlan({ ...o, reachRestartsDatabase })),
  );
  return STEP_NAMES.map((n) => all.find((s) => s.name === n)).filter((s): s is RestoreStep => s !== undefined);
})();

/** The steps of a recorded plan; a name this agent does not know is refused by the intent's schema first. */
export function stepsNamed(names: readonly string[]): RestoreStep[] {
  return names.map((n) => RESTORE_STEPS.find((s) => s.name === n)!).filter(Boolean);
}

export const restoreIntentSchema = intentSchema(restoreParamsSchema, RESTORE_STEPS);
