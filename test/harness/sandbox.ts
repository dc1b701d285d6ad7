/**
 * The README's "run it" command: a real restore on a sandbox Flight Control Quadlets host built on
 * this machine (real systemd in private namespaces running the real quadlet generator, Podman's
 * API, flightctl-db, flightctl-kv and the five application units, secrets as in production).
 * The harness plays the operator's history: a fleet in flightctl-db, a backup taken inside the
 * database container as Flight Control's own tooling does, then changes made after the backup.
 * Then the real agent binary restores the backup, and the changes made after it are gone.
 * Everything started here is stopped at the end, also on failure.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { cannotHost, sandboxHostConfig, startSandbox, type Sandbox } from './quadlet-host/sandbox.js';
import { connectSandboxDb, connectSandboxKv, deviceSummary, mutateAfterDump, seedScenario, takeDump } from './restore-scenario.js';

const AGENT = fileURLToPath(new URL('../../src/cli/agent.js', import.meta.url));
const DEVICES = Number(process.env.SANDBOX_DEVICES ?? 5000);

function agent(args: string[]): Promise<void> {
  process.stdout.write(`\n$ flightctl-restore-agent ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    // stdio inherited: on a terminal the agent draws its step lines and progress bars itself.
    const child = spawn(process.execPath, [AGENT, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { PATH: process.env.PATH ?? '' } });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`flightctl-restore-agent ${args[0]} exited with ${code}`))));
  });
}

function table(title: string, counts: Record<string, number>): void {
  process.stdout.write(`\n${title}\n`);
  for (const [status, n] of Object.entries(counts).sort()) process.stdout.write(`  ${status.padEnd(18)} ${n}\n`);
}

async function summary(sb: Sandbox): Promise<Record<string, number>> {
  const db = await connectSandboxDb(sb);
  try {
    return await deviceSummary(db);
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  const why = cannotHost();
  if (why) throw new Error(`this machine cannot host the sandbox Quadlets host: ${why}`);
  let sb: Sandbox | undefined;
  let stopping: Promise<void> | undefined;
  const stopSandbox = () => (stopping ??= sb?.stop() ?? Promise.resolve());
  // Ctrl-C or a SIGTERM must not leave the sandbox behind: stop it, then go. While it is still
  // starting, the start finishes first (it cannot be torn down half-way), then it is stopped.
  const onSignal = () => {
    interrupted = true;
    process.stderr.write('interrupted: stopping the sandbox\n');
    if (sb) void stopSandbox().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    process.stdout.write('Starting the sandbox Flight Control Quadlets host...\n');
    sb = await startSandbox();
    if (interrupted) return;
    // The host settings go in a config file, as an operator keeps them in /etc.
    const configFile = `${sb.dir}/agent.yaml`;
    writeFileSync(
      configFile,
      stringify({
        host: sandboxHostConfig(sb, `${sb.dir}/agent-state`),
      }),
    );
    const cfg = ['--config', configFile];

    const db = await connectSandboxDb(sb);
    const kv = await connectSandboxKv(sb);
    const backup = `${sb.dir}/flightctl-backup.sql`;
    try {
      const seeded = await seedScenario(db, { devices: DEVICES });
      process.stdout.write(
        `(sandbox: a fleet of ${seeded.devices} devices in ${seeded.organizations.length} organizations, ${seeded.fleets} fleets, enrollment requests, events)\n`,
      );
      table('Devices at backup time:', seeded.byStatus);
      const dump = await takeDump(sb, { format: 'plain', file: backup });
      process.stdout.write(
        `\n(sandbox: backup taken inside flightctl-db with pg_dump --clean --if-exists: ${backup}, ${(dump.bytes / 1048576).toFixed(1)} MiB)\n`,
      );
      const changes = await mutateAfterDump(db, kv);
      process.stdout.write(
        `(sandbox: after the backup, ${changes.addedDevices.length} devices enrolled, ${changes.softDeleted.length + changes.hardDeleted.length} deleted, ${changes.statusChanged.length} statuses changed, an organization and ${changes.kvKeys.length} KV keys added)\n`,
      );
    } finally {
      await db.end();
      kv.disconnect();
    }
    table('Devices now, before the restore:', await summary(sb));

    await agent(['services', ...cfg]);
    await agent(['secrets', 'check', ...cfg]);
    await agent(['run', '--check', '--dump', backup, ...cfg]);
    await agent(['run', '--dump', backup, ...cfg]);
    table('Devices after the restore (the later changes are gone; every device awaits its reconnect):', await summary(sb));
    await agent(['run', ...cfg]);
    await agent(['runs', ...cfg]);
    process.stdout.write('\nDone: the backup is restored, the run after it found nothing to change, and every unit runs. Stopping the sandbox.\n');
  } finally {
    await stopSandbox();
    if (interrupted) process.exit(130);
  }
}

let interrupted = false;

main().catch((err: unknown) => {
  if (interrupted) return;
  process.stderr.write(`sandbox failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
