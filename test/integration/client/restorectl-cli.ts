import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnNode, type CliResult } from '../cli/run-cli.js';

export const RESTORECTL = resolve(import.meta.dirname, '../../../dist/src/cli/restorectl.js');

export interface RunningCtl {
  process: ChildProcess;
  done: Promise<CliResult>;
  /** Resolves once stderr (or stdout) holds the text. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  output(): string;
}

/** The built flightctl-restorectl as an operator runs it, with only the environment given (pipes: off a terminal). */
export function spawnRestorectl(args: string[], env: Record<string, string> = {}): RunningCtl {
  if (!existsSync(RESTORECTL)) throw new Error(`${RESTORECTL} is missing: run npm run build first`);
  const s = spawnNode(RESTORECTL, args, env);
  const output = () => s.stdout() + s.stderr();
  const waitFor = async (text: string | RegExp, timeoutMs = 60_000) => {
    const seen = () => (typeof text === 'string' ? output().includes(text) : text.test(output()));
    for (const deadline = Date.now() + timeoutMs; !seen();) {
      if (Date.now() > deadline || s.process.exitCode !== null) throw new Error(`restorectl never printed ${String(text)}; it printed: ${output()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { process: s.process, done: s.done, waitFor, output };
}

export function restorectl(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return spawnRestorectl(args, env).done;
}
