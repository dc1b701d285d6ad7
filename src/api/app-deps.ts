import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import type { RunStore } from '../runbook/store/run-store.js';
import type { RestoreTarget } from '../targets/target.js';
import type { Authenticator } from './auth.js';
import type { ApiMetrics } from './metrics.js';
import type { RunManager } from './run-manager.js';

/** What the app and its routes are built from (serve-command.ts makes them once). */
export type Readiness = 'starting' | 'ready' | 'stopping';

export interface AppDeps {
  config: Readonly<Config>;
  logger: Logger;
  target: RestoreTarget;
  /** The run store the daemon chose at start; the same one the run manager uses. */
  store: RunStore;
  runs: RunManager;
  metrics: ApiMetrics;
  /** Undefined only for the benchmark's no-auth baseline: serve always verifies tokens. */
  auth: Authenticator | undefined;
  readiness(): Readiness;
}
