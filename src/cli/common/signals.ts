import { RestoreError } from '../../lib/errors.js';

/**
 * SIGINT/SIGTERM end a run at its next safe point and run its finalizers (start what was stopped,
 * remove drop-ins, roll back or complete the databases); a second signal is only noted.
 */
export function abortOnSignals(what: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(controller.signal.aborted ? `${sig} again: still ${what}\n` : `${sig} received: stopping at the next safe point, then ${what}\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal) };
}

/**
 * Runs fn with SIGINT/SIGTERM held back, for work that must reach a safe point before the
 * process goes (a published port must never outlive the command; a transaction ends on its own).
 * The signal is acknowledged on stderr and passed to fn as an AbortSignal; when fn is done the
 * command ends as cancelled.
 */
export async function withSignalsDeferred<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  let received: NodeJS.Signals | undefined;
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    received = signal;
    process.stderr.write(`${signal} received: ${what} first, then exiting\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    const result = await fn(controller.signal);
    if (received) throw new RestoreError('RESTORE_ERR_CANCELLED', `interrupted by ${received}; ${what} was done`);
    return result;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
