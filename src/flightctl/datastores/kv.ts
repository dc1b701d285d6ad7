import { Redis } from 'ioredis';
import { RestoreError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';

export interface KvEndpoint {
  host: string;
  port: number;
  password?: string | undefined;
  connectTimeoutMs?: number;
}

function describe(ep: KvEndpoint): string {
  return `KV store (Redis) at ${ep.host}:${ep.port}`;
}

export function classifyKvError(err: unknown, ep: KvEndpoint): RestoreError {
  if (err instanceof RestoreError) return err;
  const text = String((err as Error)?.message ?? err);
  const code = (err as { code?: string })?.code ?? '';
  if (/WRONGPASS|NOAUTH|invalid password|AUTH failed/i.test(text)) {
    const why = ep.password ? 'rejected the credentials' : 'asks for credentials and KV_PASSWORD is not set';
    return new RestoreError('RESTORE_ERR_KV_AUTH', `${describe(ep)} ${why}`, { host: ep.host, port: ep.port });
  }
  if ((err as Error)?.name === 'ReplyError') {
    return new RestoreError('RESTORE_ERR_KV_WRITE', `${describe(ep)} refused a command: ${text.replace(/password/gi, 'credential')}`, { host: ep.host, port: ep.port });
  }
  const reason = code || text.replace(/password/gi, 'credential');
  return new RestoreError('RESTORE_ERR_KV_UNREACHABLE', `cannot use ${describe(ep)}: ${reason}`, { host: ep.host, port: ep.port });
}

/**
 * Connects without retries: during a restore a KV store that is not there must be reported at
 * once, not hidden behind a reconnect loop.
 */
export async function connectKv(ep: KvEndpoint): Promise<Redis> {
  registerSecret(ep.password);
  const redis = new Redis({
    host: ep.host,
    port: ep.port,
    password: ep.password,
    lazyConnect: true,
    connectTimeout: ep.connectTimeoutMs ?? 10_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
    // ioredis prints a warning to the console when a password is given to a server without one.
    showFriendlyErrorStack: false,
  });
  // ioredis reports the real cause (WRONGPASS, NOAUTH from its ready check, ECONNREFUSED) as an
  // 'error' event and then rejects with a bare "Connection is closed": keep the real one.
  let lastError: unknown;
  redis.on('error', (err) => {
    lastError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw classifyKvError(lastError ?? err, ep);
  }
  return redis;
}

export async function withKv<T>(ep: KvEndpoint, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = await connectKv(ep);
  try {
    return await fn(redis);
  } catch (err) {
    throw err instanceof RestoreError ? err : classifyKvError(err, ep);
  } finally {
    redis.disconnect();
  }
}
