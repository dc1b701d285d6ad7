import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliResult } from '../cli/run-cli.js';

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
  const child = spawn(process.execPath, [RESTORECTL, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((res, rej) => {
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr, all: stdout + stderr }));
  });
  const waitFor = async (text: string | RegExp, timeoutMs = 60_000) => {
    const seen = () => (typeof text === 'string' ? (stdout + stderr).includes(text) : text.test(stdout + stderr));
    for (const deadline = Date.now() + timeoutMs; !seen(); ) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`restorectl never printed ${String(text)}; it printed: ${stdout}${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { process: child, done, waitFor, output: () => stdout + stderr };
}

export function restorectl(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return spawnRestorectl(args, env).done;
}
