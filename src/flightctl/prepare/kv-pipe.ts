import { Readable } from 'node:stream';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { RestoreError } from '../../lib/errors.js';
import type { KvShell } from '../datastores/kv-shell.js';
import { countAwaitingReconnectKeys, DEVICE_NAMES } from './kv-keys.js';
import { awaitingReconnectKey } from './marks.js';

function bulk(s: string): string {
  return `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
}

/** SETNX <key> "true" in the Redis protocol, what the client's pipe mode reads. */
export function setnxCommand(key: string): string {
  return `*3\r\n${bulk('SETNX')}${bulk(key)}${bulk('true')}`;
}

export interface PipeOptions {
  batchSize: number;
  signal?: AbortSignal | undefined;
  onProgress?: (written: number, expected: number) => Promise<void> | void;
}

/**
 * The KV part through the KV store's own client (publish-dropin: the store is not published, see
 * publishDatabasePort): FLUSHALL, then every key streamed from PostgreSQL into the client's pipe
 * mode, then verified: every command answered without error, and DBSIZE equal to the devices.
 */
export async function writeKeysThroughShell(db: pg.Client, shell: KvShell, opts: PipeOptions): Promise<number> {
  const expected = await countAwaitingReconnectKeys(db);
  await shell.command(['FLUSHALL']);
  const cursor = db.query(new Cursor<{ org: string; name: string }>(DEVICE_NAMES));
  let sent = 0;
  async function* commands(): AsyncGenerator<string> {
    try {
      for (;;) {
        if (opts.signal?.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', `interrupted after ${sent} awaiting-reconnect keys`);
        const rows = await cursor.read(opts.batchSize);
        if (rows.length === 0) return;
        yield rows.map((r) => setnxCommand(awaitingReconnectKey(r.org, r.name))).join('');
        sent += rows.length;
        await opts.onProgress?.(sent, expected);
      }
    } finally {
      await cursor.close().catch(() => undefined);
    }
  }
  const r = await shell.pipe(Readable.from(commands()), opts.signal);
  const keys = Number(await shell.command(['DBSIZE']));
  if (r.errors > 0 || r.replies !== sent || keys !== expected) {
    throw new RestoreError(
      'RESTORE_ERR_KV_VERIFY',
      `expected ${expected} awaiting-reconnect keys in the KV store, found ${keys} (${r.replies} replies, ${r.errors} errors)`,
      {
        expected,
        found: keys,
      },
    );
  }
  return keys;
}
