import { DEVICE_SUMMARY_JSON_SQL, parseSummaryJson } from '../../flightctl/devices/summary-sql.js';
import { RestoreError } from '../../lib/errors.js';
import type { ServiceChange } from '../../targets/target.js';
import type { Step, StepOutcome } from '../runner.js';
import type { RestoreContext } from './context.js';
import { prepareDatabaseStep } from './steps-database.js';
import { checkKv, kvIsComplete } from './steps-kv.js';
import { formatMs } from './format.js';

/** A failed unit job, as one error naming every unit that failed. */
export function servicesError(verb: string, changes: ServiceChange[]): RestoreError | undefined {
  const failed = changes.filter((c) => c.action === 'failed');
  if (!failed.length) return undefined;
  const code = failed.find((c) => c.code)?.code ?? (failed.some((c) => c.result === 'timeout') ? 'RESTORE_ERR_UNIT_TIMEOUT' : 'RESTORE_ERR_UNIT_JOB_FAILED');
  const now = (c: ServiceChange) => (c.activeState ? `, now ${c.activeState}/${c.subState}` : '');
  return new RestoreError(code, `could not ${verb} ${failed.map((c) => `${c.unit} (${c.result}${now(c)})`).join(', ')}`, {
    units: failed.map((c) => c.unit),
  });
}

/**
 * Without a dump, a run on a host that is already prepared has nothing to do while the services
 * are stopped, so it stops nothing: the same checks as the later steps decide.
 */
async function windowHasWork(ctx: RestoreContext): Promise<boolean> {
  if (ctx.options.dump || ctx.options.archive || !ctx.canConnect()) return true;
  if (ctx.state.windowWork !== undefined) return ctx.state.windowWork;
  const db = await prepareDatabaseStep.check(ctx);
  if (!db.changed) ctx.state.kvComplete = kvIsComplete(await checkKv(ctx));
  ctx.state.windowWork = db.changed || !ctx.state.kvComplete;
  return ctx.state.windowWork;
}

async function runningServices(ctx: RestoreContext): Promise<string[]> {
  return (await ctx.target.services()).filter((s) => s.installed && s.active).map((s) => s.unit);
}

export const stopServicesStep: Step<RestoreContext> = {
  name: 'stop-services',
  async check(ctx) {
    if (!(await windowHasWork(ctx))) return { changed: false, msg: 'nothing to change: the services keep running' };
    const running = await runningServices(ctx);
    return { changed: running.length > 0, msg: running.length ? `would stop ${running.join(', ')}` : 'no application service is running', data: { units: running } };
  },
  async apply(ctx) {
    if (!(await windowHasWork(ctx))) {
      ctx.state.nothingToDo = true;
      return { changed: false, msg: 'nothing to change: the services keep running' };
    }
    ctx.state.stoppedAt = performance.now();
    // The window opens before the stop: a unit that stopped before another failed is started again by the finalizers.
    ctx.state.window = true;
    const changes = await ctx.target.stopServices();
    const err = servicesError('stop', changes);
    if (err) throw err;
    const stopped = changes.filter((c) => c.action === 'stopped').map((c) => c.unit);
    return {
      changed: stopped.length > 0,
      msg: stopped.length ? `stopped ${stopped.length} ${ctx.target.servicesNoun} concurrently in ${formatMs(performance.now() - ctx.state.stoppedAt)}: ${stopped.join(', ')}` : 'no application service was running',
      data: { stopped, notInstalled: changes.filter((c) => c.action === 'not-installed').map((c) => c.unit) },
    };
  },
};

/** Removes the publish drop-ins (restarting db and kv) before the applications come back. */
export async function closeWindowLease(ctx: RestoreContext): Promise<string[]> {
  const lease = ctx.state.windowLease;
  ctx.state.windowLease = undefined;
  return lease ? lease.release() : [];
}

export const startServicesStep: Step<RestoreContext> = {
  name: 'start-services',
  async check(ctx) {
    if (!(await windowHasWork(ctx))) return { changed: false, msg: 'nothing was stopped' };
    const units = [...new Set([...(await ctx.target.stoppedByAgent()), ...(await runningServices(ctx))])];
    return { changed: units.length > 0, msg: units.length ? `would start ${units.join(', ')} again` : 'nothing to start', data: { units } };
  },
  async apply(ctx) {
    const removed = await closeWindowLease(ctx);
    const pending = await ctx.target.stoppedByAgent();
    if (!pending.length) return { changed: removed.length > 0, msg: ctx.state.nothingToDo ? 'nothing was stopped' : 'nothing to start', data: { dropinsRemoved: removed } };
    const changes = await ctx.target.startServices();
    // Left alone on purpose (someone else changed it during the run): say so.
    for (const c of changes) if (c.action === 'not-stopped-by-us' && c.result) ctx.warn(`${c.unit}: ${c.result}`);
    const err = servicesError('start', changes);
    if (err) throw err;
    ctx.state.window = false;
    const started = changes.filter((c) => c.action === 'started').map((c) => c.unit);
    if (ctx.state.stoppedAt !== undefined) ctx.run.downtimeMs = Math.round(performance.now() - ctx.state.stoppedAt);
    return {
      changed: true,
      msg: `started ${started.join(', ')}${ctx.run.downtimeMs !== undefined ? `; the services were down ${formatMs(ctx.run.downtimeMs)}` : ''}`,
      data: { started, dropinsRemoved: removed, downtimeMs: ctx.run.downtimeMs },
    };
  },
};

async function verify(ctx: RestoreContext): Promise<StepOutcome> {
  const states = await ctx.target.services();
  const stopRun = ctx.run.steps.find((s) => s.name === 'stop-services');
  const expected = ((stopRun?.data?.stopped as string[] | undefined) ?? []).filter(Boolean);
  const down = states.filter((s) => expected.includes(s.unit) && !s.active);
  const pending = await ctx.target.stoppedByAgent();
  if (!ctx.check && (down.length || pending.length)) {
    throw new RestoreError('RESTORE_ERR_UNIT_JOB_FAILED', `not running again: ${[...new Set([...down.map((d) => `${d.unit} (${d.activeState}/${d.subState})`), ...pending])].join(', ')}`);
  }
  const summary = parseSummaryJson(await ctx.target.database.sql(DEVICE_SUMMARY_JSON_SQL, { database: ctx.names.live }));
  if (!ctx.check) ctx.run.devices = { ...ctx.run.devices, after: summary };
  const byStatus = Object.entries(summary.byStatus)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const running = states.filter((s) => s.active).length;
  return {
    changed: false,
    msg: `${running} application ${ctx.target.servicesNoun} running; ${summary.total} devices${byStatus ? `: ${byStatus}` : ''}`,
    data: { running: states.filter((s) => s.active).map((s) => s.unit), devices: summary },
  };
}

export const verifyStep: Step<RestoreContext> = { name: 'verify', check: verify, apply: verify };
