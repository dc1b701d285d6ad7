import type { Logger } from 'winston';
import type { Config } from '../config/schema.js';
import type { RunStore } from '../runbook/store/run-store.js';
import type { RestoreTarget } from '../targets/target.js';
import type { Authenticator } from './auth.js';
import type { ApiMetrics } from './metrics.js';
import type { RunManager } from './run-manager.js';

/** What the app and its routes are built from (serve-command.ts makes them once). */
/**
 * starting: not listening yet; recovering: finishing a run an earlier process left, reads are
 * served and nothing that changes anything is taken; ready; stopping.
 */
export type Readiness = 'starting' | 'recovering' | 'ready' | 'stopping';

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
  /** While recovering: what the recovery waits for (the error that stopped its last attempt). */
  readinessReason?(): string | undefined;
}
