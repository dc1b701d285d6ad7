import { IntentRecord } from '../intent.js';
import type { RestoreTarget } from '../../targets/target.js';
import type { RunStore } from '../store/run-store.js';
import type { RestoreOptions } from './context.js';
import { upgradeIntentV1 } from './intent-v1.js';
import { restoreIntentSchema } from './plan.js';

/** The intent document of a restore in the run store, reading the previous format too. */
export function restoreIntent(deps: { store: RunStore; target: RestoreTarget }): IntentRecord<RestoreOptions> {
  const { store, target } = deps;
  return new IntentRecord(store.intent, restoreIntentSchema, (raw) =>
    upgradeIntentV1(raw, { journal: store.journal, reachRestartsDatabase: target.reachingDatabaseRestartsIt, deploymentType: target.deploymentType }),
  );
}
