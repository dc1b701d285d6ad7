import { buffer } from 'node:stream/consumers';
import { RestoreError } from '../../../src/lib/errors.js';
import type {
  DataEndpoints,
  DatabaseShell,
  KvShell,
  RestoreTarget,
  ServiceChange,
  ServiceState,
  TargetCredentials,
  VolumeStore,
} from '../../../src/targets/target.js';
import type { MemoryProcess } from './memory-world.js';

const notHere = (what: string) => () =>
  Promise.reject(new RestoreError('RESTORE_ERR_INTERNAL', `the in-memory target has no ${what}: the engine reaches its data through RestoreData`));

/** The target port on the in-memory host: services, drop-ins, credentials and a volume. */
export class MemoryTarget implements RestoreTarget {
  readonly kind = 'quadlet' as const;
  readonly deploymentType = 'podman' as const;
  readonly database: DatabaseShell = {
    loadableFormats: ['plain', 'custom'],
    sql: notHere('database shell'),
    load: notHere('database shell'),
    dump: () => {
      throw new RestoreError('RESTORE_ERR_INTERNAL', 'the in-memory target takes no backups');
    },
    freeBytes: notHere('database shell'),
    removeFile: notHere('database shell'),
  };
  readonly kvShell: KvShell = { command: notHere('KV client'), pipe: notHere('KV client') };
  readonly volumes?: VolumeStore;

  constructor(
    private readonly proc: MemoryProcess,
    readonly reachingDatabaseRestartsIt = false,
    withVolumes = true,
  ) {
    const w = proc.world;
    if (withVolumes) {
      this.volumes = {
        export: notHere('volume export') as VolumeStore['export'],
        // The in-memory volume is not a tar: its check only reads it, as a check reads the archive.
        check: async (content) => void (await buffer(content)),
        import: (_name, _tar) =>
          w.volume.inUse
            ? proc.read(() => 'in-use' as const)
            : proc.change('import the PAM issuer volume', () => ((w.volume.content = 'restored'), 'imported' as const)),
      };
    }
  }

  preflight() {
    return this.proc.read(() => ({ msg: `${this.proc.world.services.size} application services installed`, warnings: [], data: {} }));
  }

  services(): Promise<ServiceState[]> {
    return this.proc.read(() =>
      [...this.proc.world.services].map(([unit, running]) => ({
        unit,
        installed: true,
        active: running,
        activeState: running ? 'active' : 'inactive',
        subState: running ? 'running' : 'dead',
      })),
    );
  }

  /** Records what it stops before it stops anything, as the real targets do. */
  stopServices(): Promise<ServiceChange[]> {
    const w = this.proc.world;
    return this.proc.change('stop the services', () => {
      const changes: ServiceChange[] = [];
      for (const [unit, running] of w.services) {
        if (running) {
          w.stoppedByAgent.add(unit);
          w.services.set(unit, false);
        }
        changes.push({ unit, action: running ? 'stopped' : 'already-stopped', activeState: 'inactive', subState: 'dead' });
      }
      return changes;
    });
  }

  stoppedByAgent(): Promise<string[]> {
    return this.proc.read(() => [...this.proc.world.stoppedByAgent]);
  }

  startServices(): Promise<ServiceChange[]> {
    const w = this.proc.world;
    return this.proc.change('start the services', () =>
      [...w.services.keys()].map((unit): ServiceChange => {
        if (!w.stoppedByAgent.has(unit)) return { unit, action: 'not-stopped-by-us', activeState: 'active', subState: 'running' };
        w.services.set(unit, true);
        w.stoppedByAgent.delete(unit);
        return { unit, action: 'started', activeState: 'active', subState: 'running' };
      }),
    );
  }

  credentials(): Promise<TargetCredentials> {
    return this.proc.read(() => ({ dbUser: 'flightctl_app', dbPassword: 'memory-db-secret', kvPassword: 'memory-kv-secret' }));
  }

  /** Where reaching the database restarts it, a drop-in publishes it until the lease is released. */
  endpoints(): Promise<DataEndpoints> {
    const w = this.proc.world;
    if (!this.reachingDatabaseRestartsIt)
      return this.proc.read(() => ({ db: { host: '127.0.0.1', port: 5432 }, kv: { host: '127.0.0.1', port: 6379 }, release: async () => [] }));
    const dropin = '/run/containers/systemd/flightctl-db.container.d/10-publish-port.conf';
    return this.proc.change('publish the database', () => {
      w.dropins.add(dropin);
      return {
        db: { host: '127.0.0.1', port: 15432 },
        release: () => this.proc.change('remove the publish drop-in', () => (w.dropins.delete(dropin) ? [`removed drop-in ${dropin}`] : [])),
      };
    });
  }

  readEndpoint() {
    return this.proc.read(() => ({ host: '127.0.0.1', port: 5432 }));
  }

  removeLeftovers(): Promise<string[]> {
    const w = this.proc.world;
    if (!w.dropins.size) return this.proc.read(() => []);
    return this.proc.change('remove leftover drop-ins', () => {
      const removed = [...w.dropins].map((d) => `removed leftover drop-in ${d}`);
      w.dropins.clear();
      return removed;
    });
  }

  runningVersion() {
    return this.proc.read(() => ({ version: this.proc.world.version, source: 'the in-memory host' }));
  }

  close(): void {}
}
