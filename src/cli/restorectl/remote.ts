import type { Command } from 'commander';
import { AgentClient, DEFAULT_TIMEOUTS } from '../../client/agent-client.js';
import { DEFAULT_SOCKET, type AgentTarget } from '../../client/agent-target.js';
import { listHostsText, resolveTargets } from '../../client/targets.js';
import { readTokenFile, takeTokenFromEnv, TokenSource, TOKEN_ENV } from '../../client/token-source.js';
import { RestoreError } from '../../lib/errors.js';
import { redactText } from '../../lib/secrets.js';
import { parseWholeNumber } from '../common/numbers.js';
import { printError } from '../common/errors.js';
import { outputFormat, type OutputFormat } from '../common/output.js';

interface RemoteFlags {
  host?: string[];
  socket?: string;
  inventory?: string;
  limit?: string;
  listHosts?: boolean;
  tokenFile?: string;
  caFile?: string;
  forks: number;
  timeout: number;
  output?: string;
  json?: boolean;
}

export interface RemoteContext {
  targets: AgentTarget[];
  output: OutputFormat;
  forks: number;
  clientFor(t: AgentTarget): AgentClient;
  /** stdout, redacted. */
  print(text: string): void;
  /** stderr, redacted: progress, warnings, notes (never the result). */
  note(text: string): void;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Where to, how to authenticate, how many at a time: the program's own options, so every command
 * takes them, before or after its name (the output options come from cli/common/output.ts).
 */
export function remoteOptions(program: Command): Command {
  return program
    .option('--host <[name=]url>', 'an agent: https://HOST:PORT, unix:/PATH or http://127.0.0.1:PORT; repeatable', collect)
    .option('--socket <path>', `an agent's Unix socket on this host (the default, ${DEFAULT_SOCKET}, when no --host or --inventory)`)
    .option('-i, --inventory <file>', 'an Ansible inventory (INI or YAML); its hosts give restore_agent_url, restore_agent_ca_file, restore_agent_token_file')
    .option('-l, --limit <pattern>', "Ansible host pattern over the inventory: web:&prod, all:!canary, 'web[0:2]', '~node0[1-3]', @file")
    .option('--list-hosts', 'print the hosts that would be targeted, as ansible --list-hosts does, and exit')
    .option('--token-file <file>', `file holding the bearer token (default: the ${TOKEN_ENV} environment variable)`)
    .option('--ca-file <file>', 'CA bundle (PEM) that verifies https agents (default: the system CAs); TLS is always verified')
    .option('--forks <n>', 'hosts contacted at a time', parseWholeNumber(10_000), 5)
    .option('--timeout <seconds>', 'for one call to an agent', parseWholeNumber(3_600), 30);
}

export const print = (text: string) => process.stdout.write(redactText(text));
export const note = (text: string) => process.stderr.write(redactText(text));

/**
 * Runs a remote command: output format, the command's own checks (`check`: usage errors come
 * before anything else), targets, --list-hosts, the token (read once, before any host is
 * contacted), one client per target. The command returns its exit code.
 */
export function remoteAction(
  fn: (ctx: RemoteContext, opts: Record<string, unknown>, ...positional: string[]) => Promise<number>,
  check?: (opts: Record<string, unknown>, ...positional: string[]) => void,
) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const flags = cmd.optsWithGlobals() as unknown as RemoteFlags;
    let json = flags.json === true || flags.output === 'json' || (flags.output === undefined && !process.stdout.isTTY);
    try {
      const output = outputFormat(flags);
      json = output === 'json';
      if (flags.forks < 1) throw new RestoreError('RESTORE_ERR_USAGE', '--forks must be at least 1');
      if (flags.timeout < 1) throw new RestoreError('RESTORE_ERR_USAGE', '--timeout must be at least 1 second');
      check?.(cmd.opts(), ...(args.slice(0, -2) as string[]));
      const resolved = resolveTargets(flags);
      for (const w of resolved.warnings) note(`warning: ${w}\n`);
      if (resolved.fromInventory && !resolved.targets.length) {
        throw new RestoreError(
          'RESTORE_ERR_INVENTORY_INVALID',
          `${flags.limit !== undefined ? `--limit ${flags.limit}` : 'the inventory'} leaves no host of ${flags.inventory} to target`,
        );
      }
      if (flags.listHosts) {
        print(json ? `${JSON.stringify({ hosts: resolved.targets.map((t) => ({ host: t.name, target: t.url })) })}\n` : listHostsText(resolved.targets));
        return;
      }
      const fromEnv = takeTokenFromEnv();
      const tokens = new TokenSource(flags.tokenFile ? readTokenFile(flags.tokenFile) : fromEnv);
      const timeouts = { ...DEFAULT_TIMEOUTS, callMs: flags.timeout * 1000 };
      const clients = new Map(resolved.targets.map((t) => [t, new AgentClient(t, tokens.tokenFor(t.tokenFile, t.name), timeouts)] as const));
      const ctx: RemoteContext = { targets: resolved.targets, output, forks: flags.forks, clientFor: (t) => clients.get(t)!, print, note };
      process.exitCode = await fn(ctx, cmd.opts(), ...(args.slice(0, -2) as string[]));
    } catch (err) {
      printError(err, json);
    }
  };
}
