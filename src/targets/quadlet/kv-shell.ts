import type { Readable } from 'node:stream';
import { RestoreError } from '../../lib/errors.js';
import type { KvShell } from '../target.js';
import type { ExecResult, PodmanClient } from './podman.js';

/** redis-cli in Redis images, valkey-cli in Valkey ones (Flight Control ships either). */
const CLIENTS = ['redis-cli', 'valkey-cli'];

/**
 * The KV store's own client inside flightctl-kv: reaches it without a published port, so without
 * the restart that would empty it. The credential goes in the exec's environment (REDISCLI_AUTH),
 * never in an argv.
 */
export class PodmanKvShell implements KvShell {
  private client?: string;

  constructor(
    private readonly podman: PodmanClient,
    private readonly password: () => Promise<string>,
    readonly container = 'flightctl-kv',
  ) {}

  private async run(args: string[], stdin?: Readable, signal?: AbortSignal): Promise<ExecResult> {
    const env = { REDISCLI_AUTH: await this.password() };
    for (const bin of this.client ? [this.client] : CLIENTS) {
      let r: ExecResult;
      try {
        r = await this.podman.exec(this.container, { cmd: [bin, '--no-auth-warning', ...args], env, stdin, signal, timeoutMs: stdin ? 0 : 60_000 });
      } catch (err) {
        if (err instanceof RestoreError && /not found|no such file/i.test(err.message)) continue;
        throw err;
      }
      if (r.exitCode === 127 || /executable file .* not found/i.test(r.stderr)) continue;
      this.client = bin;
      return r;
    }
    throw new RestoreError('RESTORE_ERR_EXEC_FAILED', `neither ${CLIENTS.join(' nor ')} runs in ${this.container}`, { container: this.container });
  }

  async command(args: string[]): Promise<string> {
    const r = await this.run(args);
    const out = r.stdout.trim();
    if (/^(WRONGPASS|NOAUTH)/.test(out)) throw new RestoreError('RESTORE_ERR_KV_AUTH', `the KV store in ${this.container} refused the credentials`);
    if (r.exitCode !== 0 || /^(ERR|MISCONF|READONLY|OOM)/.test(out)) {
      throw new RestoreError('RESTORE_ERR_KV_WRITE', `the KV store in ${this.container} refused ${args[0]}: ${(out || r.stderr.trim()).split('\n')[0]}`);
    }
    return out;
  }

  async pipe(input: Readable, signal?: AbortSignal): Promise<{ errors: number; replies: number }> {
    const r = await this.run(['--pipe'], input, signal);
    // "errors: 0, replies: 1500" is the last line of a completed --pipe.
    const m = /errors: (\d+), replies: (\d+)/.exec(r.stdout);
    if (!m)
      throw new RestoreError(
        'RESTORE_ERR_KV_WRITE',
        `writing to the KV store in ${this.container} did not complete: ${(r.stderr || r.stdout).trim().split('\n').pop()}`,
      );
    return { errors: Number(m[1]), replies: Number(m[2]) };
  }
}
