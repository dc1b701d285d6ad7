import type { Step } from '../runner.js';
import type { RestoreContext } from './context.js';
import { dropOldDatabaseStep, loadDumpStep, prepareDatabaseStep, swapDatabaseStep } from './steps-database.js';
import { preflightStep, versionCheckStep } from './steps-checks.js';
import { prepareKvStep, stageKvStep } from './steps-kv.js';
import { startServicesStep, stopServicesStep, verifyStep } from './steps-services.js';

/**
 * The order of the steps. With a dump, everything that grows with the database (load, mark the
 * devices, write the keys) runs while the services still run; the stop window holds only the
 * rename and SWAPDB. Without a dump, the live database is prepared inside the window. With
 * publish-dropin the data stores restart to be reachable, so their work moves into the window.
 */
export function restorePlan(opts: { dump: boolean; disruptiveEndpoints: boolean }): Step<RestoreContext>[] {
  const head = [preflightStep, versionCheckStep, loadDumpStep];
  const tail = [swapDatabaseStep, prepareKvStep, startServicesStep, verifyStep, dropOldDatabaseStep];
  if (opts.dump && !opts.disruptiveEndpoints) return [...head, prepareDatabaseStep, stageKvStep, stopServicesStep, ...tail];
  if (opts.dump) return [...head, stopServicesStep, prepareDatabaseStep, stageKvStep, ...tail];
  return [...head, stageKvStep, stopServicesStep, prepareDatabaseStep, ...tail];
}
