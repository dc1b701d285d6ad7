import { spawn } from 'node:child_process';
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

/** Runs the built agent binary as an operator would, with only the environment given here. */
export function runAgent(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first (npm test does)`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [AGENT, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr, all: stdout + stderr }));
  });
}

/** Fails when output holds a secret or a word Flight Control's own tests treat as a leak. */
export function leaks(output: string, secrets: string[], opts: { allowPasswordWord?: boolean } = {}): string[] {
  const found = secrets.filter((s) => output.includes(s)).map(() => '<secret value>');
  const words = ['PRIVATE KEY', 'BEGIN RSA', 'BEGIN EC', ...(opts.allowPasswordWord ? [] : ['password'])];
  for (const w of words) if (output.toLowerCase().includes(w.toLowerCase())) found.push(w);
  return found;
}
