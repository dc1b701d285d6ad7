import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { loadConfig } from '../../config/load.js';
import { createLogger, setRootLogger, type LogLevel, type Logger } from '../../lib/logger.js';
import { redactText, registerSecret } from '../../lib/secrets.js';
import { openRunStore } from '../../runbook/store/open-run-store.js';
import { withLock } from '../../runbook/store/run-store.js';
import { printError } from '../common/errors.js';
import { outputFormat, type OutputFormat } from '../common/output.js';
import { configFlagValues } from './config-flags.js';

export interface CommandContext {
  config: Readonly<Config>;
  logger: Logger;
  output: OutputFormat;
  /** output === 'json' */
  json: boolean;
  /** Passwords read from the environment, registered for redaction and removed from it. */
  secrets: { dbPassword?: string | undefined; kvPassword?: string | undefined };
  print(text: string): void;
}

/**
 * Reads a secret from the environment once, registers it for redaction and removes it, so it can
 * never be inherited by a child process.
 */
function takeEnvSecret(name: string): string | undefined {
  const value = process.env[name];
  delete process.env[name];
  if (value === undefined || value === '') return undefined;
  registerSecret(value);
  return value;
}

export interface ActionOptions {
  /** What the command prints without -o or --json (default: text on a terminal, JSON otherwise). */
  output?(config: Readonly<Config>): OutputFormat | 'auto';
}

/**
 * Runs one CLI action: config, logger, secrets, then the action; maps any failure to its
 * catalogue code and exit code. Users never see a stack trace.
 */
export function action<A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<void>, opts: ActionOptions = {}) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const all = cmd.optsWithGlobals() as Record<string, unknown>;
    let json = all.json === true || all.output === 'json' || (all.output === undefined && process.stdout.isTTY !== true);
    try {
      const secrets = { dbPassword: takeEnvSecret('DB_PASSWORD'), kvPassword: takeEnvSecret('KV_PASSWORD') };
      const config = loadConfig({ file: all.config as string | undefined, env: process.env, flags: configFlagValues(cmd) });
      const output = outputFormat(all, opts.output?.(config));
      json = output === 'json';
      // Readable log lines for a person at a terminal; JSON lines for journald and pipes.
      const logger = createLogger(config.log.level as LogLevel, process.stderr, { human: process.stderr.isTTY === true });
      setRootLogger(logger);
      const print = (text: string) => process.stdout.write(redactText(text));
      await fn({ config, logger, output, json, secrets, print }, ...(args.slice(0, -1) as A));
    } catch (err) {
      printError(err, json);
    }
  };
}

/** Runs fn holding the run store's lock: one mutating operation at a time on this host. */
export async function locked<T>(ctx: CommandContext, what: string, fn: () => Promise<T>): Promise<T> {
  const store = await openRunStore(ctx.config, ctx.logger);
  try {
    return await withLock(store, what, fn);
  } finally {
    store.close();
  }
}
