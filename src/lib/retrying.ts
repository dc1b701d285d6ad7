import { asRestoreError, type RestoreError } from './errors.js';
import { sleep } from './sleep.js';

export interface RetryPolicy {
  /** Give up after this long (Infinity: never; 0: one attempt). On the monotonic clock: a clock set back does not extend it. */
  maxWaitMs: number;
  /** The first pause; each next one doubles, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Whether trying again may help (default: the error is retryable, that is a server not back yet). */
  retryIf?(err: RestoreError): boolean;
  /** Told of every pause: what stood in the way, how long until the next attempt, which attempt failed. */
  onWait?(err: RestoreError, delayMs: number, attempt: number): void | Promise<void>;
  /** Ends the waiting: the last error is thrown. */
  signal?: AbortSignal | undefined;
}

/** How the waits for a server that is not back yet are paced: 0.5 s doubling to 15 s. */
export const RECOVERY_BACKOFF = { firstDelayMs: 500, maxDelayMs: 15_000 };

/**
 * Runs `attempt` until it succeeds, trying again with backoff while what stands in the way may go
 * away by itself (after a reboot or a restart the database, the KV store, Podman or the bus come
 * back after the agent). Only for attempts that are safe to repeat. The one retry loop of the
 * agent: recovery, a run's own finalizers, serve's background recovery, a lost bus connection.
 */
export async function retrying<T>(attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const deadline = performance.now() + policy.maxWaitMs;
  const worth = policy.retryIf ?? ((e: RestoreError) => e.retryable);
  let delay = policy.firstDelayMs;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const e = asRestoreError(err);
      if (!worth(e) || policy.signal?.aborted || performance.now() + delay > deadline) throw e;
      await policy.onWait?.(e, delay, n);
      await sleep(delay, policy.signal);
      if (policy.signal?.aborted) throw e;
      delay = Math.min(delay * 2, policy.maxDelayMs);
    }
  }
}
