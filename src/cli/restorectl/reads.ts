import type { Command } from 'commander';
import { z } from 'zod';
import { ApiError, type AgentClient } from '../../client/agent-client.js';
import { fanOut, type HostValue } from '../../client/fleet/fan-out.js';
import { followRun, getRun } from '../../client/follow-run.js';
import { changedSteps, runDurationMs, runView, type RunView } from '../../client/run-view.js';
import { parseSelector } from '../../model/selector.js';
import { RestoreError } from '../../lib/errors.js';
import type { RunEvent } from '../../model/run.js';
import { formatBytes } from '../../lib/format.js';
import { parseWholeNumber } from '../common/numbers.js';
import { remoteAction, type RemoteContext } from './remote.js';
import { exitForHosts, ms, stepText, table } from './output.js';
import { jsonPrinter, terminalPrinter } from '../common/run-output.js';

/** The JSON document of a command over hosts: per host its answer, or its error. */
function hostsJson<T>(command: string, values: HostValue<T>[], key: string): string {
  return `${JSON.stringify({ command, hosts: values.map((v) => ({ host: v.target.name, target: v.target.url, ok: v.ok, error: v.error, [key]: v.value ?? null })), ok: values.every((v) => v.ok) })}\n`;
}

const answers = <T>(values: HostValue<T>[]) => values.map((v) => ({ host: v.target.name, target: v.target.url, ok: v.ok, error: v.error }));
const failedRows = <T>(values: HostValue<T>[]) =>
  values
    .filter((v) => !v.ok)
    .map((v) => `  ${v.target.name}: ${v.error?.code}: ${v.error?.message}\n`)
    .join('');

