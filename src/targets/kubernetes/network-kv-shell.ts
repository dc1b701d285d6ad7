import type { Readable } from 'node:stream';
import { withKv, type KvEndpoint } from '../../flightctl/datastores/kv.js';
import { RestoreError } from '../../lib/errors.js';
import type { KvShell } from '../target.js';

/**
 * The KV store's commands over the network, at its Service: a Job reaches it directly, so there
 * is no client inside its pod to go through and nothing is ever published. The engine uses it only
 * where it would use a host's redis-cli (a ping, emptying a spare database); keys are written over
 * the network anyway.
 */
export class NetworkKvShell implements KvShell {
  constructor(private readonly endpoint: () => Promise<KvEndpoint>) {}

  async command(args: string[]): Promise<string> {
    // redis-cli's "-n DB" selects the database first.
    const select = args[0] === '-n' ? Number(args[1]) : 0;
    const [cmd, ...rest] = args[0] === '-n' ? args.slice(2) : args;
    if (!cmd) throw new RestoreError('RESTORE_ERR_INTERNAL', 'no KV command given');
    const ep = { ...(await this.endpoint()), db: select };
    const reply = await withKv(ep, (redis) => redis.call(cmd, ...rest));
    return String(reply);
  }

  async pipe(_input: Readable): Promise<{ errors: number; replies: number }> {
    throw new RestoreError('RESTORE_ERR_INTERNAL', 'the Kubernetes target writes keys over the network, never through a client pipe');
  }
}
