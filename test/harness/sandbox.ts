/**
 * The README's "run it" command: the agent on a sandbox Flight Control Quadlets host built on this
 * machine (real systemd in private namespaces running the real quadlet generator, Podman's API,
 * flightctl-db, flightctl-kv and the five application units, secrets as in production). The
 * harness stands in for a restore: it loads Flight Control's schema and a demo fleet into
 * flightctl-db. Then the real agent binary walks the runbook's steps the way an operator would,
 * and everything started here is stopped at the end, also on failure.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { flightctlSchemaSql } from './flightctl-schema.js';
import { cannotHost, startSandbox, type Sandbox } from './quadlet-host/sandbox.js';
import { addEnrollmentRequest, seedFleet } from './seed.js';

const AGENT = fileURLToPath(new URL('../../src/cli/agent.js', import.meta.url));
const DEVICES = Number(process.env.SANDBOX_DEVICES ?? 5000);
const ORGS = ['00000000-0000-0000-0000-000000000000', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'a3bb189e-8bf9-3888-9912-ace4e6543002'];

function agent(args: string[], env: Record<string, string> = {}, capture = false): Promise<string> {
  process.stdout.write(`\n$ flightctl-restore-agent ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT, ...args], {
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`flightctl-restore-agent ${args[0]} exited with ${code}`))));
  });
}

/** Stands in for the restore: Flight Control's schema and a fleet in the sandbox's flightctl-db. */
async function loadDemoDatabase(host: string, password: string): Promise<void> {
  const db = new pg.Client({ host, port: 5432, user: 'flightctl_app', password, database: 'flightctl' });
  for (let attempt = 0; ; attempt++) {
    try {
      await db.connect();
      break;
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    await db.query(flightctlSchemaSql('current'));
    await seedFleet(db, DEVICES, ORGS);
    await addEnrollmentRequest(db, { name: 'pending-edge-gateway' });
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
    // The host settings go in a config file, as an operator would keep them in /etc.
    const configFile = `${sb.dir}/agent.yaml`;
    writeFileSync(
      configFile,
      stringify({
        host: { dbusAddress: sb.busAddress, podmanSocket: sb.podmanSocket, podmanRoot: sb.podmanRoot, dropinDir: sb.dropinDir, quadletDirs: sb.quadletDirs, stateDir: `${sb.dir}/agent-state` },
      }),
    );
    const cfg = ['--config', configFile];
    // A container's address changes whenever its unit restarts: ask again each time.
    const locate = async () => JSON.parse(await agent(['endpoints', '--json', ...cfg], {}, true)) as { db: { host: string }; kv: { host: string } };
    const dbPassword = sb.secrets['flightctl-postgresql-user-password']!.trim();
    const kvPassword = sb.secrets['flightctl-kv-password']!.trim();
    await loadDemoDatabase((await locate()).db.host, dbPassword);
    process.stdout.write(`(sandbox: loaded Flight Control's schema and ${DEVICES} devices in ${ORGS.length} organizations into flightctl-db)\n`);

    await agent(['services', ...cfg]);
    await agent(['secrets', 'check', ...cfg]);
    await agent(['endpoints', '--strategy', 'publish-dropin', ...cfg]);
    await agent(['services', 'stop', ...cfg]);
    const endpoints = await locate();
    const conn = ['--db-host', endpoints.db.host, '--kv-host', endpoints.kv.host];
    const passwords = { DB_PASSWORD: dbPassword, KV_PASSWORD: kvPassword };
    await agent(['prepare', '--check', ...conn], passwords);
    await agent(['prepare', ...conn], passwords);
    await agent(['prepare', '--json', ...conn], passwords);
    await agent(['services', 'start', ...cfg]);
    await agent(['devices', 'summary', '--db-host', endpoints.db.host], { DB_PASSWORD: dbPassword });
    await agent(['devices', 'list', '--limit', '3', '--selector', 'region=region-3', '--db-host', endpoints.db.host], { DB_PASSWORD: dbPassword });
    process.stdout.write('\nDone: the second prepare changed nothing (idempotent), and every stopped unit runs again. Stopping the sandbox.\n');
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
