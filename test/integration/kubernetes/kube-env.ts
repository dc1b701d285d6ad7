/**
 * A Flight Control "cluster" for restore runs: the fake API server (TLS, the real client library
 * talks to it) holding Flight Control's deployments, Secrets and the database's volume claim, and
 * the harness's real PostgreSQL and Redis standing in for the flightctl-db and flightctl-kv
 * Services (the agent is pointed at them with --db-host/--kv-host). A seeded fleet, its plain
 * backup, the changes made after it, and the built agent run as a Job would run it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { AWAITING_RECONNECT_ANNOTATION, awaitingReconnectKey } from '../../../src/flightctl/prepare/marks.js';
import { adminQuery, APP_USER } from '../../harness/database.js';
import { FakeApiServer } from '../../harness/kube/fake-apiserver.js';
import { PG_BIN_DIR } from '../../harness/pg-server.js';
import { fingerprint, mutateAfterDump, seedScenario, type AfterDumpChanges, type Fingerprint } from '../../harness/restore-scenario.js';
import { runAgent, spawnAgent, spawnAgentScript, type CliResult, type RunningAgent } from '../cli/run-cli.js';
import { redisClient, servers, uniqueDbName } from '../context.js';

export const REPLICAS_ANNOTATION = 'restore.flightctl.io/replicas';

/** The deployments of the cluster and the replica counts they start with (absent: not installed). */
export const INITIAL_REPLICAS: Record<string, { ns: 'external' | 'internal'; replicas: number }> = {
  'flightctl-api': { ns: 'external', replicas: 3 },
  'flightctl-alertmanager-proxy': { ns: 'external', replicas: 1 },
  'flightctl-worker': { ns: 'internal', replicas: 2 },
  'flightctl-periodic': { ns: 'internal', replicas: 1 },
  // scaled to 0 by its operator before the restore: it must stay at 0
  'flightctl-alert-exporter': { ns: 'internal', replicas: 0 },
  // flightctl-imagebuilder-api and -worker: not installed (optional, newer charts)
};

export interface KubeEnvOptions {
  devices?: number;
  external?: string;
  internal?: string;
  /** Secrets mounted as files (as the shipped Job does) rather than read through the API. */
  mountedSecrets?: boolean;
  /** More agent configuration (merged into the generated config file). */
  config?: Record<string, unknown>;
  /** Newer charts' flightctl-imagebuilder-api and -worker too (1 replica each). */
  imagebuilder?: boolean;
  /** Another build of the agent to run (the image's bundle); default: the built dist/. */
  agentScript?: string;
}

export interface KubeEnv {
  api: FakeApiServer;
  dir: string;
  database: string;
  ns: { external: string; internal: string };
  dump: string;
  backedUp: Fingerprint;
  mutated: Fingerprint;
  changes: AfterDumpChanges;
  configFile: string;
  kubeconfig: string;
  /** Secret values: nothing printed or stored in the cluster may contain them. */
  secrets: string[];
  /** The agent with --target kubernetes and this cluster; args after the command name. */
  agent(command: 'run' | 'recover' | 'runs', args?: string[], env?: Record<string, string>): Promise<CliResult>;
  spawn(command: 'run' | 'recover' | 'runs', args?: string[], env?: Record<string, string>): RunningAgent;
  /** Back to the state after the post-backup changes, every deployment at its initial count. */
  reset(): Promise<void>;
  replicas(): Record<string, number | undefined>;
  annotations(): Record<string, string | undefined>;
  /** Names of databases of this env (live, temporary, old). */
  databases(): Promise<string[]>;
  live(): Promise<pg.Client>;
  /** Everything the agent stored in the cluster (ConfigMaps, Lease), as text. */
  clusterText(): string;
  stop(): Promise<void>;
}

