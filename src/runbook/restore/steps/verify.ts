import { RestoreError } from '../../../lib/errors.js';
import { defineStep, type StepOutcome } from '../../step.js';
import type { RestoreContext } from '../context.js';

/** Read-only: what stop-services stopped runs again, and the device summary of the restored database. */
async function verify(ctx: RestoreContext): Promise<StepOutcome> {
  const states = await ctx.target.services();
  const stopRun = ctx.run.steps.find((s) => s.name === 'stop-services');
  const expected = ((stopRun?.data?.stopped as string[] | undefined) ?? []).filter(Boolean);
  const down = states.filter((s) => expected.includes(s.unit) && !s.active);
  const pending = await ctx.target.stoppedByAgent();
  if (!ctx.check && (down.length || pending.length)) {
    throw new RestoreError(
      'RESTORE_ERR_UNIT_JOB_FAILED',
      `not running again: ${[...new Set([...down.map((d) => `${d.unit} (${d.activeState}/${d.subState})`), ...pending])].join(', ')}`,
    );
  }
  const summary = await ctx.data.summary(ctx.names.live);
  if (!ctx.check) ctx.run.devices = { ...ctx.run.devices, after: summary };
  const byStatus = Object.entries(summary.byStatus)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const running = states.filter((s) => s.active);
  return {
    changed: false,
    msg: `${running.length} application services running; ${summary.total} devices${byStatus ? `: ${byStatus}` : ''}`,
    data: { running: running.map((s) => s.unit), devices: summary },
  };
}

export const verifyStep = defineStep<RestoreContext>({ name: 'verify', check: verify, apply: verify });
