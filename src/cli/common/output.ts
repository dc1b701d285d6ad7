import { Option, type Command } from 'commander';
import { RestoreError } from '../../lib/errors.js';

export type OutputFormat = 'text' | 'json';

/**
 * `-o, --output text|json` and its short alias `--json`, on every command of both binaries:
 * given before or after the command. Without either, the command's default applies.
 */
export function outputOptions(program: Command): Command {
  return program
    .addOption(new Option('-o, --output <format>', 'text or json (default: text on a terminal, json otherwise)').choices(['text', 'json']))
    .option('--json', 'the same as -o json');
}

/**
 * The format a command prints in: what -o/--json say, else its default. `auto` (most commands):
 * text for a person at a terminal, JSON for a pipe or a file; some print text whoever reads them
 * (a Job's log, a token for $(...)).
 */
export function outputFormat(opts: { output?: unknown; json?: unknown }, fallback: OutputFormat | 'auto' = 'auto'): OutputFormat {
  if (opts.json === true) {
    if (opts.output === 'text') throw new RestoreError('RESTORE_ERR_USAGE', '--json and -o text contradict each other; give one');
    return 'json';
  }
  if (opts.output === 'text' || opts.output === 'json') return opts.output;
  if (opts.output !== undefined) throw new RestoreError('RESTORE_ERR_USAGE', `--output ${String(opts.output)}: use text or json`);
  return fallback === 'auto' ? (process.stdout.isTTY ? 'text' : 'json') : fallback;
}
