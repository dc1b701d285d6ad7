/**
 * The throwaway PostgreSQL and Redis a benchmark runs against, and the child processes it runs on
 * them, stopped on every path: when the benchmark ends or fails (a finally), on SIGINT/SIGTERM,
 * when a start fails half-way (PostgreSQL up, Redis not), and by PID when the process exits some
 * other way. A benchmark that finds something missing says what before it starts anything.
 */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PG_BIN_DIR, startPostgres, stopPostgres, type PgServer } from '../test/harness/pg-server.js';
import { startRedis, stopRedis, type RedisServer } from '../test/harness/redis-server.js';
import { withLifecycle } from './bench-lifecycle.js';

export interface BenchServers {
  pg: PgServer;
  redis: RedisServer;
  /** A child process to end (SIGTERM) when the benchmark stops early. */
  track(child: ChildProcess): void;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** What is missing to start the servers, each with where it comes from; empty when all is there. */
export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!existsSync(`${PG_BIN_DIR}/initdb`)) missing.push(`PostgreSQL 15 (${PG_BIN_DIR}/initdb; Debian package postgresql)`);
  if (!onPath('redis-server')) missing.push('redis-server on PATH (Debian package redis-server)');
  if (!onPath('runuser')) missing.push('runuser on PATH (Debian package util-linux), to run PostgreSQL as user postgres');
  return missing;
}

/**
 * Starts PostgreSQL (with `pgSettings`) and Redis, runs fn, and stops both whatever happens.
 * A signal stops everything, waiting for a start that is under way, then exits 130.
 */
export async function withBenchServers<T>(
  pgSettings: Record<string, string>,
  fn: (servers: BenchServers) => Promise<T>,
  log: (msg: string) => void,
): Promise<T> {
  const missing = missingPrerequisites();
  if (missing.length)
    throw new Error(
      `missing: ${missing.join('; ')}. Run scripts/install-deps.sh (as root), or start the benchmark with npm run bench:<name>, which runs it first`,
    );

  let pgStarting: Promise<PgServer> | undefined;
  let redisStarting: Promise<RedisServer> | undefined;
  // Known once started; the exit handler can only act synchronously, by PID.
  const pids: { pid: number; signal: NodeJS.Signals; dir: string }[] = [];
  const teardown = {
    onSignal: 'stopping the servers this benchmark started',
    async stop() {
      // A start under way is waited for, so what it brings up is stopped too (a failed start cleans up after itself).
      const [redis, pg] = await Promise.allSettled([redisStarting, pgStarting]);
      if (redis.status === 'fulfilled' && redis.value) await stopRedis(redis.value);
      if (pg.status === 'fulfilled' && pg.value) await stopPostgres(pg.value);
      pids.length = 0;
    },
    atExit() {
      for (const { pid, signal, dir } of pids) {
        try {
          process.kill(pid, signal);
          rmSync(dir, { recursive: true, force: true });
        } catch {
          /* already gone */
        }
      }
    },
  };
  return withLifecycle(teardown, log, async ({ track, checkNotStopping }) => {
    pgStarting = startPostgres(pgSettings);
    const pg = await pgStarting;
    pids.push({ pid: pg.pid, signal: 'SIGQUIT', dir: pg.dir });
    // A signal that came while PostgreSQL started must not be followed by starting Redis.
    checkNotStopping('starting the servers');
    redisStarting = startRedis();
    const redis = await redisStarting;
    pids.push({ pid: redis.pid, signal: 'SIGTERM', dir: redis.dir });
    checkNotStopping('starting the servers');
    return fn({ pg, redis, track });
  });
}