function pgDump(database: string, file: string): void {
  const s = servers();
  execFileSync(`${PG_BIN_DIR}/pg_dump`, ['--clean', '--if-exists', '-h', s.pg.host, '-p', String(s.pg.port), '-U', 'postgres', '-d', database, '-f', file], {
    env: { PGPASSWORD: s.pg.adminPassword, PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdio: 'pipe',
  });
}

function psqlLoad(database: string, file: string): void {
  const s = servers();
  execFileSync(
    `${PG_BIN_DIR}/psql`,
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', s.pg.host, '-p', String(s.pg.port), '-U', 'postgres', '-d', database, '-f', file],
    {
      env: { PGPASSWORD: s.pg.adminPassword, PGOPTIONS: '-c client_min_messages=warning', PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: 'pipe',
    },
  );
}

async function appClient(database: string): Promise<pg.Client> {
  const s = servers();
  const c = new pg.Client({ host: s.pg.host, port: s.pg.port, user: APP_USER, password: s.pg.appPassword, database });
  await c.connect();
  return c;
}

export async function startKubeEnv(opts: KubeEnvOptions = {}): Promise<KubeEnv> {
  const s = servers();
  const dir = mkdtempSync(path.join(tmpdir(), 'fcra-kube-'));
  const api = new FakeApiServer();
  await api.start(dir);
  const ns = { external: opts.external ?? 'flightctl-external', internal: opts.internal ?? 'flightctl-internal' };
  const database = uniqueDbName('fck');
  const dumps = { backup: path.join(dir, 'backup.sql'), mutated: path.join(dir, 'mutated.sql') };
  const secrets = { app: s.pg.appPassword, admin: s.pg.adminPassword, kv: s.redis.password };
  try {
    await adminQuery(s.pg, 'postgres', `CREATE DATABASE "${database}" OWNER ${APP_USER}`);
    const db = await appClient(database);
    const kv = redisClient();
    let changes: AfterDumpChanges;
    let backedUp: Fingerprint;
    let mutated: Fingerprint;
    try {
      await seedScenario(db, { devices: opts.devices ?? 300 });
      backedUp = await fingerprint(db);
      pgDump(database, dumps.backup);
      changes = await mutateAfterDump(db, kv);
      mutated = await fingerprint(db);
      pgDump(database, dumps.mutated);
    } finally {
      await db.end();
      kv.disconnect();
    }

    const secretsDir = path.join(dir, 'secrets');
    const secretData = {
      'flightctl-db-app-secret': { user: APP_USER, userPassword: secrets.app },
      // The harness's superuser is the database's admin here (Flight Control's is "admin").
      'flightctl-db-admin-secret': { masterUser: 'postgres', masterPassword: secrets.admin },
      'flightctl-kv-secret': { password: secrets.kv },
    };
    const addSecrets = () => {
      for (const [name, data] of Object.entries(secretData)) api.model.addSecret(ns.internal, name, data);
    };
    addSecrets();
    for (const [name, data] of Object.entries(secretData)) {
      if (opts.mountedSecrets) {
        mkdirSync(path.join(secretsDir, name), { recursive: true });
        for (const [k, v] of Object.entries(data)) writeFileSync(path.join(secretsDir, name, k), v, { mode: 0o600 });
      }
    }
    api.model.addClaim(ns.internal, 'flightctl-db', '20Gi');

    const addDeployments = () => {
      for (const [name, d] of Object.entries(INITIAL_REPLICAS)) api.model.addDeployment(ns[d.ns], name, { replicas: d.replicas });
      if (opts.imagebuilder) {
        api.model.addDeployment(ns.external, 'flightctl-imagebuilder-api', { replicas: 1 });
        api.model.addDeployment(ns.internal, 'flightctl-imagebuilder-worker', { replicas: 1 });
      }
      api.model.addDeployment(ns.internal, 'flightctl-db', { replicas: 1, claim: 'flightctl-db', image: 'quay.io/sclorg/postgresql-16-c9s:latest' });
      api.model.addDeployment(ns.internal, 'flightctl-kv', { replicas: 1, image: 'docker.io/redis:7.4.1' });
    };
    addDeployments();

    const configFile = path.join(dir, 'agent.yaml');
    const config = {
      target: 'kubernetes',
      db: { host: s.pg.host, port: s.pg.port, name: database },
      kv: { host: s.redis.host, port: s.redis.port },
      kubernetes: {
        pollIntervalMs: 50,
        scaleTimeoutMs: 5000,
        leaseDurationSec: 2,
        ...((opts.config?.kubernetes as object | undefined) ?? {}),
        namespace: ns.external,
        internalNamespace: ns.internal,
        ...(opts.mountedSecrets ? { secretsDir } : {}),
      },
      ...Object.fromEntries(Object.entries(opts.config ?? {}).filter(([k]) => k !== 'kubernetes')),
    };
    writeFileSync(configFile, stringify(config));
    const kubeconfig = api.writeKubeconfig(path.join(dir, 'kubeconfig'));
    const withTarget = (command: string, args: string[]) => [command, '--kubeconfig', kubeconfig, '--config', configFile, ...args];

    const env: KubeEnv = {
      api,
      dir,
      database,
      ns,
      dump: dumps.backup,
      backedUp,
      mutated,
      changes,
      configFile,
      kubeconfig,
      secrets: Object.values(secrets),
      agent: (command, args = [], e = {}) =>
        opts.agentScript ? spawnAgentScript(opts.agentScript, withTarget(command, args), e).done : runAgent(withTarget(command, args), e),
      spawn: (command, args = [], e = {}) =>
        opts.agentScript ? spawnAgentScript(opts.agentScript, withTarget(command, args), e) : spawnAgent(withTarget(command, args), e),
      async reset() {
        for (const name of await env.databases()) await adminQuery(s.pg, 'postgres', `DROP DATABASE "${name}" WITH (FORCE)`);
        await adminQuery(s.pg, 'postgres', `CREATE DATABASE "${database}" OWNER ${APP_USER}`);
        psqlLoad(database, dumps.mutated);
        const r = redisClient();
        try {
          await r.flushall();
          for (const k of changes.kvKeys) await r.set(k, 'true');
        } finally {
          r.disconnect();
        }
        api.model.deployments.clear();
        api.model.timing.clear();
        api.model.secrets.clear();
        addSecrets();
        addDeployments();
        for (const k of [...api.model.configmaps.keys()]) api.model.configmaps.delete(k);
        api.model.leases.clear();
        api.requests.length = 0;
      },
      replicas() {
        return Object.fromEntries(Object.entries(INITIAL_REPLICAS).map(([name, d]) => [name, api.model.deployment(ns[d.ns], name)?.spec.replicas]));
      },
      annotations() {
        return Object.fromEntries(
          Object.entries(INITIAL_REPLICAS).map(([name, d]) => [name, api.model.deployment(ns[d.ns], name)?.metadata.annotations?.[REPLICAS_ANNOTATION]]),
        );
      },
      async databases() {
        const r = await adminQuery(s.pg, 'postgres', `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2 ORDER BY 1`, [
          database,
          `${database}\\_%`,
        ]);
        return r.rows.map((x: { datname: string }) => x.datname);
      },
      live: () => appClient(database),
      clusterText() {
        return JSON.stringify([...api.model.configmaps.values(), ...api.model.leases.values()]);
      },
      async stop() {
        await api.stop();
        for (const name of await env.databases().catch(() => []))
          await adminQuery(s.pg, 'postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return env;
  } catch (err) {
    await api.stop();
    await adminQuery(s.pg, 'postgres', `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** What the live database holds after a restore: devices, unmarked eligible ones, the keys it needs. */
export async function restoredFacts(env: KubeEnv): Promise<{ devices: Set<string>; unmarked: string[]; expectedKeys: string[] }> {
  const db = await env.live();
  try {
    const { rows } = await db.query<{ org: string; name: string; a: string | null; l: string | null }>(
      `SELECT org_id::text AS org, name, annotations->>$1 AS a, status->'lifecycle'->>'status' AS l FROM devices WHERE deleted_at IS NULL`,
      [AWAITING_RECONNECT_ANNOTATION],
    );
    return {
      devices: new Set(rows.map((r) => r.name)),
      unmarked: rows.filter((r) => !['Decommissioned', 'Decommissioning'].includes(r.l ?? '') && r.a !== 'true').map((r) => r.name),
      expectedKeys: rows.map((r) => awaitingReconnectKey(r.org, r.name)).sort(),
    };
  } finally {
    await db.end();
  }
}

/** Every key of KV database 0, sorted. */
export async function kvKeys(): Promise<string[]> {
  const r = redisClient();
  try {
    await r.select(0);
    return (await r.keys('*')).sort();
  } finally {
    r.disconnect();
  }
}
