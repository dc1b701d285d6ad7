/**
 * "ours" in the restore benchmark: the real agent binary, run as an operator would
 * (`flightctl-restore-agent run --dump FILE --json --config FILE`), pointed at the sandbox with a
 * config file as the runbook tests do (test/integration/runbook/restore-env.ts). Its last line is
 * the run, with downtimeMs and every step's durationMs.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { sandboxHostConfig, type Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import { finishedRun, runAgentCli, type AgentRun } from './agent-cli.js';

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
export async function runAgentRestore(opts: { config: string; dump: string; timeoutMs: number; track(child: ChildProcess): void }): Promise<AgentRun> {
  return finishedRun(await runAgentCli(['run', '--dump', opts.dump], opts));
}
