import { RestoreError } from '../../lib/errors.js';
import { publishPorts, removePublished, scanForOurs, type Published, type Removed } from './dropins.js';
import type { QuadletHost } from './host.js';
import { DB_UNIT, KV_UNIT, containerOf } from './units.js';

export type EndpointStrategy = 'container-ip' | 'publish-dropin';

export interface Endpoint {
  name: 'db' | 'kv';
  unit: string;
  container: string;
  host: string;
  port: number;
  strategy: EndpointStrategy;
  /** publish-dropin: the drop-in that publishes it (removed by release()). */
  dropin?: string | undefined;
  inEffect?: boolean | undefined;
}

export interface EndpointLease {
  db: Endpoint;
  kv: Endpoint;
  /** Undoes whatever was changed to reach them (drop-ins); safe to call more than once. */
  release(): Promise<Removed[]>;
}

const TARGETS = [
  { name: 'db' as const, unit: DB_UNIT, port: 5432 },
  { name: 'kv' as const, unit: KV_UNIT, port: 6379 },
];

async function viaContainerIp(host: QuadletHost, which: readonly ('db' | 'kv')[] = ['db', 'kv']): Promise<PartialLease> {
  const found = await Promise.all(
    TARGETS.filter((t) => which.includes(t.name)).map(async (t): Promise<Endpoint> => {
      const container = containerOf(t.unit);
      const info = await host.podman.requireRunning(container);
      if (!info.ip) {
        throw new RestoreError('RESTORE_ERR_ENDPOINT_UNAVAILABLE', `container ${container} has no IP on network flightctl`, { container });
      }
      return { name: t.name, unit: t.unit, container, host: info.ip, port: t.port, strategy: 'container-ip' };
    }),
  );
  return { db: found.find((e) => e.name === 'db'), kv: found.find((e) => e.name === 'kv'), release: async () => [] };
}

/** The KV store alone at its container's address (the database is elsewhere: an external one). */
export async function kvContainerEndpoint(host: QuadletHost): Promise<Endpoint> {
  return (await viaContainerIp(host, ['kv'])).kv!;
}

/** A lease on some of the data stores (publishDatabasePort publishes the database alone). */
type PartialLease = Partial<Pick<EndpointLease, 'db' | 'kv'>> & Pick<EndpointLease, 'release'>;

async function viaPublishDropin(host: QuadletHost, which: readonly ('db' | 'kv')[] = ['db', 'kv']): Promise<PartialLease> {
  const systemd = await host.systemd();
  const ctx = { systemd, state: host.state, dropinDir: host.settings.dropinDir, timeoutMs: host.settings.unitTimeoutMs };
  const requests = [];
  const targets = TARGETS.filter((t) => which.includes(t.name));
  for (const t of targets) {
    const st = await systemd.status(t.unit);
    // Fails here, before any file is written, when the container is missing or stopped.
    await host.podman.requireRunning(containerOf(t.unit));
    requests.push({ unit: t.unit, sourcePath: st.sourcePath, containerPort: t.port });
  }
  let published: Published[] = [];
  let released = false;
  const release = async () => {
    if (released) return [];
    released = true;
    return removePublished(ctx, published.length ? published.map((p) => p.path) : undefined);
  };
  try {
    published = await publishPorts(ctx, requests);
  } catch (err) {
    // Whatever got recorded is undone at once; the state file keeps it if this fails too.
    await removePublished(ctx).catch(() => undefined);
    throw err;
  }
  const ep = (t: (typeof TARGETS)[number]): Endpoint | undefined => {
    const p = published.find((x) => x.unit === t.unit);
    return (
      p && {
        name: t.name,
        unit: t.unit,
        container: containerOf(t.unit),
        host: p.host,
        port: p.hostPort,
        strategy: 'publish-dropin',
        dropin: p.path,
        inEffect: p.inEffect,
      }
    );
  };
  return { db: ep(TARGETS[0]!), kv: ep(TARGETS[1]!), release };
}

/** Where DB and KV can be reached from this host now. */
export async function acquireEndpoints(host: QuadletHost, strategy: EndpointStrategy): Promise<EndpointLease> {
  const lease = strategy === 'publish-dropin' ? await viaPublishDropin(host) : await viaContainerIp(host);
  return { db: lease.db!, kv: lease.kv!, release: lease.release };
}

/**
 * The database alone, published on 127.0.0.1. A restore never publishes the KV store this way:
 * it keeps nothing on disk (save "", appendonly no upstream), so the restart that removes the
 * drop-in again would also remove the keys just written.
 */
export async function publishDatabasePort(host: QuadletHost): Promise<{ db: Endpoint; release(): Promise<Removed[]> }> {
  const lease = await viaPublishDropin(host, ['db']);
  return { db: lease.db!, release: lease.release };
}

/** Leftovers from an earlier crash (state file or marker scan): removed, units restarted. */
export async function removeLeftoverDropins(host: QuadletHost): Promise<Removed[]> {
  // Look before connecting: with nothing left over, this needs no systemd.
  if ((await host.state.read()).dropins.length === 0 && (await scanForOurs(host.settings.dropinDir)).length === 0) return [];
  const systemd = await host.systemd();
  return removePublished({ systemd, state: host.state, dropinDir: host.settings.dropinDir, timeoutMs: host.settings.unitTimeoutMs });
}
