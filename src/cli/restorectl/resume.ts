import type { Command } from 'commander';
import { z } from 'zod';
import { fanOut } from '../../client/fleet/fan-out.js';
import { parseSelector } from '../../model/selector.js';
import { RestoreError } from '../../lib/errors.js';
import { remoteAction, type RemoteContext } from './remote.js';
import { exitForHosts, table } from './output.js';

interface ResumeFlags {
  selector?: string;
  fieldSelector?: string;
  all?: boolean;
  yes?: boolean;
  org?: string;
}

/** Exactly one of: a name; selectors; --all, which needs --yes because it touches every paused device. */
function resumeBody(name: string | undefined, f: ResumeFlags): Record<string, unknown> {
  const selectors = f.selector !== undefined || f.fieldSelector !== undefined;
  const modes = [name !== undefined, selectors, f.all === true].filter(Boolean).length;
  if (modes !== 1) throw new RestoreError('RESTORE_ERR_USAGE', 'give exactly one of: a device NAME; --selector and/or --field-selector; --all --yes');
  if (f.all && !f.yes) throw new RestoreError('RESTORE_ERR_USAGE', '--all resumes every ConflictPaused device of every organization: add --yes to confirm');
  if (f.selector !== undefined) parseSelector('label', f.selector);
  if (f.fieldSelector !== undefined) parseSelector('field', f.fieldSelector);
  const body: Record<string, unknown> = name !== undefined ? { name } : f.all ? { all: true, confirm: 'resume-all' } : {};
  if (f.selector !== undefined) body.labelSelector = f.selector;
  if (f.fieldSelector !== undefined) body.fieldSelector = f.fieldSelector;
  if (f.org !== undefined) body.orgId = f.org;
  return body;
}

async function resume(ctx: RemoteContext, f: ResumeFlags, name?: string): Promise<number> {
  const body = resumeBody(name, f);
  const answer = z.object({ resumedDevices: z.number() });
  const values = await fanOut(ctx.targets, ctx.forks, async (t) => {
    const r = answer.safeParse(await ctx.clientFor(t).json('POST', '/v1/devices/resume', body));
    if (!r.success)
      throw new RestoreError('RESTORE_ERR_AGENT_UNREACHABLE', `${t.name}: POST /v1/devices/resume answered something this client does not understand`);
    return r.data.resumedDevices;
  });
  if (ctx.output === 'json') {
    ctx.print(
      `${JSON.stringify({ command: 'resume', request: body, hosts: values.map((v) => ({ host: v.target.name, target: v.target.url, ok: v.ok, error: v.error, resumedDevices: v.value ?? null })), ok: values.every((v) => v.ok) })}\n`,
    );
  } else {
    const rows = values.map((v) => [v.target.name, v.ok ? String(v.value) : '-', v.error?.code ?? '-']);
    ctx.print(
      table(['HOST', 'RESUMED', 'ERROR'], rows) +
        values
          .filter((v) => !v.ok)
          .map((v) => `  ${v.target.name}: ${v.error?.message}\n`)
          .join(''),
    );
  }
  return exitForHosts(values.map((v) => ({ host: v.target.name, target: v.target.url, ok: v.ok, error: v.error })));
}

export function registerResume(program: Command): void {
  program
    .command('resume')
    .argument('[name]', 'one device by name')
    .description('Resume devices left ConflictPaused after a restore: one by name, by selectors, or --all --yes')
    .option('--selector <s>', 'label selector')
    .option('--field-selector <s>', 'field selector')
    .option('--all', 'every ConflictPaused device (needs --yes)')
    .option('--yes', 'confirm --all')
    .option('--org <uuid>', 'only this organization')
    .action(
      remoteAction(
        (ctx, flags, name) => resume(ctx, flags as ResumeFlags, name),
        (flags, name) => void resumeBody(name, flags as ResumeFlags),
      ),
    );
}
