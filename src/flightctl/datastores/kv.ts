import { Redis } from 'ioredis';
import type { Logger } from 'winston';
import { RestoreError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';

export interface KvEndpoint {
  host: string;
  port: number;
  password?: string | undefined;
  connectTimeoutMs?: number;
  /** Database index to select (0 unless keys are staged in a spare one). */
  db?: number;
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
    return new RestoreError('RESTORE_ERR_KV_WRITE', `${describe(ep)} refused a command: ${text.replace(/password/gi, 'credential')}`, {
      host: ep.host,
      port: ep.port,
    });
  }
  const reason = code || text.replace(/password/gi, 'credential');
  return new RestoreError('RESTORE_ERR_KV_UNREACHABLE', `cannot use ${describe(ep)}: ${reason}`, { host: ep.host, port: ep.port });
}

// Redis answers AUTH on a server without credentials with a text that names them; it is not an
// error for us (the server simply needs none), and its words must not reach any output.
const NO_AUTH_CONFIGURED = /without any password configured|no password is set/i;

/**
 * Connects without retries: during a restore a KV store that is not there must be reported at
 * once, not hidden behind a reconnect loop. AUTH is sent here rather than by ioredis, which
 * prints a console warning of its own when a server needs no credentials.
 */
export async function connectKv(ep: KvEndpoint, logger?: Logger): Promise<Redis> {
  registerSecret(ep.password);
  const redis = new Redis({
    host: ep.host,
    port: ep.port,
    lazyConnect: true,
    enableReadyCheck: false,
    connectTimeout: ep.connectTimeoutMs ?? 10_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // ioredis reports the real cause (ECONNREFUSED, ...) as an 'error' event and then rejects with
  // a bare "Connection is closed": keep the real one.
  let lastError: unknown;
  redis.on('error', (err) => {
    lastError = err;
  });
  try {
    await redis.connect();
    if (ep.password) {
      await redis.auth(ep.password).catch((err: Error) => {
        if (!NO_AUTH_CONFIGURED.test(err.message)) throw err;
        logger?.warn('the KV store requires no credentials; the KV credential from the environment is not used');
      });
    }
    // SELECT only after AUTH: a server with credentials refuses it before.
    if (ep.db) await redis.select(ep.db);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw classifyKvError(err instanceof Error && err.name === 'ReplyError' ? err : (lastError ?? err), ep);
  }
  return redis;
}

/** Runs fn on one connection; fn talks only to the KV store, so what it lets through is a KV error. */
export async function withKv<T>(ep: KvEndpoint, fn: (redis: Redis) => Promise<T>, logger?: Logger): Promise<T> {
  const redis = await connectKv(ep, logger);
  try {
    return await fn(redis);
  } catch (err) {
    throw err instanceof RestoreError ? err : classifyKvError(err, ep);
  } finally {
    redis.disconnect();
  }
}
