import { RestoreError } from '../../../lib/errors.js';
import type { ServiceChange } from '../../../targets/target.js';
import type { RestoreContext } from '../context.js';

/** A failed start or stop, as one error naming every service that failed. */
export function servicesError(verb: string, changes: ServiceChange[]): RestoreError | undefined {
  const failed = changes.filter((c) => c.action === 'failed');
  if (!failed.length) return undefined;
  const code = failed.find((c) => c.code)?.code ?? (failed.some((c) => c.result === 'timeout') ? 'RESTORE_ERR_UNIT_TIMEOUT' : 'RESTORE_ERR_UNIT_JOB_FAILED');
  const now = (c: ServiceChange) => (c.activeState ? `, now ${c.activeState}/${c.subState}` : '');
  return new RestoreError(code, `could not ${verb} ${failed.map((c) => `${c.unit} (${c.result}${now(c)})`).join(', ')}`, {
    units: failed.map((c) => c.unit),
  });
}

/** Lets go of what publishes the data stores for the window (drop-ins, restarting them); answers what it removed. */
export async function closeWindowLease(ctx: RestoreContext): Promise<string[]> {
  const lease = ctx.state.windowLease;
  ctx.state.windowLease = undefined;
  return lease ? lease.release() : [];
}

/**
 * Ends the stop window of a run that did not end it itself: what published the data stores goes
 * (this process's lease, and whatever a dead one left), then every service the agent stopped
 * starts again. Also what a later process does for a run a crash interrupted.
 */
export async function closeWindow(ctx: RestoreContext): Promise<string[]> {
  const actions = [...(await closeWindowLease(ctx)), ...(await ctx.target.removeLeftovers())];
  if ((await ctx.target.stoppedByAgent()).length) {
    const changes = await ctx.target.startServices();
    const started = changes.filter((c) => c.action === 'started').map((c) => c.unit);
    if (started.length) actions.push(`started ${started.join(', ')}`);
    const err = servicesError('start', changes);
    if (err) throw err;
  }
  ctx.state.window = false;
  return actions;
}
