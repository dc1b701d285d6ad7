import type { Step } from '../runner.js';
import type { RestoreContext } from './context.js';
import { FILE_STEPS, unpackArchiveStep, waitForDatabaseStep } from './steps-archive.js';
import { dropOldDatabaseStep, loadDumpStep, prepareDatabaseStep, swapDatabaseStep } from './steps-database.js';
import { preflightStep, versionCheckStep } from './steps-checks.js';
import { prepareKvStep, stageKvStep } from './steps-kv.js';
import { startServicesStep, stopServicesStep, verifyStep } from './steps-services.js';

/**
 * The order of the steps. With a dump, everything that grows with the database (load, mark the
 * devices, write the keys) runs while the services still run; the stop window holds only the
 * rename and SWAPDB (and, from an archive, Flight Control's files). Without a dump, the live
 * database is prepared inside the window. With publish-dropin the database restarts to be
 * reachable, so its work moves into the window. An archive adds its unpacking first, the wait for
 * an external database, and the files.
 */
export function restorePlan(opts: { dump: boolean; archive?: boolean; disruptiveEndpoints: boolean }): Step<RestoreContext>[] {
  const loads = opts.dump || opts.archive;
  const head = [...(opts.archive ? [unpackArchiveStep] : []), preflightStep, versionCheckStep, loadDumpStep];
  const window = opts.archive ? [waitForDatabaseStep, swapDatabaseStep, ...FILE_STEPS] : [swapDatabaseStep];
  const tail = [...window, prepareKvStep, startServicesStep, verifyStep, dropOldDatabaseStep];
  if (loads && !opts.disruptiveEndpoints) return [...head, prepareDatabaseStep, stageKvStep, stopServicesStep, ...tail];
  if (loads) return [...head, stopServicesStep, ...(opts.archive ? [waitForDatabaseStep] : []), prepareDatabaseStep, stageKvStep, ...tail.filter((s) => s !== waitForDatabaseStep)];
  return [...head, stageKvStep, stopServicesStep, prepareDatabaseStep, ...tail];
}
