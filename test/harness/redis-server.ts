import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { stopProcess } from './stop-process.js';

export interface RedisServer {
  host: string;
  port: number;
  password: string;
  dir: string;
  pid: number;
}

/**
 * A throwaway redis-server on a random 127.0.0.1 port with requirepass. The password goes in
 * through stdin as a config file ("-"), never on the command line.
 */
export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fcra-redis-'));
  const password = randomBytes(18).toString('hex');
  const port = await freePort();
  const child = spawn('redis-server', ['-'], { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
  // Without these, a missing binary (ENOENT) or a server that dies at once (EPIPE on its stdin)
  // is an uncaught 'error' event that ends the whole process and skips every caller's cleanup.
  let failure: string | undefined;
  child.on('error', (err: NodeJS.ErrnoException) => (failure ??= `cannot run redis-server: ${err.code ?? err.message} (scripts/install-deps.sh installs it)`));
  child.on('exit', (code, signal) => (failure ??= `redis-server exited (${signal ?? `code ${code}`}) before it answered`));
  child.stdin.on('error', () => undefined);
  child.stdin.end(
    [`port ${port}`, 'bind 127.0.0.1', `requirepass ${password}`, `dir ${dir}`, `save ""`, 'appendonly no', `logfile ${join(dir, 'redis.log')}`].join('\n'),
  );
  child.unref();
  for (let i = 0; i < 200 && !failure; i++) {
    const r = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return { host: '127.0.0.1', port, password, dir, pid: child.pid! };
    } catch {
      r.disconnect();
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  if (child.pid !== undefined) await stopRedis({ host: '127.0.0.1', port, password, dir, pid: child.pid });
  else rmSync(dir, { recursive: true, force: true });
  throw new Error(failure ?? `redis-server did not answer on 127.0.0.1:${port}`);
}

export async function stopRedis(server: RedisServer): Promise<void> {
  await stopProcess(server.pid, 'SIGTERM', server.dir);
}
