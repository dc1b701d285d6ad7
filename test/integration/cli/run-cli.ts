import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { onTestFinished } from 'vitest';
import { resolve } from 'node:path';

export const AGENT = resolve(import.meta.dirname, '../../../dist/src/cli/agent.js');

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

export interface SpawnedNode {
  process: ChildProcess;
  done: Promise<CliResult>;
  stdout(): string;
  stderr(): string;
}

/** A Node script run as an operator runs it: node and the script, only the environment given, output collected. */
export function spawnNode(script: string, args: string[], env: Record<string, string> = {}): SpawnedNode {
  const child = spawn(process.execPath, [script, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, all: stdout + stderr }));
  });
  return { process: child, done, stdout: () => stdout, stderr: () => stderr };
}

/** An agent script (the built one, or another build such as the image's bundle). */
export function spawnAgentScript(script: string, args: string[], env: Record<string, string> = {}): RunningAgent {
  const s = spawnNode(script, args, env);
  const waitForStderr = async (text: string, timeoutMs = 30_000) => {
    for (const deadline = Date.now() + timeoutMs; !s.stderr().includes(text);) {
      if (Date.now() > deadline || s.process.exitCode !== null) throw new Error(`agent never printed "${text}"; stderr: ${s.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { process: s.process, waitForStderr, done: s.done };
}

/** Starts the built agent binary as an operator would, with only the environment given here. */
export function spawnAgent(args: string[], env: Record<string, string> = {}): RunningAgent {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npm run build first (npm test does)`);
  return spawnAgentScript(AGENT, args, env);
}

/**
 * Starts an agent held at a fault point (FLIGHTCTL_RESTORE_TEST_FAULT=hold:POINT) and answers once
 * it is there, that is once it has written holdFile; removing the file lets it go on. The agent
 * is killed when the test ends if it still runs; one that ends before the point fails the test
 * with its output.
 */
export async function spawnHeld(
  spawnWith: (faultEnv: Record<string, string>) => RunningAgent,
  point: string,
  holdFile: string,
  timeoutMs = 60_000,
): Promise<RunningAgent> {
  rmSync(holdFile, { force: true });
  const agent = spawnWith({ FLIGHTCTL_RESTORE_TEST_FAULT: `hold:${point}`, FLIGHTCTL_RESTORE_TEST_FAULT_FILE: holdFile });
  onTestFinished(() => {
    if (agent.process.exitCode === null && agent.process.signalCode === null) agent.process.kill('SIGKILL');
  });
  for (const deadline = Date.now() + timeoutMs; !existsSync(holdFile);) {
    if (Date.now() > deadline || agent.process.exitCode !== null) {
      if (agent.process.exitCode === null) agent.process.kill('SIGKILL'); // its output is all there is to see
      const r = await agent.done;
      throw new Error(`the run never reached ${point} within ${timeoutMs} ms: exit ${r.code}; ${r.stderr.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return agent;
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
