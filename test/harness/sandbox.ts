/**
 * The README's "run it" command: a sandbox Flight Control data plane on this machine (a
 * throwaway PostgreSQL with Flight Control's schema and a demo fleet, and a Redis KV store, both
 * on loopback with generated passwords), then the real agent binary run against it the way an
 * operator runs it after a restore. Everything started here is stopped by PID at the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { APP_USER, createFlightctlDatabase, ensureAppUser } from './database.js';
import { startPostgres, stopPostgres, type PgServer } from './pg-server.js';
import { startRedis, stopRedis, type RedisServer } from './redis-server.js';
import { addEnrollmentRequest, seedFleet } from './seed.js';

const AGENT = fileURLToPath(new URL('../../src/cli/agent.js', import.meta.url));
const DEVICES = Number(process.env.SANDBOX_DEVICES ?? 5000);

function agent(args: string[], env: Record<string, string>): Promise<number> {
  process.stdout.write(`\n$ flightctl-restore-agent ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENT, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: { PATH: process.env.PATH ?? '', ...env } });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

async function main(): Promise<void> {
  let pgServer: PgServer | undefined;
  let redis: RedisServer | undefined;
  try {
    pgServer = await startPostgres();
    redis = await startRedis();
    const appPassword = randomBytes(18).toString('hex');
    await ensureAppUser(pgServer, appPassword);
    await createFlightctlDatabase(pgServer, 'flightctl');
    const db = new pg.Client({ host: pgServer.host, port: pgServer.port, user: APP_USER, password: appPassword, database: 'flightctl' });
    await db.connect();
    await seedFleet(db, DEVICES, ['00000000-0000-0000-0000-000000000000', '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'a3bb189e-8bf9-3888-9912-ace4e6543002']);
    await addEnrollmentRequest(db, { name: 'pending-edge-gateway' });
    await db.end();
    process.stdout.write(
      `Sandbox Flight Control data plane: PostgreSQL on ${pgServer.host}:${pgServer.port}, KV store on ${redis.host}:${redis.port}, ${DEVICES} devices in 3 organizations.\n`,
    );
    const env = { DB_PASSWORD: appPassword, KV_PASSWORD: redis.password };
    const conn = ['--db-host', pgServer.host, '--db-port', String(pgServer.port), '--kv-host', redis.host, '--kv-port', String(redis.port)];
    const steps: string[][] = [
      ['devices', 'summary', ...conn.slice(0, 4)],
      ['prepare', '--check', ...conn],
      ['prepare', ...conn],
      ['prepare', '--json', ...conn],
      ['devices', 'summary', ...conn.slice(0, 4)],
      ['devices', 'list', '--limit', '5', '--field-selector', 'status.summary.status=AwaitingReconnect', '--selector', 'region=region-3', ...conn.slice(0, 4)],
    ];
    for (const args of steps) {
      const code = await agent(args, env);
      if (code !== 0) throw new Error(`flightctl-restore-agent ${args[0]} exited with ${code}`);
    }
    process.stdout.write('\nThe second prepare changed nothing: the preparation is idempotent. Stopping the sandbox.\n');
  } finally {
    if (redis) await stopRedis(redis);
    if (pgServer) await stopPostgres(pgServer);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
