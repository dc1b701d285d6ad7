/**
 * The one error catalogue. Every failure a user can see has a stable code, an HTTP status for the
 * API, an exit code for the CLI, what it means (summary) and a hint that says what to do. Codes never change meaning once
 * released; add new ones instead. `retryable`: the same call may succeed later without anyone
 * changing anything (another run finishes, a server comes back); every other code needs a fix
 * first. RESTORE_ERR_RUN_NOT_FOUND had exit 19 with RESTORE_ERR_RUN_ACTIVE in earlier versions: a script
 * that retries on 19 must not retry a run that does not exist, so it has 39 now.
 */
export const ERROR_CATALOGUE = {
  RESTORE_ERR_INTERNAL: {
    http: 500,
    exit: 1,
    summary: 'a bug; rerun with `--log-level debug` and report it',
    hint: 'This is a bug; run again with --log-level debug and report the log.',
  },
  RESTORE_ERR_USAGE: {
    http: 400,
    exit: 2,
    summary: 'unknown option or command, conflicting flags',
    hint: 'Check the command line; --help lists every option.',
  },
  RESTORE_ERR_CONFIG_INVALID: {
    http: 400,
    exit: 2,
    summary: 'a configuration value is invalid (the key is named)',
    hint: 'Fix the named key in the config file, environment or flags.',
  },
  RESTORE_ERR_SELECTOR_INVALID: {
    http: 400,
    exit: 2,
    summary: 'a label or field selector is malformed',
    hint: 'Use Kubernetes selector syntax, e.g. env=prod,region in (a,b),!canary.',
  },
  RESTORE_ERR_SECRET_MISSING: {
    http: 400,
    exit: 3,
    summary: 'a required secret was not provided',
    hint: 'Provide the named secret as the documented environment variable.',
  },
  RESTORE_ERR_DB_UNREACHABLE: {
    http: 503,
    exit: 4,
    retryable: true,
    summary: 'PostgreSQL cannot be reached',
    hint: 'Check --db-host/--db-port and that PostgreSQL is running and reachable.',
  },
  RESTORE_ERR_DB_AUTH: { http: 401, exit: 4, summary: 'PostgreSQL refused the credentials', hint: 'Check --db-user and the DB_PASSWORD environment variable.' },
  // PostgreSQL answered, with an error of its own (SQLSTATE in the message)
  RESTORE_ERR_DB_PERMISSION: {
    http: 403,
    exit: 4,
    summary: 'PostgreSQL: a privilege is missing (SQLSTATE 42501)',
    hint: 'The database user lacks a privilege (SQLSTATE 42501); grant it or use the owner of the database.',
  },
  RESTORE_ERR_DB_DISK_FULL: {
    http: 507,
    exit: 4,
    summary: 'PostgreSQL: out of disk, memory or connections (SQLSTATE class 53)',
    hint: "PostgreSQL is out of disk, memory or connections (SQLSTATE class 53); free space in the database's volume and run again.",
  },
  RESTORE_ERR_DB_TIMEOUT: {
    http: 504,
    exit: 4,
    retryable: true,
    summary: 'PostgreSQL: a statement or lock wait timed out (57014, 55P03)',
    hint: 'A statement or lock wait timed out (SQLSTATE 57014/55P03); find the session holding it (pg_stat_activity) and run again.',
  },
  RESTORE_ERR_DB_BUSY: {
    http: 409,
    exit: 4,
    retryable: true,
    summary: 'PostgreSQL: the object is in use, a deadlock or serialization failure (55006, 40P01, 40001)',
    hint: 'The database is in use or a lock conflicted (SQLSTATE 55006/40P01/40001); stop what uses it and run again.',
  },
  RESTORE_ERR_DB_QUERY: {
    http: 500,
    exit: 4,
    summary: 'PostgreSQL refused a statement for another reason (its SQLSTATE is in the message)',
    hint: 'PostgreSQL refused a statement (SQLSTATE in the message); check the value or the database, then run again.',
  },
  RESTORE_ERR_DB_NOT_FLIGHTCTL: {
    http: 422,
    exit: 5,
    summary: 'the database does not exist or is not a Flight Control database',
    hint: 'Point --db-name at a Flight Control database (default flightctl).',
  },
  RESTORE_ERR_DB_SCHEMA_UNKNOWN: {
    http: 422,
    exit: 5,
    summary: 'a Flight Control schema this version does not know',
    hint: 'This Flight Control schema generation is not supported; report its version.',
  },
  RESTORE_ERR_PREPARE_SQL: {
    http: 500,
    exit: 6,
    summary: 'the SQL part failed and was rolled back',
    hint: 'The transaction was rolled back and nothing changed; fix the cause and run again.',
  },
  RESTORE_ERR_KV_UNREACHABLE: {
    http: 503,
    exit: 7,
    retryable: true,
    summary: 'the KV store cannot be reached',
    hint: 'Check --kv-host/--kv-port and that the KV store (Redis) is running.',
  },
  RESTORE_ERR_KV_AUTH: { http: 401, exit: 7, summary: 'the KV store refused the credentials', hint: 'Check the KV_PASSWORD environment variable.' },
  RESTORE_ERR_KV_WRITE: {
    http: 500,
    exit: 8,
    summary: 'the KV store refused a write (memory limit, read-only replica)',
    hint: 'The KV store refused a write (memory limit, read-only replica?); fix it and run the KV part again (prepare --kv-only).',
  },
  RESTORE_ERR_KV_VERIFY: {
    http: 500,
    exit: 8,
    summary: 'fewer keys in the KV store than written',
    hint: 'Keys went missing after they were written; run the KV part again (prepare --kv-only).',
  },
  // Quadlets host target (systemd over D-Bus, Podman REST, drop-ins)
  RESTORE_ERR_DBUS_UNREACHABLE: {
    http: 503,
    exit: 9,
    retryable: true,
    summary: "systemd's D-Bus cannot be reached",
    hint: 'Check --dbus-address (or DBUS_SYSTEM_BUS_ADDRESS) and that systemd runs on that bus.',
  },
  RESTORE_ERR_UNIT_JOB_FAILED: {
    http: 502,
    exit: 10,
    summary: "a unit's start/stop job failed, or the unit is not active after it",
    hint: 'Look at the unit: journalctl -u <unit>; fix it, then run the command again.',
  },
  RESTORE_ERR_UNIT_TIMEOUT: {
    http: 504,
    exit: 11,
    summary: "a unit's job did not finish within the timeout",
    hint: 'The unit did not settle in time; raise host.unitTimeoutMs or look at journalctl -u <unit>.',
  },
  RESTORE_ERR_PODMAN_UNREACHABLE: {
    http: 503,
    exit: 12,
    retryable: true,
    summary: 'the Podman API socket cannot be reached',
    hint: 'Check --podman-socket and that podman.socket is enabled (systemctl enable --now podman.socket).',
  },
  RESTORE_ERR_SECRET_NOT_FOUND: {
    http: 404,
    exit: 13,
    summary: 'a Podman secret does not exist',
    hint: 'Create the Podman secret (podman secret ls) or check --podman-root for the file driver store.',
  },
  RESTORE_ERR_SECRET_UNREADABLE: {
    http: 500,
    exit: 13,
    summary: 'a Podman secret exists but its value cannot be read',
    hint: 'Podman < 4.7 does not show values over the API; check --podman-root points at its storage root.',
  },
  RESTORE_ERR_CONTAINER_NOT_RUNNING: {
    http: 409,
    exit: 14,
    retryable: true,
    summary: 'the database or KV container is not running',
    hint: 'Start the unit of that container (services start) and run again.',
  },
  RESTORE_ERR_ENDPOINT_UNAVAILABLE: {
    http: 503,
    exit: 15,
    summary: 'no address to reach the database or KV store',
    hint: 'The container has no address on the flightctl network; try --strategy publish-dropin.',
  },
  RESTORE_ERR_DROPIN_FAILED: {
    http: 500,
    exit: 16,
    summary: 'a publish drop-in could not be written, applied or removed',
    hint: 'Check --dropin-dir and --state-dir are writable; the state file lists what to remove.',
  },
  RESTORE_ERR_STATE_INVALID: {
    http: 500,
    exit: 17,
    summary: 'the state file under the state directory is damaged',
    hint: 'The state file under --state-dir is damaged; inspect it, fix or remove it.',
  },
  RESTORE_ERR_EXEC_FAILED: {
    http: 502,
    exit: 18,
    summary: 'a command inside a container could not run',
    hint: 'The command inside the container could not run; check the container and its image.',
  },
  // The runbook engine (run, recover, runs)
  RESTORE_ERR_RUN_ACTIVE: {
    http: 409,
    exit: 19,
    retryable: true,
    summary: 'another restore run holds this host (one mutating run at a time)',
    hint: 'Another restore run holds this host; wait for it (flightctl-restore-agent runs) and try again.',
  },
  RESTORE_ERR_RUN_NOT_FOUND: { http: 404, exit: 39, summary: 'no run with that id in the journal', hint: 'List the runs with: flightctl-restore-agent runs' },
  RESTORE_ERR_DUMP_INVALID: {
    http: 422,
    exit: 20,
    summary: 'the dump is unreadable, of an unknown format, or failed to load (nothing changed)',
    hint: 'Check the dump file: a plain SQL dump or pg_dump custom format (-Fc) made without --create; nothing was changed.',
  },
  RESTORE_ERR_INSUFFICIENT_SPACE: {
    http: 507,
    exit: 21,
    summary: "not enough free space in the database's volume for a second copy",
    hint: "Free space in the database's volume (a second copy of the database must fit), then run again.",
  },
  RESTORE_ERR_VERSION_MISMATCH: {
    http: 409,
    exit: 22,
    summary: "the running Flight Control or the dump's schema is not one this agent supports (`--force` overrides)",
    hint: 'Restore a backup of the same Flight Control version, or pass --force if you know they are compatible.',
  },
  RESTORE_ERR_ARCHIVE_VERSION: {
    http: 409,
    exit: 43,
    summary: 'the archive is a backup of another Flight Control minor or major release, or its version cannot be read (`--force` overrides)',
    hint: 'Restore the archive onto the Flight Control release that made it (the same major.minor), or pass --force if you know they are compatible.',
  },
  RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID: {
    http: 422,
    exit: 44,
    summary: "Flight Control's service-config.yaml cannot be used (the key is named)",
    hint: "Fix the named key in Flight Control's service-config.yaml (flightctl.etcDir) as Flight Control's documentation describes it, then run again; nothing was changed.",
  },
  RESTORE_ERR_DB_TLS: {
    http: 502,
    exit: 45,
    summary: "TLS with the database failed: its certificate, its name, or a TLS file service-config.yaml's sslmode needs",
    hint: "Check db.external.sslmode in Flight Control's service-config.yaml and the files under <etc>/pki/db/ (ca.crt for verify-ca and verify-full, client.crt and client.key with useClientCertAuth) against the database server's certificate.",
  },
  RESTORE_ERR_EXTERNAL_DB_PRIVILEGE: {
    http: 409,
    exit: 46,
    summary: 'the database user may not create and rename databases, which loading a dump beside the external database needs (nothing changed)',
    hint: 'Grant the named privilege to the database user, or restore the external database yourself (pg_restore, psql) and run again without a dump: the run then prepares it in place.',
  },
  RESTORE_ERR_UNIT_MISSING: {
    http: 422,
    exit: 23,
    summary: 'a unit the restore needs is not installed',
    hint: 'A Flight Control unit the restore needs is not installed; check the installation (flightctl-restore-agent services).',
  },
  RESTORE_ERR_RECOVERY_INCOMPLETE: {
    http: 500,
    exit: 24,
    summary: 'recovery of an interrupted run could not finish; run `recover` again',
    hint: 'Recovery could not finish everything; fix the named cause and run flightctl-restore-agent recover again.',
  },
  // The HTTP API (serve) and its clients
  RESTORE_ERR_REQUEST_INVALID: {
    http: 400,
    exit: 2,
    summary: 'API: a malformed request (bad JSON, unknown field, bad value or selector, a dump outside the import directory)',
    hint: 'Fix the request: the message names the field; GET /openapi.json describes every endpoint.',
  },
  RESTORE_ERR_BODY_TOO_LARGE: {
    http: 413,
    exit: 2,
    summary: 'API: the request body is over the limit',
    hint: 'Requests are small JSON documents; send less (api.bodyLimitBytes sets the limit).',
  },
  RESTORE_ERR_UNAUTHENTICATED: {
    http: 401,
    exit: 25,
    summary: 'API: no valid bearer token',
    hint: 'Send a valid bearer token (Authorization: Bearer <JWT>) signed by a configured key, for this audience and issuer.',
  },
  RESTORE_ERR_FORBIDDEN: {
    http: 403,
    exit: 25,
    summary: 'API: the token lacks the scope',
    hint: 'The token lacks the scope this call needs (restore:read, restore:run or devices:resume).',
  },
  RESTORE_ERR_RATE_LIMITED: {
    http: 429,
    exit: 26,
    retryable: true,
    summary: 'API: too many calls that change something',
    hint: 'Too many calls that change something; wait for Retry-After seconds.',
  },
  RESTORE_ERR_REFUSED_TOO_OFTEN: {
    http: 429,
    exit: 26,
    retryable: true,
    summary: 'API: too many refused calls (bad or missing token, missing scope) from this address',
    hint: 'Too many calls from this address were refused (bad or missing token, missing scope); fix the token, then wait for Retry-After seconds.',
  },
  RESTORE_ERR_HEADERS_TOO_LARGE: {
    http: 431,
    exit: 2,
    summary: 'API: the request headers are over the limit Node.js takes',
    hint: 'Send smaller headers: one bearer token and a short URL (Node.js takes 16 KB of headers by default).',
  },
  RESTORE_ERR_REQUEST_TIMEOUT: {
    http: 408,
    exit: 41,
    retryable: true,
    summary: 'API: the request (headers or body) did not arrive in time',
    hint: 'Send the whole request at once; api.headersTimeoutMs and api.requestTimeoutMs bound how long it may take.',
  },
  RESTORE_ERR_BUSY: {
    http: 503,
    exit: 42,
    retryable: true,
    summary: 'API: the listener is at its connection limit',
    hint: 'Too many open connections to this listener; close idle ones and try again (api.maxConnections sets the limit).',
  },
  RESTORE_ERR_NOT_FOUND: { http: 404, exit: 27, summary: 'API: no such endpoint', hint: 'No such endpoint; GET /openapi.json lists them.' },
  RESTORE_ERR_NOT_READY: {
    http: 503,
    exit: 29,
    retryable: true,
    summary: 'API: the agent is starting or stopping',
    hint: 'The agent is starting (recovering an interrupted run) or stopping; try again shortly.',
  },
  RESTORE_ERR_RECOVERING: {
    http: 503,
    exit: 40,
    retryable: true,
    summary: 'API: the agent is finishing a run an earlier process left (after a crash or a reboot) and takes no new work until it has',
    hint: 'Wait and try again (Retry-After): GET /healthz says what recovery waits for (the database, KV store, Podman or the bus not back yet).',
  },
  RESTORE_ERR_LISTEN_FAILED: {
    http: 500,
    exit: 30,
    summary: '`serve` cannot listen on an address',
    hint: 'Check the --listen address: free, and for unix: a writable directory.',
  },
  RESTORE_ERR_FLIGHTCTL_API: {
    http: 502,
    exit: 28,
    summary: "Flight Control's API refused a call or cannot be reached",
    hint: "Check flightctl.apiUrl, the token file and the CA; Flight Control's API answered with an error or not at all.",
  },
  // Backups and archives
  RESTORE_ERR_ARCHIVE_INVALID: {
    http: 422,
    exit: 33,
    summary: 'a backup archive is damaged, unsafe or not a Flight Control backup (nothing changed)',
    hint: 'The archive is damaged, unsafe or not a Flight Control backup; nothing was changed. Use another archive.',
  },
  RESTORE_ERR_CHECKSUM_MISMATCH: {
    http: 422,
    exit: 33,
    summary: 'a backup archive does not match its `.sha256` sidecar, or has none',
    hint: 'The archive does not match its .sha256 sidecar (or has none); copy both files again.',
  },
  RESTORE_ERR_DEPLOYMENT_MISMATCH: {
    http: 409,
    exit: 34,
    summary: 'the archive is of another deployment type',
    hint: 'The archive is of another deployment type (podman or kubernetes); restore it on a host of that type.',
  },
  RESTORE_ERR_BACKUP_FAILED: {
    http: 500,
    exit: 35,
    summary: 'a backup did not complete (no archive left)',
    hint: 'The backup did not complete and no archive was left; the message names the part that failed.',
  },
  RESTORE_ERR_DATABASE_WAIT_TIMEOUT: {
    http: 504,
    exit: 36,
    summary: 'an external database was not restored in time; services started again',
    hint: 'The external database was not restored in time; the services run again. Restore it, then run the restore again.',
  },
  // The Kubernetes target (run --target kubernetes, in a Job or with a kubeconfig)
  RESTORE_ERR_KUBE_UNREACHABLE: {
    http: 503,
    exit: 37,
    retryable: true,
    summary: 'Kubernetes: the API server cannot be reached, its certificate is not trusted, or it refused the credentials',
    hint: "Check --kubeconfig (or the Job's service account token) and that the Kubernetes API server answers.",
  },
  RESTORE_ERR_KUBE_FORBIDDEN: {
    http: 403,
    exit: 37,
    summary: 'Kubernetes: the service account may not do what the message names (RBAC)',
    hint: 'The service account lacks the named permission; apply deploy/kubernetes/rbac.yaml for both namespaces (or grant that verb and resource).',
  },
  RESTORE_ERR_KUBE_API: {
    http: 502,
    exit: 37,
    summary: 'Kubernetes: the API refused a request for another reason (its status is in the message)',
    hint: 'The Kubernetes API refused a request (status in the message); fix the named object and run again.',
  },
  RESTORE_ERR_KUBE_SECRET_MISSING: {
    http: 404,
    exit: 13,
    summary: 'Kubernetes: a Secret or one of its keys is missing (through the API, or under `kubernetes.secretsDir`)',
    hint: 'Create the named Secret and key in the internal namespace, or mount it at kubernetes.secretsDir/<secret>/<key>.',
  },
  RESTORE_ERR_DEPLOYMENT_MISSING: {
    http: 422,
    exit: 23,
    summary: 'Kubernetes: `flightctl-api` is not in the namespace given',
    hint: 'A Flight Control deployment the restore needs is not there; check --namespace and --internal-namespace.',
  },
  RESTORE_ERR_SCALE_TIMEOUT: {
    http: 504,
    exit: 38,
    summary: "Kubernetes: a deployment's pods did not go away, or were not ready again, within `kubernetes.scaleTimeoutMs`",
    hint: 'The pods did not go away or become ready in time; look at them (kubectl get pods, describe) or raise kubernetes.scaleTimeoutMs.',
  },
  RESTORE_ERR_DUMP_UNSUPPORTED: {
    http: 422,
    exit: 20,
    summary: 'the target cannot load a dump of this format (Kubernetes: custom format; convert it to plain SQL)',
    hint: 'This target loads plain SQL dumps only; convert the dump with pg_restore -f FILE.sql DUMP and restore that.',
  },
  // The fleet client (flightctl-restorectl)
  RESTORE_ERR_INVENTORY_INVALID: {
    http: 400,
    exit: 2,
    summary: 'fleet client: a malformed inventory or host pattern',
    hint: 'Fix the inventory at the named line (Ansible INI or YAML), or the --limit pattern.',
  },
  RESTORE_ERR_AGENT_UNREACHABLE: {
    http: 503,
    exit: 31,
    retryable: true,
    summary: 'fleet client: an agent cannot be reached',
    hint: 'Check the agent URL or socket, that serve runs there, and the CA bundle for https.',
  },
  RESTORE_ERR_FLEET_INCOMPLETE: {
    http: 500,
    exit: 32,
    summary: 'fleet client: not every host succeeded',
    hint: 'Not every host succeeded; the summary names each host and its error code.',
  },
  RESTORE_ERR_CANCELLED: {
    http: 409,
    exit: 130,
    retryable: true,
    summary: 'interrupted; safe to run again',
    hint: 'The operation was interrupted; run it again, it is safe to repeat.',
  },
} as const satisfies Record<string, { http: number; exit: number; summary: string; hint: string; retryable?: true }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Whether trying the same call again later may succeed with nothing changed (see the catalogue). */
export function isRetryable(code: ErrorCode): boolean {
  return 'retryable' in ERROR_CATALOGUE[code];
}

/**
 * An error the user is meant to read. The message must never contain a secret value; callers
 * build it from names and addresses only (the logger redacts registered secrets as a second line
 * of defence).
 */
export class RestoreError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RestoreError';
    this.code = code;
    this.details = details;
  }

  get hint(): string {
    return ERROR_CATALOGUE[this.code].hint;
  }

  get exitCode(): number {
    return ERROR_CATALOGUE[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CATALOGUE[this.code].http;
  }

  get retryable(): boolean {
    return isRetryable(this.code);
  }

  /** What a user sees: code, message, hint. Never a stack trace. */
  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isRestoreError(err: unknown): err is RestoreError {
  return err instanceof RestoreError;
}

/** Wraps anything thrown into a RestoreError, keeping known ones as they are. */
export function asRestoreError(err: unknown, fallback: ErrorCode = 'RESTORE_ERR_INTERNAL'): RestoreError {
  if (isRestoreError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RestoreError(fallback, message, {}, { cause: err });
}
