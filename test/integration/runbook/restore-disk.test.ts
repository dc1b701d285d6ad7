import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { leaks } from '../cli/run-cli.js';
import { finishedRun, startRestoreEnv, statuses, type RestoreEnv } from './restore-env.js';

/**
 * The database volume of this sandbox is a 128 MiB tmpfs, so it can really run short: the restore
 * must refuse in preflight, before anything changes, when a second copy of the database would not
 * fit, and go ahead on the same volume once there is room.
 */
describe('run: free space in the database volume (sandbox Quadlets host)', () => {
  let env: RestoreEnv;
  let podman: PodmanClient;
  const filler = '/var/lib/pgsql/data/filler';

  beforeAll(async () => {
    env = await startRestoreEnv({ devices: 600, sandboxEnv: { QH_DB_VOLUME_BLOCKS: '32768' } });
    podman = new PodmanClient(env.sb.podmanSocket);
  });
  afterAll(async () => {
    await env?.stop();
  });

  async function freeKiB(): Promise<number> {
    const r = await podman.exec('flightctl-db', { cmd: ['df', '-Pk', '/var/lib/pgsql/data'], user: 'postgres' });
    return Number(r.stdout.trim().split('\n')[1]!.trim().split(/\s+/)[3]);
  }

  it('refuses when the volume cannot hold a second copy, and changes nothing', async () => {
    await env.reset();
    // Leave 2 MiB free: far less than the database.
    const fill = (await freeKiB()) - 2048;
    const r0 = await podman.exec('flightctl-db', { cmd: ['sh', '-c', `head -c ${fill}k /dev/zero > ${filler}`], user: 'postgres' });
    expect(r0.exitCode, r0.stderr).toBe(0);
    const before = await env.snapshot();
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    expect(r.code).toBe(21);
    const run = finishedRun(r.stdout);
    expect(statuses(run)).toEqual({ preflight: 'failed' });
    expect(run.error).toMatchObject({
      code: 'RESTORE_ERR_INSUFFICIENT_SPACE',
      message: expect.stringMatching(/^the database volume has [\d.]+ MiB free, the restore needs [\d.]+ MiB/),
    });
    expect(r.stderr).toMatch(/what to do: Free space in the database's volume/);
    expect(await env.snapshot()).toEqual(before);
    expect(leaks(r.all, env.secrets)).toEqual([]);
  });

  it('with room again, the same run goes ahead', async () => {
    await podman.exec('flightctl-db', { cmd: ['rm', '-f', filler], user: 'postgres' });
    const r = await env.agent(['run', '--dump', env.dumps.plain, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(finishedRun(r.stdout).phase).toBe('Succeeded');
  });
});
