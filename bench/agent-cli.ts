/**
 * "ours" in the benchmarks: the built agent binary, run as an operator would, timed from the
 * spawn to its exit (what the operator waits for: Node's start, the lock, the checksum and all).
 * `backup --json` prints its result on one line; `run --json` prints events, the last one the
 * finished run, with downtimeMs and every step's durationMs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../test/harness/quadlet-host/sandbox.js';

export const AGENT = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'agent.js');

export interface AgentRun {
  phase: string;
  downtimeMs?: number;
  steps: { name: string; status: string; durationMs: number; msg: string; data?: Record<string, unknown> }[];
  error?: { code: string; message: string };
}

export interface AgentCall {
  wallMs: number;
  /** The last line of stdout that is JSON, parsed. */
  last: Record<string, unknown>;
}

/**
 * Runs `flightctl-restore-agent ARGS --json --config FILE` to its end, bounded by timeoutMs (then
 * SIGTERM, so the agent runs its finalizers, and SIGKILL 30 s later). A non-zero exit is an error.
 */
export function runAgentCli(args: string[], opts: { config: string; timeoutMs: number; track(child: ChildProcess): void }): Promise<AgentCall> {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: build first (npx tsc -p . or npm run build)`);
  return new Promise((resolve, reject) => {
    const start = performance.now();
    // Only PATH: the agent reads its secrets from Podman, as on a real host.
    const child = spawn(process.execPath, [AGENT, ...args, '--json', '--config', opts.config], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - start;
      // Both print JSON one document per line (backup one line, run one event per line).
      let last: Record<string, unknown> = {};
      try {
        last = JSON.parse(
          stdout
            .trim()
            .split('\n')
            .filter((l) => l.startsWith('{'))
            .at(-1) ?? '{}',
        ) as Record<string, unknown>;
      } catch {
        /* reported below */
      }
      if (code === 0) return resolve({ wallMs, last });
      reject(new Error(`flightctl-restore-agent ${args[0]} exited ${code}: ${JSON.stringify(last).slice(0, 1500)}; stderr: ${stderr.trim().slice(-2000)}`));
    });
  });
}

/** The finished run of `run --json`; one that did not succeed is an error. */
export function finishedRun(call: AgentCall): AgentRun {
  const event = call.last as { type?: string; run?: AgentRun };
  if (event.type !== 'run-finished' || event.run?.phase !== 'Succeeded')
    throw new Error(`the restore did not succeed: ${JSON.stringify(event).slice(0, 2000)}`);
  return event.run;
}
