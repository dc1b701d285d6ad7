/**
 * "ours" in the restore benchmark: the real agent binary, run as an operator would
 * (`flightctl-restore-agent run --dump FILE --json --config FILE`), pointed at the sandbox with a
 * config file as the runbook tests do (test/integration/runbook/restore-env.ts). Its last line is
 * the run, with downtimeMs and every step's durationMs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { PROJECT_ROOT, sandboxHostConfig, type Sandbox } from '../test/harness/quadlet-host/sandbox.js';

export const AGENT = path.join(PROJECT_ROOT, 'dist', 'src', 'cli', 'agent.js');

export interface AgentRun {
  phase: string;
  downtimeMs?: number;
  steps: { name: string; status: string; durationMs: number; msg: string; data?: Record<string, unknown> }[];
  error?: { code: string; message: string };
}

/** The agent's configuration for this sandbox: its bus, Podman socket and paths; container-ip endpoints (the default). */
export function writeAgentConfig(sb: Sandbox, file: string, stateDir: string, unitTimeoutMs: number): void {
  writeFileSync(
    file,
    stringify({
      log: { level: 'warn' },
      host: { ...sandboxHostConfig(sb, stateDir), unitTimeoutMs, endpointStrategy: 'container-ip' },
    }),
    { mode: 0o600 },
  );
}

/**
 * Runs the restore to its end (bounded by timeoutMs: then SIGTERM, which makes the agent run its
 * finalizers, and SIGKILL 30 s later) and returns the finished run; a run that did not succeed is an error.
 */
export function runAgentRestore(opts: { config: string; dump: string; timeoutMs: number; track(child: ChildProcess): void }): Promise<AgentRun> {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: build first (npx tsc -p . or npm run build)`);
  return new Promise((resolve, reject) => {
    // Only PATH: the agent reads its secrets from Podman, as on a real host.
    const child = spawn(process.execPath, [AGENT, 'run', '--dump', opts.dump, '--json', '--config', opts.config], {
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
      const last = stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      let event: { type?: string; run?: AgentRun } = {};
      try {
        event = JSON.parse(last ?? '{}') as typeof event;
      } catch {
        /* reported below */
      }
      const run = event.type === 'run-finished' ? event.run : undefined;
      if (code === 0 && run?.phase === 'Succeeded') return resolve(run);
      reject(new Error(`the agent's run exited ${code}${run ? ` (${run.phase}: ${run.error?.code ?? ''} ${run.error?.message ?? ''})` : ''}; stderr: ${stderr.trim().slice(-2000)}`));
    });
  });
}
