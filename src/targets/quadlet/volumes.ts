import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { create as createTar } from 'tar';
import { extractArchive } from '../../flightctl/archive/reader.js';
import { RestoreError } from '../../lib/errors.js';
import type { VolumeStore } from '../target.js';
import type { PodmanClient } from './podman.js';

/**
 * Volume tars are small (a user database); anything near this is not one. Import and check read
 * them alike: what one accepts the other does.
 */
const VOLUME_TAR = { maxEntries: 100_000, maxBytes: 4 * 1024 ** 3, gzip: false, volume: true };

/**
 * Podman volumes through the libpod API. Podman 4.x has no export or import endpoint, so the API
 * names the volume's mount point and in-use state, and the agent (root on the host) reads or
 * replaces its content there, as `podman volume export|import` do. The mount point is translated
 * from Podman's graph root to podmanRoot, which differ only when the agent looks at Podman from
 * outside its mount namespace (the sandbox).
 */
export class PodmanVolumes implements VolumeStore {
  constructor(
    private readonly podman: PodmanClient,
    private readonly podmanRoot: string,
  ) {}

  private async mountpoint(name: string): Promise<string | undefined> {
    const res = await this.podman.libpodGet(`/volumes/${encodeURIComponent(name)}/json`);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new RestoreError('RESTORE_ERR_PODMAN_UNREACHABLE', `Podman answered ${res.status} for volume ${name}`);
    const mount = (JSON.parse(res.body) as { Mountpoint?: string }).Mountpoint ?? '';
    const info = await this.podman.libpodGet('/info');
    const graphRoot = (JSON.parse(info.body) as { store?: { graphRoot?: string } }).store?.graphRoot ?? '';
    return graphRoot && mount.startsWith(graphRoot) ? path.join(this.podmanRoot, mount.slice(graphRoot.length)) : mount;
  }

  async export(name: string): Promise<Readable | undefined> {
    const dir = await this.mountpoint(name);
    if (!dir) return undefined;
    const entries = (await fs.readdir(dir)).sort();
    return createTar({ cwd: dir, portable: false, preservePaths: false }, entries) as unknown as Readable;
  }

  async check(content: Readable, label: string): Promise<void> {
    await extractArchive(label, undefined, { ...VOLUME_TAR, source: content });
  }

  private async inUse(name: string): Promise<string[]> {
    const filters = encodeURIComponent(JSON.stringify({ volume: [name] }));
    const res = await this.podman.libpodGet(`/containers/json?all=false&filters=${filters}`);
    if (res.status !== 200) throw new RestoreError('RESTORE_ERR_PODMAN_UNREACHABLE', `Podman answered ${res.status} listing the containers using ${name}`);
    return (JSON.parse(res.body) as { Names?: string[] }[]).map((c) => c.Names?.[0] ?? '?');
  }

  async import(name: string, tarFile: string): Promise<'imported' | 'in-use'> {
    if ((await this.inUse(name)).length) return 'in-use';
    let dir = await this.mountpoint(name);
    if (!dir) {
      const res = await this.podman.libpodPost('/volumes/create', { Name: name });
      if (res.status !== 201 && res.status !== 200)
        throw new RestoreError('RESTORE_ERR_PODMAN_UNREACHABLE', `Podman did not create volume ${name} (${res.status})`);
      dir = (await this.mountpoint(name))!;
    }
    // Extracted beside the live content, then swapped in: a failure leaves the volume as it was.
    const staged = `${dir}.restore-${process.pid}`;
    const old = `${dir}.old-${process.pid}`;
    await fs.rm(staged, { recursive: true, force: true });
    await extractArchive(tarFile, staged, VOLUME_TAR);
    const st = await fs.stat(dir);
    await fs.chmod(staged, st.mode & 0o7777);
    await fs.chown(staged, st.uid, st.gid);
    await fs.rename(dir, old);
    try {
      await fs.rename(staged, dir);
    } catch (err) {
      await fs.rename(old, dir);
      throw err;
    }
    await fs.rm(old, { recursive: true, force: true });
    return 'imported';
  }
}
