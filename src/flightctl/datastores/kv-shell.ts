import type { Readable } from 'node:stream';

/**
 * The KV store's command-line client where it runs (redis-cli inside its container): it reaches
 * the store without a published port, so without the restart that would empty it.
 */
export interface KvShell {
  /** One command (FLUSHALL, DBSIZE, PING); answers its reply. */
  command(args: string[]): Promise<string>;
  /** Streams Redis protocol into the client's pipe mode; answers its counts. */
  pipe(input: Readable, signal?: AbortSignal): Promise<{ errors: number; replies: number }>;
}