function parse<S extends z.ZodTypeAny>(schema: S, value: unknown, client: AgentClient, what: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${client.target.name}: ${what} answered something this client does not understand`);
  return r.data as z.infer<S>;
}

// status [RUN]: one run, or the newest on each host.
async function status(ctx: RemoteContext, _flags: Record<string, unknown>, runId?: string): Promise<number> {
  const values = await fanOut(ctx.targets, ctx.forks, async (t) => {
    const client = ctx.clientFor(t);
    if (runId) return getRun(client, runId);
    const list = parse(z.object({ runs: z.array(runView) }), await client.json('GET', '/v1/restores'), client, 'GET /v1/restores');
    return list.runs[0] ?? null;
  });
  if (ctx.output === 'json') ctx.print(hostsJson('status', values, 'run'));
  else {
    const rows = values.map((v) => {
      const r = v.value as RunView | null | undefined;
      if (!v.ok) return [v.target.name, '-', 'ERROR', '-', '-', '-', '-', v.error?.code ?? ''];
      if (!r) return [v.target.name, '-', '(no runs)', '-', '-', '-', '-', '-'];
      return [v.target.name, r.id, r.phase, r.check ? 'yes' : 'no', r.startedAt, ms(runDurationMs(r)), String(changedSteps(r).length), r.error?.code ?? '-'];
    });
    let out = table(['HOST', 'RUN', 'PHASE', 'CHECK', 'STARTED', 'DURATION', 'CHANGED', 'ERROR'], rows);
    const one = values.length === 1 ? (values[0]!.value as RunView | null | undefined) : undefined;
    if (one)
      out += `${one.steps.map((s) => `  ${stepText(s)}\n`).join('')}${one.currentStep && !one.finishedAt ? `  running  ${one.currentStep}\n` : ''}${one.error ? `  error ${one.error.code}: ${one.error.message}\n` : ''}`;
    ctx.print(out + failedRows(values));
  }
  return exitForHosts(answers(values));
}

// events RUN: follow one run live, resuming after a dropped connection.
async function events(ctx: RemoteContext, _flags: Record<string, unknown>, runId?: string): Promise<number> {
  if (ctx.targets.length !== 1)
    throw new RestoreError(
      'RESTORE_ERR_USAGE',
      `events follows one run on one host; ${ctx.targets.length} hosts are selected (use --host, or --limit to one host)`,
    );
  const t = ctx.targets[0]!;
  const printer = ctx.output === 'json' ? jsonPrinter(ctx.print) : terminalPrinter(ctx.print);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  let run: RunView;
  try {
    run = await followRun(
      ctx.clientFor(t),
      runId!,
      {
        // The agent's own printers: the same lines and JSON as `run` prints on the host.
        onEvent: (e) => printer.onEvent(e as unknown as RunEvent),
        onReconnect: (attempt, err, after) =>
          ctx.note(`${t.name}: event stream lost (${err.message}); reconnecting after event ${after}, attempt ${attempt}\n`),
      },
      controller.signal,
    );
  } catch (err) {
    if (controller.signal.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', `stopped following run ${runId}; it goes on on ${t.name}`);
    throw err;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  const ok = run.phase === 'Succeeded';
  return exitForHosts([
    {
      host: t.name,
      target: t.url,
      ok,
      error: ok ? null : (run.error ?? { code: 'RESTORE_ERR_INTERNAL', message: `${t.name}: run ${run.id} ended ${run.phase}`, hint: '' }),
    },
  ]);
}

const servicesAnswer = z.object({
  services: z.array(
    z
      .object({
        unit: z.string(),
        installed: z.boolean().optional(),
        active: z.boolean().optional(),
        activeState: z.string().default(''),
        subState: z.string().default(''),
      })
      .passthrough(),
  ),
});

async function services(ctx: RemoteContext): Promise<number> {
  const values = await fanOut(
    ctx.targets,
    ctx.forks,
    async (t) => parse(servicesAnswer, await ctx.clientFor(t).json('GET', '/v1/services'), ctx.clientFor(t), 'GET /v1/services').services,
  );
  if (ctx.output === 'json') ctx.print(hostsJson('services', values, 'services'));
  else {
    const rows = values.flatMap((v) =>
      (v.value ?? []).map((s) => [v.target.name, s.unit, s.installed === false ? 'not installed' : s.activeState, s.subState]),
    );
    ctx.print(table(['HOST', 'UNIT', 'ACTIVE', 'SUB'], rows) + failedRows(values));
  }
  return exitForHosts(answers(values));
}

const summaryAnswer = z.object({ total: z.number(), byStatus: z.record(z.number()) });
const devicesAnswer = z.object({
  devices: z.array(
    z
      .object({
        orgId: z.string(),
        name: z.string(),
        alias: z.string().nullable().optional(),
        summaryStatus: z.string().nullable(),
        updatedStatus: z.string().nullable(),
        lifecycleStatus: z.string().nullable(),
      })
      .passthrough(),
  ),
});

async function devicesSummary(ctx: RemoteContext): Promise<number> {
  const values = await fanOut(ctx.targets, ctx.forks, async (t) =>
    parse(summaryAnswer, await ctx.clientFor(t).json('GET', '/v1/devices/summary'), ctx.clientFor(t), 'GET /v1/devices/summary'),
  );
  if (ctx.output === 'json') ctx.print(hostsJson('devices summary', values, 'summary'));
  else {
    const rows = values
      .filter((v) => v.ok)
      .map((v) => [
        v.target.name,
        String(v.value!.total),
        Object.entries(v.value!.byStatus)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ') || '-',
      ]);
    ctx.print(table(['HOST', 'DEVICES', 'BY STATUS'], rows) + failedRows(values));
  }
  return exitForHosts(answers(values));
}

/** A malformed selector is refused before any agent is contacted. */
function checkSelectors(flags: { selector?: string; fieldSelector?: string }): void {
  if (flags.selector !== undefined) parseSelector('label', flags.selector);
  if (flags.fieldSelector !== undefined) parseSelector('field', flags.fieldSelector);
}

async function devicesList(ctx: RemoteContext, flags: { selector?: string; fieldSelector?: string; maxDevices?: number }): Promise<number> {
  const q = new URLSearchParams();
  if (flags.selector !== undefined) q.set('labelSelector', flags.selector);
  if (flags.fieldSelector !== undefined) q.set('fieldSelector', flags.fieldSelector);
  if (flags.maxDevices !== undefined) q.set('limit', String(flags.maxDevices));
  const path = `/v1/devices${q.size ? `?${q}` : ''}`;
  const values = await fanOut(
    ctx.targets,
    ctx.forks,
    async (t) => parse(devicesAnswer, await ctx.clientFor(t).json('GET', path), ctx.clientFor(t), 'GET /v1/devices').devices,
  );
  if (ctx.output === 'json') ctx.print(hostsJson('devices list', values, 'devices'));
  else {
    const rows = values.flatMap((v) =>
      (v.value ?? []).map((d) => [v.target.name, d.name, d.summaryStatus ?? '-', d.updatedStatus ?? '-', d.lifecycleStatus ?? '-', d.orgId]),
    );
    ctx.print(table(['HOST', 'NAME', 'STATUS', 'UPDATED', 'LIFECYCLE', 'ORG'], rows) + failedRows(values));
  }
  return exitForHosts(answers(values));
}

/** The backup endpoint is newer than some agents: a 404 there means "this agent has none". */
function unsupported(err: unknown, client: AgentClient, call: string): never {
  if (err instanceof ApiError && err.status === 404 && err.code === 'RESTORE_ERR_NOT_FOUND') {
    throw new RestoreError(
      'RESTORE_ERR_NOT_FOUND',
      `${client.target.name}: this agent does not support backups (${call} answered 404, no such endpoint); upgrade it`,
    );
  }
  throw err;
}

const backupList = z.object({ backups: z.array(z.object({ name: z.string(), bytes: z.number().optional(), createdAt: z.string().optional() }).passthrough()) });
const backupMade = z.object({ archive: z.string(), bytes: z.number().optional(), sha256: z.string().optional() }).passthrough();

async function backups(ctx: RemoteContext, create: { keep?: number } | undefined): Promise<number> {
  const call = create ? 'POST /v1/backups' : 'GET /v1/backups';
  const values = await fanOut(ctx.targets, ctx.forks, async (t) => {
    const client = ctx.clientFor(t);
    try {
      if (create)
        return { made: parse(backupMade, await client.json('POST', '/v1/backups', create.keep !== undefined ? { keep: create.keep } : {}), client, call) };
      return { list: parse(backupList, await client.json('GET', '/v1/backups'), client, call).backups };
    } catch (err) {
      return unsupported(err, client, call);
    }
  });
  if (ctx.output === 'json') {
    const shaped = values.map((v) => ({ ...v, value: create ? v.value?.made : v.value?.list }));
    ctx.print(hostsJson(create ? 'backups create' : 'backups', shaped, create ? 'backup' : 'backups'));
  } else if (create) {
    const rows = values
      .filter((v) => v.ok)
      .map((v) => [
        v.target.name,
        v.value!.made!.archive,
        v.value!.made!.bytes !== undefined ? formatBytes(v.value!.made!.bytes) : '-',
        v.value!.made!.sha256 ?? '-',
      ]);
    ctx.print(table(['HOST', 'ARCHIVE', 'SIZE', 'SHA256'], rows) + failedRows(values));
  } else {
    const rows = values.flatMap((v) =>
      (v.value?.list ?? []).map((b) => [v.target.name, b.name, b.bytes !== undefined ? formatBytes(b.bytes) : '-', b.createdAt ?? '-']),
    );
    ctx.print(table(['HOST', 'ARCHIVE', 'SIZE', 'CREATED'], rows) + failedRows(values));
  }
  return exitForHosts(answers(values));
}

// continue RUN: a run waiting for its external database goes on.
async function continueRun(ctx: RemoteContext, runId: string): Promise<number> {
  const values = await fanOut(ctx.targets, ctx.forks, async (t) => ctx.clientFor(t).json('POST', `/v1/restores/${encodeURIComponent(runId)}/continue`, {}));
  if (ctx.output === 'json') ctx.print(hostsJson('continue', values, 'answer'));
  else
    ctx.print(
      table(
        ['HOST', 'RUN', 'RESULT'],
        values.map((v) => [v.target.name, runId, v.ok ? 'continues' : (v.error?.code ?? 'failed')]),
      ) + failedRows(values),
    );
  return exitForHosts(answers(values));
}

export function registerReads(program: Command): void {
  program
    .command('status')
    .argument('[run]', 'a run id (default: the newest run of each host)')
    .description('The newest run of each host, or one run with its steps')
    .action(remoteAction((ctx, flags, run) => status(ctx, flags, run)));
  program
    .command('events')
    .argument('<run>', 'the run id')
    .description('Follow one run live (reconnects and resumes after a dropped connection); JSON lines with --output json')
    .action(remoteAction((ctx, flags, run) => events(ctx, flags, run)));
  program
    .command('services')
    .description("Flight Control's units on each host and their states")
    .action(remoteAction((ctx) => services(ctx)));
  const devices = program.command('devices').description('Device reports of each host');
  devices
    .command('summary')
    .description('Devices by status')
    .action(remoteAction((ctx) => devicesSummary(ctx)));
  devices
    .command('list')
    .description('Devices matching selectors')
    .option('--selector <s>', "label selector: 'env=prod,region in (eu,us),!canary'")
    .option('--field-selector <s>', "field selector: 'status.summary.status=ConflictPaused'")
    .option('--max-devices <n>', 'at most this many devices per host', parseWholeNumber(100_000))
    .action(
      remoteAction(
        (ctx, flags) => devicesList(ctx, flags as { selector?: string; fieldSelector?: string; maxDevices?: number }),
        (flags) => checkSelectors(flags as { selector?: string; fieldSelector?: string }),
      ),
    );
  const b = program.command('backups').description('Backup archives on each host (agents with the backup endpoint)');
  b.command('list', { isDefault: true })
    .description('The archives in the backup directory of each host, newest first')
    .action(remoteAction((ctx) => backups(ctx, undefined)));
  b.command('create')
    .description('Take a backup on each host, while Flight Control runs')
    .option('--keep <n>', 'then keep only the newest n archives', parseWholeNumber(10_000))
    .action(remoteAction((ctx, flags) => backups(ctx, { keep: flags.keep as number | undefined })));
  program
    .command('continue')
    .argument('<run>', 'the run id')
    .description('Tell a run waiting for its external database (WaitingForDatabase) that the database is restored')
    .action(remoteAction((ctx, _flags, run) => continueRun(ctx, run!)));
}
