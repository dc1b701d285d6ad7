import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
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
  child.stdin.end(
    [`port ${port}`, 'bind 127.0.0.1', `requirepass ${password}`, `dir ${dir}`, `save ""`, 'appendonly no', `logfile ${join(dir, 'redis.log')}`].join('\n'),
  );
  child.unref();
  const pid = child.pid!;
  const server = { host: '127.0.0.1', port, password, dir, pid };
  for (let i = 0; i < 200; i++) {
    const r = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      r.disconnect();
      return server;
    } catch {
      r.disconnect();
      await new Promise((res) => setTimeout(res, 25));
    }
  }
  await stopRedis(server);
  throw new Error(`redis-server did not start on 127.0.0.1:${port} (is redis-server installed?)`);
}

export async function stopRedis(server: RedisServer): Promise<void> {
  await stopProcess(server.pid, 'SIGTERM', server.dir);
}
