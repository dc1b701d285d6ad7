import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { ensureAppUser } from './database.js';
import { startPostgres, stopPostgres } from './pg-server.js';
import { startRedis, stopRedis } from './redis-server.js';

export interface ServersInfo {
  pg: { host: string; port: number; adminPassword: string; appPassword: string };
  redis: { host: string; port: number; password: string };
}

/** Starts one PostgreSQL and one Redis for every integration test file; stops both by PID. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startPostgres();
  let redis;
  try {
    redis = await startRedis();
    const appPassword = randomBytes(18).toString('hex');
    await ensureAppUser(pg, appPassword);
    // Typed through provided-context.d.ts for the test files; the cast keeps the build independent of it.
    (project.provide as (key: string, value: ServersInfo) => void)('servers', {
      pg: { host: pg.host, port: pg.port, adminPassword: pg.adminPassword, appPassword },
      redis: { host: redis.host, port: redis.port, password: redis.password },
    });
  } catch (err) {
    await stopPostgres(pg);
    if (redis) await stopRedis(redis);
    throw err;
  }
  const started = redis;
  // Last resort if the test runner dies without running teardown: end both servers by PID.
  const killOnExit = () => {
    for (const [pid, signal] of [
      [started.pid, 'SIGTERM'],
      [pg.pid, 'SIGQUIT'],
    ] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
  };
  process.once('exit', killOnExit);
  return async () => {
    process.off('exit', killOnExit);
    await stopRedis(started);
    await stopPostgres(pg);
  };
}
