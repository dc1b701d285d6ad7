import type { Config } from '../../../src/config/schema.js';
import { configSchema } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/lib/logger.js';
import { recover, runRestore, type EngineDeps, type RestoreRequest } from '../../../src/runbook/restore/restore.js';
import type { Run, StepName } from '../../../src/model/run.js';
import { memoryDataStores } from './memory-data.js';
import { MemoryRunStore } from './memory-store.js';
import { MemoryTarget } from './memory-target.js';
import { MemoryProcess, type MemoryWorld } from './memory-world.js';

export { MemoryWorld, MemoryProcess } from './memory-world.js';

export interface HostOptions {
  /** Reaching the database restarts it (publish-dropin). */
  reachRestartsDatabase?: boolean;
  config?: Record<string, unknown>;
}

/** A new agent process on the in-memory host, with what the engine needs: target, store, data stores. */
export function agentProcess(world: MemoryWorld, opts: HostOptions = {}): { proc: MemoryProcess; deps: Omit<EngineDeps, 'signal'> } {
  const proc = new MemoryProcess(world);
  const reach = opts.reachRestartsDatabase === true;
  const config: Readonly<Config> = configSchema.parse({
    log: { level: 'error' },
    ...opts.config,
    host: { ...((opts.config?.host as object) ?? {}), ...(reach ? { endpointStrategy: 'publish-dropin' } : {}) },
  });
  const target = new MemoryTarget(proc, reach);
  return {
    proc,
    deps: {
      config,
      logger: createLogger('error'),
      target,
      store: new MemoryRunStore(proc),
      dataStores: (access) => memoryDataStores(proc, access, reach),
    },
  };
}

export type RunEnd = { run: Run } | { crashed: true };

/** A restore by a new process: it ends with its run, or with its death at the world's crash point. */
export async function restoreOn(
  world: MemoryWorld,
  req: Partial<RestoreRequest>,
  opts: HostOptions & { signal?: AbortSignal; onStepStarted?: (step: StepName) => void } = {},
): Promise<RunEnd & { proc: MemoryProcess }> {
  const { proc, deps } = agentProcess(world, opts);
  const done = runRestore(
    {
      ...deps,
      signal: opts.signal ?? new AbortController().signal,
      onEvent: (e) => {
        if (e.type === 'step-started' || e.type === 'step-finished') proc.onStep(e.type, e.step);
        if (e.type === 'step-started') opts.onStepStarted?.(e.step);
      },
    },
    { check: false, force: false, keepOldDb: false, requestedBy: 'test', ...req },
  ).then((run) => ({ run }));
  const end = await Promise.race([done, proc.died.then(() => ({ crashed: true as const }))]);
  return { ...end, proc };
}

/** `recover` by a new process. */
export function recoverOn(world: MemoryWorld, opts: HostOptions = {}) {
  return recover(agentProcess(world, opts).deps, 'recover (test)');
}
