import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const AGENT = resolve(import.meta.dirname, '../../../dist/src/cli/agent.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Everything the program printed, for leak checks. */
  all: string;
}

export interface RunningAgent {
  process: ChildProcess;
  /** Resolves once stderr contains the text (for interrupting at a known point). */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
  done: Promise<CliResult>;
}

/** Starts the built agent binary as an operator would, with only the environment given here. */
export function spawnAgent(args: string[], env: Record<string, string> = {}): RunningAgent {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first (npm test does)`);
  const child = spawn(process.execPath, [AGENT, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, all: stdout + stderr }));
  });
  const waitForStderr = async (text: string, timeoutMs = 30_000) => {
    for (const deadline = Date.now() + timeoutMs; !stderr.includes(text); ) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`agent never printed "${text}"; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { process: child, waitForStderr, done };
}

/** Runs the built agent binary to its end. */
export function runAgent(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return spawnAgent(args, env).done;
}

/** Fails when output holds a secret or a word Flight Control's own tests treat as a leak. */
export function leaks(output: string, secrets: string[], opts: { allowPasswordWord?: boolean } = {}): string[] {
  const found = secrets.filter((s) => output.includes(s)).map(() => '<secret value>');
  const words = ['PRIVATE KEY', 'BEGIN RSA', 'BEGIN EC', ...(opts.allowPasswordWord ? [] : ['password'])];
  for (const w of words) if (output.toLowerCase().includes(w.toLowerCase())) found.push(w);
  return found;
}
