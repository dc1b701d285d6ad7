import type { Command } from 'commander';
import { asRestoreError, ERROR_CATALOGUE, isRestoreError, type ErrorCode } from '../../lib/errors.js';
import { redactText, redactValue } from '../../lib/secrets.js';

/**
 * The error line of both binaries, on stderr: the code, the message, and what to do. Also for
 * commands whose result is already printed but reports a failure inside it (a unit that did not
 * stop, a host of a fleet). Sets the catalogue's exit code.
 */
export function reportFailure(code: string, message: string): void {
  const known = code in ERROR_CATALOGUE ? ERROR_CATALOGUE[code as ErrorCode] : undefined;
  process.stderr.write(redactText(`error ${code}: ${message}\n${known ? `  what to do: ${known.hint}\n` : ''}`));
  process.exitCode = known?.exit ?? ERROR_CATALOGUE.RESTORE_ERR_INTERNAL.exit;
}

/**
 * An error that ends a command, the same way in both binaries: the line on stderr, and with JSON
 * output also `{"error": {code, message, hint}}` on stdout. Never a stack trace.
 */
export function printError(err: unknown, json: boolean): void {
  const e = isRestoreError(err) ? err : asRestoreError(err);
  const body = redactValue(e.toJSON());
  if (json) process.stdout.write(`${JSON.stringify({ error: body })}\n`);
  reportFailure(body.code, body.message);
}

/** Commander's own usage errors get the catalogue's code and exit code, like every other error. */
export function configureUsageErrors(program: Command): void {
  program.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.exit(ERROR_CATALOGUE.RESTORE_ERR_USAGE.exit);
  });
  program.configureOutput({
    outputError: (str, write) => write(`error RESTORE_ERR_USAGE: ${str.replace(/^error: /, '')}`),
  });
  // Options every command takes are listed in each command's --help too.
  program.configureHelp({ showGlobalOptions: true });
}
