import type { Config } from '../../config/schema.js';
import { RestoreError } from '../../lib/errors.js';
import { imageTag } from '../../flightctl/versions.js';
import type { DataEndpoints, HostPort, RestoreTarget, RunningVersion, ServiceState, TargetCredentials, TargetPreflight } from '../target.js';
import { PodmanDatabaseShell } from './db-shell.js';
import { acquireEndpoints, kvContainerEndpoint, publishDatabasePort, removeLeftoverDropins } from './endpoints.js';
import { PodmanKvShell } from './kv-shell.js';
import { PodmanVolumes } from './volumes.js';
import { openQuadletHost, type QuadletHost } from './host.js';
import { readPodmanSecret, REQUIRED_SECRETS, SECRET_ALIASES } from './podman-secrets.js';
import { removeHold } from './guard.js';
import { startApplications, stopApplications } from './services.js';
import { isRunning } from './systemd.js';
import { retrying } from '../../lib/retrying.js';
import type { ConnectionLossListener } from '../connection-loss.js';
import { APP_UNITS, DB_UNIT, KV_UNIT, containerOf } from './units.js';
import { ProtocolDatabaseShell } from '../protocol/protocol-shell.js';
import type { DatabaseShell } from '../target.js';
import { readDatabaseSite, type ExternalSite } from './database-site.js';

/** The Quadlets host behind the engine's target port: systemd over D-Bus, Podman over REST. */
export class QuadletTarget implements RestoreTarget {
  readonly kind = 'quadlet' as const;
  /** publish-dropin: the database restarts to publish its port (a drop-in). */
  readonly reachingDatabaseRestartsIt: boolean;
  readonly database: DatabaseShell;
  readonly kvShell: PodmanKvShell;
  readonly volumes: PodmanVolumes;
  readonly deploymentType = 'podman' as const;
  /** Where Flight Control's database is, as its service-config.yaml says; read once, when the target opens. */
  readonly site: ReturnType<typeof readDatabaseSite>;
  private readonly host: QuadletHost;
  private creds?: TargetCredentials;

  constructor(
    settings: Readonly<Config['host']>,
    private readonly dbUser: string,
    etcDir: string,
  ) {
    this.host = openQuadletHost(settings);
    this.site = readDatabaseSite(etcDir);
    const external = this.site.kind === 'external' ? this.site : undefined;
    // An external database is not restarted to be reached: nothing of it is published.
    this.reachingDatabaseRestartsIt = !external && settings.endpointStrategy === 'publish-dropin';
    this.database = external
      ? new ProtocolDatabaseShell(
          async (database) => this.externalEndpoint(external, database),
          async () => undefined,
        )
      : new PodmanDatabaseShell(this.host.podman, containerOf(DB_UNIT));
    this.volumes = new PodmanVolumes(this.host.podman, settings.podmanRoot);
    this.kvShell = new PodmanKvShell(this.host.podman, async () => (await this.credentials()).kvPassword, containerOf(KV_UNIT));
  }

  /** The external database as the application's user, with the TLS the configuration asks for. */
  private async externalEndpoint(site: ExternalSite, database: string) {
    const creds = await this.credentials();
    return { host: site.host, port: site.port, database, user: creds.dbUser, password: creds.dbPassword, tls: site.tls };
  }

  /** The site, or the error that reading service-config.yaml met (raised where the database is first needed). */
  private databaseSite() {
    if (this.site.kind === 'unreadable') throw this.site.error;
    return this.site;
  }

  watchConnections(listener: ConnectionLossListener): () => void {
    return this.host.losses.watch(listener);
  }

  async preflight(): Promise<TargetPreflight> {
    const systemd = await this.host.systemd();
    const warnings: string[] = [];
    const site = this.databaseSite();
    const [db, kv] = await Promise.all([DB_UNIT, KV_UNIT].map((u) => systemd.status(u)));
    for (const st of site.kind === 'external' ? [kv!] : [db!, kv!]) {
      if (st.loadState === 'not-found') throw new RestoreError('RESTORE_ERR_UNIT_MISSING', `${st.unit} is not installed on this host`, { unit: st.unit });
      await this.host.podman.requireRunning(containerOf(st.unit));
    }
    // Masked, absent or stopped is how Flight Control's docs leave it beside an external database.
    if (site.kind === 'external' && isRunning(db!))
      warnings.push(
        `${DB_UNIT} runs, but Flight Control uses the external database at ${site.host}:${site.port} (service-config.yaml): the restore leaves ${DB_UNIT} alone`,
      );
    const apps = await this.services();
    if (!apps.some((a) => a.unit === 'flightctl-api.service' && a.installed)) {
      throw new RestoreError('RESTORE_ERR_UNIT_MISSING', 'flightctl-api.service is not installed: this does not look like a Flight Control Quadlets host', {
        unit: 'flightctl-api.service',
      });
    }
    const installed = apps.filter((a) => a.installed);
    const running = installed.filter((a) => a.active);
    for (const a of installed.filter((x) => !x.active)) warnings.push(`${a.unit} is ${a.activeState}: it stays stopped after the restore`);
    await this.credentials();
    const stores =
      site.kind === 'external'
        ? `the external database ${site.host}:${site.port} (sslmode ${site.tls.mode}, ${DB_UNIT} ${db!.loadState === 'masked' ? 'masked' : db!.activeState}) and ${KV_UNIT} running`
        : `${DB_UNIT} and ${KV_UNIT} running`;
    return {
      msg: `${installed.length} application units installed (${running.length} running), ${stores}, ${REQUIRED_SECRETS.map((s) => SECRET_ALIASES[s]).join(' and ')} readable`,
      warnings,
      data: {
        applicationUnits: installed.map((a) => a.unit),
        running: running.map((a) => a.unit),
        database: site.kind === 'external' ? { site: 'external', host: site.host, port: site.port, sslmode: site.tls.mode } : { site: 'builtin' },
      },
    };
  }

