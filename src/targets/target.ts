/**
 * The port between the runbook engine and the platform Flight Control runs on. The engine drives
 * a restore only through this interface, so the same plan runs on a Quadlets host and on
 * Kubernetes without knowing which one it is.
 */
import type { DumpFile, DumpFormat } from '../flightctl/database/dump-format.js';
import type { KvShell } from '../flightctl/datastores/kv-shell.js';
import type { DatabaseTls } from '../flightctl/service-config.js';
import type { ErrorCode } from '../lib/errors.js';

export type { KvShell } from '../flightctl/datastores/kv-shell.js';

export type ServiceAction = 'stopped' | 'started' | 'already-stopped' | 'not-installed' | 'not-stopped-by-us' | 'failed';

export interface ServiceChange {
  /** Unit (Quadlets) or deployment (Kubernetes). */
  unit: string;
  action: ServiceAction;
  result?: string;
  /** The catalogue code of a failure, when the target has one of its own (else the unit codes). */
  code?: ErrorCode;
  activeState: string;
  subState: string;
}

export interface ServiceState {
  unit: string;
  installed: boolean;
  /** Running, or on its way (activating, auto-restart). */
  active: boolean;
  activeState: string;
  subState: string;
}

/** Values registered with the redactor by the target the moment they are read. */
export interface TargetCredentials {
  dbUser: string;
  dbPassword: string;
  kvPassword: string;
}

export interface HostPort {
  host: string;
  port: number;
  /** A database elsewhere, reached with the TLS Flight Control's configuration asks for. */
  tls?: DatabaseTls | undefined;
}

export interface DataEndpoints {
  db: HostPort;
  /** Undefined when the KV store is reached through its own client instead (RestoreTarget.kvShell). */
  kv?: HostPort | undefined;
  /** Undoes what was done to reach them (drop-ins); answers what it did. Safe to call twice. */
  release(): Promise<string[]>;
}

export interface ShellOptions {
  database?: string;
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
}

export interface LoadOptions {
  /** Parallel jobs for a custom-format dump (pg_restore --jobs). */
  jobs: number;
  signal?: AbortSignal | undefined;
  /** Awaited before more is sent (a test's fault injection pauses the load there). */
  onBytes(sent: number): Promise<void> | void;
  /**
   * Called with the path of a copy of the dump the load is about to leave inside the database's
   * container (custom format), before it is written: recorded so that recovery removes it.
   */
  recordContainerFile(path: string): Promise<void>;
}

/**
 * SQL as the database superuser where the database runs (inside its container or pod, over its
 * local socket): no PostgreSQL client and no superuser credential needed on the host.
 */
export interface DatabaseShell {
  /** The dump formats load() takes; another one is refused in preflight, before anything changes. */
  readonly loadableFormats: readonly DumpFormat[];
  /** Runs SQL given on stdin; answers stdout in psql's unaligned tuples-only form. */
  sql(sql: string, opts?: ShellOptions): Promise<string>;
  /** Loads a dump into an existing, empty database. */
  load(database: string, dump: DumpFile, opts: LoadOptions): Promise<void>;
  /**
   * A plain `pg_dump --clean --if-exists` of the database, as a stream (nothing kept on the
   * host); `done` settles when pg_dump has ended (rejected when it failed).
   */
  dump(database: string, signal?: AbortSignal): { stream: import('node:stream').Readable; done: Promise<void> };
  /**
   * Free bytes on the filesystem that holds dir (inside the database's container); undefined when
   * the target cannot tell (the run then says so in a warning).
   */
  freeBytes(dir: string): Promise<number | undefined>;
  removeFile(path: string): Promise<void>;
}

/** Container volumes (the PAM issuer's user database) by name. */
export interface VolumeStore {
  /** A tar of the volume's content; undefined when there is no such volume. */
  export(name: string): Promise<import('node:stream').Readable | undefined>;
  /**
   * Replaces the volume's content with the tar's (created when missing). 'in-use' when a running
   * container uses it: then nothing is changed.
   */
  import(name: string, tarFile: string): Promise<'imported' | 'in-use'>;
  /**
   * What import needs of a tar, checked without writing anything (before the first change of a
   * run, so that an import past the point of no return does not fail on it); `label` names it.
   */
  check(content: import('node:stream').Readable, label: string): Promise<void>;
}

export interface RunningVersion {
  /** e.g. "1.2.0"; undefined when it cannot be told. */
  version?: string | undefined;
  /** Where it was read: "image tag quay.io/flightctl/flightctl-api:1.2.0", "API /api/v1/version". */
  source: string;
}

export interface TargetPreflight {
  msg: string;
  warnings: string[];
  data: Record<string, unknown>;
}

export interface RestoreTarget {
  readonly kind: 'quadlet' | 'kubernetes';
  /**
   * Reaching the database from the agent restarts it (its port is published for the run): it is
   * then reached only while the services are stopped, and the KV store, which a restart would
   * empty, only through its own client (kvShell).
   */
  readonly reachingDatabaseRestartsIt: boolean;
  /** Read-only: the services, data stores and secrets a restore needs are there. */
  preflight(): Promise<TargetPreflight>;
  /** The application services (not the data stores), installed or not. */
  services(): Promise<ServiceState[]>;
  /** Stops the running application services; records durably which, before stopping them. */
  stopServices(): Promise<ServiceChange[]>;
  /** Services recorded as stopped by the agent and not started again yet. */
  stoppedByAgent(): Promise<string[]>;
  /** Starts what stopServices stopped (also in a later process). */
  startServices(): Promise<ServiceChange[]>;
  credentials(): Promise<TargetCredentials>;
  /** Endpoints for the data stores; with a disruptive strategy this restarts them (stop window only). */
  endpoints(): Promise<DataEndpoints>;
  /** Where the database answers reads without restarting anything (the daemon's device queries). */
  readEndpoint(): Promise<HostPort>;
  /** Undoes what an earlier process left behind (drop-ins); answers what it did. */
  removeLeftovers(): Promise<string[]>;
  readonly database: DatabaseShell;
  readonly kvShell: KvShell;
  /** Container volumes, where the platform has them (a Quadlets host: the PAM issuer's). */
  readonly volumes?: VolumeStore;
  /** 'podman' on a Quadlets host: what a backup's metadata says and an archive must match. */
  readonly deploymentType: 'podman' | 'kubernetes';
  runningVersion(): Promise<RunningVersion>;
  /**
   * Tells `listener` of each connection lost under a call (the bus, the Podman API) and what was
   * done: connected again and the call made again, or given up. Answers how to stop telling.
   */
  watchConnections?(listener: import('./connection-loss.js').ConnectionLossListener): () => void;
  close(): void;
}
