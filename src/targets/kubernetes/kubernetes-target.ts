import type { Config } from '../../config/schema.js';
import { isExplicit } from '../../config/load.js';
import type { PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import { imageTag } from '../../flightctl/versions.js';
import { RestoreError } from '../../lib/errors.js';
import type { DataEndpoints, HostPort, RestoreTarget, RunningVersion, ServiceChange, ServiceState, TargetCredentials, TargetPreflight } from '../target.js';
import { appDeployments, namespacesOf, readDeployment, REQUIRED_DEPLOYMENT, type AppDeployment, type Namespaces } from './deployments.js';
import { estimateFreeBytes } from './free-space.js';
import { KubeClient, loadKubeConfig } from './kube-client.js';
import { NetworkKvShell } from './network-kv-shell.js';
import { ProtocolDatabaseShell } from '../protocol/protocol-shell.js';
import { describeDeployment, startDeployment, stopDeployment } from './scaling.js';
import { apiSecrets, FLIGHTCTL_SECRETS, mountedSecrets, type SecretSource } from './secrets.js';

/** The application's credentials, and the admin's, which only the database shell uses. */
type AllCredentials = TargetCredentials & { adminUser: string; adminPassword: string };

/**
 * Flight Control on Kubernetes behind the engine's target port: deployments scaled to 0 and back
 * to the counts recorded on them, credentials from the Secrets (mounted or through the API), the
 * database and KV store at their Services. It has no volumes (the PAM issuer's is a Quadlets
 * host's). The run's journal, intent and lock live in the cluster too (runbook/store/cluster).
 */
export class KubernetesTarget implements RestoreTarget {
  readonly kind = 'kubernetes' as const;
  /** The Services answer as they are. */
  readonly reachingDatabaseRestartsIt = false;
  readonly deploymentType = 'kubernetes' as const;
  readonly database: ProtocolDatabaseShell;
  readonly kvShell: NetworkKvShell;
  readonly namespaces: Namespaces;
  private readonly client: KubeClient;
  private readonly secrets: SecretSource;
  private readonly deployments: AppDeployment[];
  private creds?: Promise<AllCredentials>;

  constructor(private readonly config: Readonly<Config>) {
    const settings = config.kubernetes;
    this.namespaces = namespacesOf(settings);
    this.client = new KubeClient(loadKubeConfig(settings), settings.requestTimeoutMs);
    this.secrets = settings.secretsDir ? mountedSecrets(settings.secretsDir) : apiSecrets(this.client, this.namespaces.internal);
    this.deployments = appDeployments(this.namespaces);
    this.database = new ProtocolDatabaseShell(
      (database) => this.adminEndpoint(database),
      (shell) => estimateFreeBytes(this.client, this.namespaces.internal, shell),
    );
    this.kvShell = new NetworkKvShell(async () => ({
      ...this.kvAddress(),
      password: (await this.credentials()).kvPassword,
      connectTimeoutMs: config.kv.connectTimeoutMs,
    }));
  }

  /** The Service in the internal namespace, unless --db-host/--db-port (or their keys) say otherwise. */
  private dbAddress(): HostPort {
    const c = this.config;
    return {
      host: isExplicit(c, 'db.host') ? c.db.host : `flightctl-db.${this.namespaces.internal}.svc`,
      port: isExplicit(c, 'db.port') ? c.db.port : 5432,
    };
  }

  private kvAddress(): HostPort {
    const c = this.config;
    return {
      host: isExplicit(c, 'kv.host') ? c.kv.host : `flightctl-kv.${this.namespaces.internal}.svc`,
      port: isExplicit(c, 'kv.port') ? c.kv.port : 6379,
    };
  }

  private async adminEndpoint(database: string): Promise<PostgresEndpoint> {
    const creds = await this.allCredentials();
    return { ...this.dbAddress(), database, user: creds.adminUser, password: creds.adminPassword, connectTimeoutMs: this.config.db.connectTimeoutMs };
  }

  async preflight(): Promise<TargetPreflight> {
    const states = await this.services();
    const api = states.find((s) => s.unit === REQUIRED_DEPLOYMENT);
    if (!api?.installed) {
      throw new RestoreError(
        'RESTORE_ERR_DEPLOYMENT_MISSING',
        `deployment ${REQUIRED_DEPLOYMENT} is not in namespace ${this.namespaces.external}: this does not look like Flight Control's namespace`,
        {
          namespace: this.namespaces.external,
        },
      );
    }
    const warnings: string[] = [];
    const installed = states.filter((s) => s.installed);
    const running = installed.filter((s) => s.active);
    for (const s of installed.filter((x) => !x.active)) warnings.push(`deployment ${s.unit} is scaled to 0: it stays at 0 after the restore`);
    await this.allCredentials();
    const db = this.dbAddress();
    const kv = this.kvAddress();
    return {
      msg: `${installed.length} deployments in ${this.nsText()} (${running.length} running), database ${db.host}:${db.port}, KV store ${kv.host}:${kv.port}, credentials readable (${this.config.kubernetes.secretsDir ? 'mounted Secrets' : 'Secrets through the API'})`,
      warnings,
      data: { deployments: installed.map((s) => s.unit), running: running.map((s) => s.unit), namespaces: this.namespaces },
    };
  }

  private nsText(): string {
    const { external, internal } = this.namespaces;
    return external === internal ? `namespace ${external}` : `namespaces ${external} and ${internal}`;
  }

  async services(): Promise<ServiceState[]> {
    const all = await Promise.all(this.deployments.map((d) => describeDeployment(this.client, d)));
    return all.map(({ recorded: _recorded, ...state }) => state);
  }

  private scaleSettings() {
    return { scaleTimeoutMs: this.config.kubernetes.scaleTimeoutMs, pollIntervalMs: this.config.kubernetes.pollIntervalMs };
  }

  /** Every deployment at once, as the Quadlets target stops its units concurrently. */
  stopServices(): Promise<ServiceChange[]> {
    return Promise.all(this.deployments.map((d) => stopDeployment(this.client, d, this.scaleSettings())));
  }

  /** Deployments that carry the replica count this agent recorded: still to be scaled back. */
  async stoppedByAgent(): Promise<string[]> {
    const all = await Promise.all(this.deployments.map((d) => describeDeployment(this.client, d)));
    return all.filter((s) => s.recorded !== undefined).map((s) => s.unit);
  }

  startServices(): Promise<ServiceChange[]> {
    return Promise.all(this.deployments.map((d) => startDeployment(this.client, d, this.scaleSettings())));
  }

  async credentials(): Promise<TargetCredentials> {
    const { dbUser, dbPassword, kvPassword } = await this.allCredentials();
    return { dbUser, dbPassword, kvPassword };
  }

  private allCredentials(): Promise<AllCredentials> {
    this.creds ??= (async () => {
      const app = await this.secrets.read(FLIGHTCTL_SECRETS.dbApp);
      const kv = await this.secrets.read(FLIGHTCTL_SECRETS.kv);
      const admin = await this.secrets.read(FLIGHTCTL_SECRETS.dbAdmin);
      return {
        dbUser: app.user || this.config.db.user,
        dbPassword: app.userPassword,
        kvPassword: kv.password,
        adminUser: admin.masterUser,
        adminPassword: admin.masterPassword,
      };
    })();
    // A failed read is not kept: the next call tries again.
    this.creds.catch(() => (this.creds = undefined));
    return this.creds;
  }

  async endpoints(): Promise<DataEndpoints> {
    return { db: this.dbAddress(), kv: this.kvAddress(), release: async () => [] };
  }

  async readEndpoint(): Promise<HostPort> {
    return this.dbAddress();
  }

  /** Nothing is published or written beside the cluster's own objects. */
  async removeLeftovers(): Promise<string[]> {
    return [];
  }

  /** The flightctl-api container's image tag, else the chart's app.kubernetes.io/version label. */
  async runningVersion(): Promise<RunningVersion> {
    const d = this.deployments.find((x) => x.name === REQUIRED_DEPLOYMENT)!;
    const dep = await readDeployment(this.client, d);
    if (!dep) return { source: `deployment ${d.name} does not exist in namespace ${d.namespace}` };
    const containers = dep.spec?.template?.spec?.containers ?? [];
    const image = (containers.find((c) => c.name === d.name) ?? containers[0])?.image ?? '';
    const tag = imageTag(image);
    if (tag && /\d+\.\d+\.\d+/.test(tag)) return { version: tag, source: `image tag ${image} of deployment ${d.name}` };
    const label = dep.metadata?.labels?.['app.kubernetes.io/version'];
    if (label) return { version: label, source: `label app.kubernetes.io/version of deployment ${d.name}` };
    return { version: tag, source: `image ${image || '(none)'} of deployment ${d.name}` };
  }

  close(): void {}
}