  async services(): Promise<ServiceState[]> {
    const systemd = await this.host.systemd();
    const statuses = await Promise.all(APP_UNITS.map((u) => systemd.status(u)));
    return statuses.map((st) => ({
      unit: st.unit,
      installed: st.loadState !== 'not-found',
      active: isRunning(st),
      activeState: st.activeState,
      subState: st.subState,
    }));
  }

  /** A restore's stop: held across a reboot until the restore is finished (guard.ts). */
  stopServices() {
    return stopApplications(this.host, undefined, { holdAcrossReboot: true });
  }

  async stoppedByAgent(): Promise<string[]> {
    return (await this.host.state.read()).stoppedUnits;
  }

  startServices() {
    return startApplications(this.host);
  }

  async credentials(): Promise<TargetCredentials> {
    if (this.creds) return this.creds;
    const { podman, settings } = this.host;
    const [db, kv] = await Promise.all(REQUIRED_SECRETS.map((name) => readPodmanSecret(podman, settings.podmanRoot, name)));
    const user = this.site.kind === 'external' && this.site.user ? this.site.user : this.dbUser;
    this.creds = { dbUser: user, dbPassword: db!.value, kvPassword: kv!.value };
    return this.creds;
  }

  async endpoints(): Promise<DataEndpoints> {
    const site = this.databaseSite();
    if (site.kind === 'external') {
      const db = { host: site.host, port: site.port, tls: site.tls };
      // With publish-dropin the containers' addresses may not be routable from here: the KV store through its own client.
      if (this.host.settings.endpointStrategy === 'publish-dropin') return { db, release: async () => [] };
      const kv = await kvContainerEndpoint(this.host);
      return { db, kv: { host: kv.host, port: kv.port }, release: async () => [] };
    }
    if (this.reachingDatabaseRestartsIt) {
      // The KV store is reached through kvShell: publishing it would restart (and empty) it.
      const published = await publishDatabasePort(this.host);
      // Restarted to publish its port: its container runs a moment before PostgreSQL in it accepts
      // connections (ECONNREFUSED, then 57P03 "starting up"). Waited for, bounded like the restart.
      await retrying(() => this.database.sql('SELECT 1;\n'), {
        maxWaitMs: this.host.settings.unitTimeoutMs,
        firstDelayMs: 200,
        maxDelayMs: 2_000,
        retryIf: (e) => e.code === 'RESTORE_ERR_DB_UNREACHABLE' || e.code === 'RESTORE_ERR_CONTAINER_NOT_RUNNING',
      }).catch(async (err: unknown) => {
        await published.release().catch(() => undefined);
        throw err;
      });
      return {
        db: { host: published.db.host, port: published.db.port },
        release: async () => (await published.release()).map((r) => `removed drop-in ${r.path}`),
      };
    }
    const lease = await acquireEndpoints(this.host, this.host.settings.endpointStrategy);
    return {
      db: { host: lease.db.host, port: lease.db.port },
      kv: { host: lease.kv.host, port: lease.kv.port },
      release: async () => (await lease.release()).map((r) => `removed drop-in ${r.path}`),
    };
  }

  async readEndpoint(): Promise<HostPort> {
    const site = this.databaseSite();
    if (site.kind === 'external') return { host: site.host, port: site.port, tls: site.tls };
    const lease = await acquireEndpoints(this.host, 'container-ip');
    return { host: lease.db.host, port: lease.db.port };
  }

  async removeLeftovers(): Promise<string[]> {
    const removed = (await removeLeftoverDropins(this.host)).map((r) => `removed leftover drop-in ${r.path} (found via ${r.source})`);
    // A hold with nothing left stopped under it (its start was interrupted after the units ran).
    if (!(await this.host.state.read()).stoppedUnits.length) removed.push(...(await removeHold(this.host)).map((d) => `removed the hold drop-in ${d}`));
    return removed;
  }

  /** From the flightctl-api container's image: its tag, else an OCI version label. */
  async runningVersion(): Promise<RunningVersion> {
    const container = containerOf('flightctl-api.service');
    const img = await this.host.podman.containerImage(container);
    if (!img) return { source: `container ${container} does not exist` };
    const tag = imageTag(img.image);
    const label = img.labels['org.opencontainers.image.version'] ?? img.labels.version;
    if (tag && /\d+\.\d+\.\d+/.test(tag)) return { version: tag, source: `image tag ${img.image}` };
    if (label) return { version: label, source: `image label of ${img.image}` };
    return { version: tag, source: `image ${img.image}` };
  }

  close(): void {
    this.host.close();
  }
}
