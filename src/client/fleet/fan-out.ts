import { asRestoreError } from '../../lib/errors.js';
import type { AgentTarget } from '../agent-target.js';
import type { ErrorView } from '../run-view.js';
import { boundedPool } from './pool.js';

export interface HostValue<T> {
  target: AgentTarget;
  ok: boolean;
  value: T | undefined;
  error: ErrorView | null;
}

/** One call per host, at most `forks` at a time; a host's failure is its own result, never the others'. */
export async function fanOut<T>(targets: AgentTarget[], forks: number, fn: (t: AgentTarget) => Promise<T>, signal?: AbortSignal): Promise<HostValue<T>[]> {
  const out: HostValue<T>[] = targets.map((target) => ({
    target,
    ok: false,
    value: undefined,
    error: { code: 'RESTORE_ERR_CANCELLED', message: `${target.name}: not contacted (interrupted)`, hint: '' },
  }));
  await boundedPool(
    targets,
    forks,
    async (t, i) => {
      try {
        out[i] = { target: t, ok: true, value: await fn(t), error: null };
      } catch (err) {
        out[i] = { target: t, ok: false, value: undefined, error: asRestoreError(err).toJSON() };
      }
    },
    () => !signal?.aborted,
  );
  return out;
}
