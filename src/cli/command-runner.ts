import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../config/schema.js';
import { loadConfig } from '../config/load.js';
import { asRestoreError, ERROR_CATALOGUE, RestoreError, type ErrorCode } from '../lib/errors.js';
import { createLogger, setRootLogger, type LogLevel, type Logger } from '../lib/logger.js';
import { redactText, redactValue, registerSecret } from '../lib/secrets.js';
import { openRunStore } from '../runbook/store/open-run-store.js';
import { withLock } from '../runbook/store/run-store.js';

/** Command-line flags and the config keys they set. */
export const FLAG_KEYS: Record<string, string> = {
  dbHost: 'db.host',
  dbPort: 'db.port',
  dbName: 'db.name',
  dbUser: 'db.user',
  kvHost: 'kv.host',
  kvPort: 'kv.port',
  logLevel: 'log.level',
  dbusAddress: 'host.dbusAddress',
  podmanSocket: 'host.podmanSocket',
  podmanRoot: 'host.podmanRoot',
  dropinDir: 'host.dropinDir',
  quadletDirs: 'host.quadletDirs',
  stateDir: 'host.stateDir',
  strategy: 'host.endpointStrategy',
  unitTimeoutMs: 'host.unitTimeoutMs',
  keepOldDb: 'restore.keepOldDb',
  jobs: 'restore.jobs',
  listen: 'api.listen',
  tlsCert: 'api.tlsCert',
  tlsKey: 'api.tlsKey',
  jwksFile: 'api.jwksFile',
  jwksUrl: 'api.jwksUrl',
  jwtPublicKey: 'api.jwtPublicKey',
  jwtIssuer: 'api.jwtIssuers',
  jwtAudience: 'api.jwtAudience',
  importDir: 'api.importDir',
  flightctlEtc: 'flightctl.etcDir',
  backupDir: 'backup.outputDir',
  target: 'target',
  kubeconfig: 'kubernetes.kubeconfig',
  context: 'kubernetes.context',
  namespace: 'kubernetes.namespace',
  internalNamespace: 'kubernetes.internalNamespace',
  stateNamespace: 'kubernetes.stateNamespace',
  secretsDir: 'kubernetes.secretsDir',
};

export interface CommandContext {
  config: Readonly<Config>;
  logger: Logger;
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

function flagsOf(cmd: Command): Record<string, unknown> {
  const all = cmd.optsWithGlobals() as Record<string, unknown>;
  const flags: Record<string, unknown> = {};
  for (const [opt, key] of Object.entries(FLAG_KEYS)) if (all[opt] !== undefined) flags[key] = all[opt];
  return flags;
}

/**
 * For commands whose result is already printed but reports a failure inside it (a unit that did
 * not stop, a secret that is missing): the error line on stderr and the catalogue's exit code.
 */
export function reportFailure(code: ErrorCode, message: string): void {
  process.stderr.write(redactText(`error ${code}: ${message}\n  what to do: ${ERROR_CATALOGUE[code].hint}\n`));
  process.exitCode = ERROR_CATALOGUE[code].exit;
}

function printError(err: RestoreError, json: boolean): void {
  const body = redactValue(err.toJSON());
  if (json) process.stdout.write(`${JSON.stringify({ error: body })}\n`);
  reportFailure(body.code, body.message);
}

/**
 * Runs one CLI action: config, logger, secrets, then the action; maps any failure to its
 * catalogue code and exit code. Users never see a stack trace.
 */
export function action<A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<void>) {
  return async (...args: A): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const all = cmd.optsWithGlobals() as Record<string, unknown>;
    const json = all.json === true;
    try {
      const secrets = { dbPassword: takeEnvSecret('DB_PASSWORD'), kvPassword: takeEnvSecret('KV_PASSWORD') };
      const config = loadConfig({ file: all.config as string | undefined, env: process.env, flags: flagsOf(cmd) });
      // Readable log lines for a person at a terminal; JSON lines for journald and pipes.
      const logger = createLogger(config.log.level as LogLevel, process.stderr, { human: process.stderr.isTTY === true });
      setRootLogger(logger);
      const print = (text: string) => process.stdout.write(redactText(text));
      await fn({ config, logger, json, secrets, print }, ...args.slice(0, -1) as A);
    } catch (err) {
      printError(asRestoreError(err), json);
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

/**
 * A flag parser for a whole number from 0 to max. Digits only: Number() would take "", "1e3" or
 * "0x10", and a value past max would reach the database and fail there (22003) after output began.
 */
export function parseWholeNumber(max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`must be a whole number from 0 to ${max}`);
    return n;
  };
}

/**
 * Commander's own usage errors get the catalogue's code and exit code, like every other error.
 */
export function configureUsageErrors(program: Command): void {
  program.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.exit(ERROR_CATALOGUE.RESTORE_ERR_USAGE.exit);
  });
  program.configureOutput({
    outputError: (str, write) => write(`error RESTORE_ERR_USAGE: ${str.replace(/^error: /, '')}`),
  });
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
