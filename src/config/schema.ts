import { z } from 'zod';

const port = z.coerce
  .number({ invalid_type_error: 'must be a TCP port number (1-65535)' })
  .int('must be a whole TCP port number (1-65535)')
  .min(1, 'must be a TCP port number (1-65535)')
  .max(65535, 'must be a TCP port number (1-65535)');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/** A list from YAML, or comma-separated from the environment. */
const list = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)
      : v,
  z.array(nonEmpty),
);

/** true/false from YAML, or "true"/"false"/"1"/"0"/"yes"/"no" from the environment (z.coerce would take "false" as true). */
const flag = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const t = v.trim().toLowerCase();
    return ['true', '1', 'yes'].includes(t) ? true : ['false', '0', 'no'].includes(t) ? false : v;
  },
  z.boolean({ invalid_type_error: 'must be true or false' }),
);

/** How a configuration key is set besides the file, and what it is for (docs/configuration.md). */
export interface KeyMeta {
  /** The environment variable that sets it. */
  env?: string;
  /** The command-line flag, as commander spells it ('--db-host <host>'; no argument: a switch). */
  flag?: string;
  /** The flag may be given more than once, each adding one value (a list key). */
  repeatable?: true;
  doc: string;
}

const META = new Map<z.ZodTypeAny, KeyMeta>();

/** A key's schema (with its default), declared once with its variable, flag and description. */
function key<S extends z.ZodTypeAny>(schema: S, meta: KeyMeta): S {
  META.set(schema, meta);
  return schema;
}

/**
 * Every setting of the agent, with its default. Passwords are deliberately absent: they come
 * only from DB_PASSWORD / KV_PASSWORD or from the host's secret store, never from a file or a flag.
 */
export const configSchema = z
  .object({
    log: z
      .object({
        level: key(z.enum(['error', 'warn', 'info', 'debug']).default('info'), {
          env: 'FLIGHTCTL_RESTORE_LOG_LEVEL',
          flag: '--log-level <level>',
          doc: 'what is logged, to stderr: error, warn, info or debug',
        }),
      })
      .strict()
      .default({}),
    /** What run and recover drive: the Quadlets host they run on, or a Kubernetes cluster. */
    target: key(z.enum(['quadlet', 'kubernetes']).default('quadlet'), {
      env: 'FLIGHTCTL_RESTORE_TARGET',
      flag: '--target <target>',
      doc: 'what run, recover and runs drive: this Quadlets host, or a Kubernetes cluster',
    }),
    db: z
      .object({
        host: key(nonEmpty.default('localhost'), {
          env: 'FLIGHTCTL_RESTORE_DB_HOST',
          flag: '--db-host <host>',
          doc: 'PostgreSQL host for prepare and devices; on Kubernetes the database address (default there: the flightctl-db Service)',
        }),
        port: key(port.default(5432), {
          env: 'FLIGHTCTL_RESTORE_DB_PORT',
          flag: '--db-port <port>',
          doc: "PostgreSQL port (on Kubernetes default: the Service's, 5432)",
        }),
        name: key(nonEmpty.default('flightctl'), { env: 'FLIGHTCTL_RESTORE_DB_NAME', flag: '--db-name <name>', doc: 'the Flight Control database' }),
        user: key(nonEmpty.default('flightctl_app'), {
          env: 'FLIGHTCTL_RESTORE_DB_USER',
          flag: '--db-user <user>',
          doc: 'the database user (its password: DB_PASSWORD, or the Podman secret on a host)',
        }),
        connectTimeoutMs: key(z.coerce.number().int().min(100).max(600_000).default(10_000), { doc: 'bound on connecting to PostgreSQL' }),
      })
      .strict()
      .default({}),
    kv: z
      .object({
        host: key(nonEmpty.default('localhost'), {
          env: 'FLIGHTCTL_RESTORE_KV_HOST',
          flag: '--kv-host <host>',
          doc: 'KV store (Redis) host for prepare; on Kubernetes its address (default there: the flightctl-kv Service)',
        }),
        port: key(port.default(6379), { env: 'FLIGHTCTL_RESTORE_KV_PORT', flag: '--kv-port <port>', doc: 'KV store port' }),
        connectTimeoutMs: key(z.coerce.number().int().min(100).max(600_000).default(10_000), { doc: 'bound on connecting to the KV store' }),
        /** Spare database the restore stages keys in while the services run (0: no staging). */
        stagingDb: key(z.coerce.number().int().min(0).max(15).default(1), {
          env: 'FLIGHTCTL_RESTORE_KV_STAGING_DB',
          doc: 'spare KV database the restore stages keys in while the services run (0: no staging)',
        }),
      })
      .strict()
      .default({}),
    restore: z
      .object({
        /** Parallel jobs of pg_restore for a custom-format dump. */
        jobs: key(z.coerce.number().int().min(1).max(64).default(4), {
          env: 'FLIGHTCTL_RESTORE_JOBS',
          flag: '--jobs <n>',
          doc: 'pg_restore jobs for a custom-format dump',
        }),
        /** Free space needed in the database's volume, as a multiple of the live database's size. */
        spaceFactor: key(z.coerce.number().min(0).max(1000).default(1.1), {
          env: 'FLIGHTCTL_RESTORE_SPACE_FACTOR',
          doc: "free space needed in the database's volume, as a multiple of the live database's size",
        }),
        /** How long the swap waits for sessions on the live database to go. */
        swapTimeoutMs: key(z.coerce.number().int().min(1000).max(600_000).default(30_000), {
          env: 'FLIGHTCTL_RESTORE_SWAP_TIMEOUT_MS',
          doc: 'how long the swap waits for sessions on the live database to go',
        }),
        /** Keep the pre-restore database as <db>_old_<id> after a successful run. */
        keepOldDb: key(flag.default(false), {
          env: 'FLIGHTCTL_RESTORE_KEEP_OLD_DB',
          flag: '--keep-old-db',
          doc: 'keep the pre-restore database as <db>_old_<id> after a successful run',
        }),
        /** Finished runs kept in the journal. */
        keepRuns: key(z.coerce.number().int().min(1).max(10_000).default(50), { env: 'FLIGHTCTL_RESTORE_KEEP_RUNS', doc: 'finished runs kept in the journal' }),
        /** An archive with more entries, or more bytes in its files, is refused as unsafe. */
        archiveMaxEntries: key(z.coerce.number().int().min(10).max(10_000_000).default(200_000), {
          env: 'FLIGHTCTL_RESTORE_ARCHIVE_MAX_ENTRIES',
          doc: 'an archive with more entries is refused as unsafe',
        }),
        archiveMaxBytes: key(
          z.coerce
            .number()
            .int()
            .min(1024)
            .max(Number.MAX_SAFE_INTEGER)
            .default(512 * 1024 ** 3),
          { env: 'FLIGHTCTL_RESTORE_ARCHIVE_MAX_BYTES', doc: 'an archive with more bytes in its files is refused as unsafe' },
        ),
        /**
         * Each entry kind has its own bound, checked at its header before anything is written: the
         * dump (archiveMaxBytes, the archive's whole) is the one large part of a backup.
         */
        archiveMaxFileBytes: key(
          z.coerce
            .number()
            .int()
            .min(1024)
            .max(Number.MAX_SAFE_INTEGER)
            .default(4 * 1024 ** 2),
          {
            env: 'FLIGHTCTL_RESTORE_ARCHIVE_MAX_FILE_BYTES',
            doc: 'largest file of an archive but its dump and PAM volume (pki/, encryption/, config/: certificates, keys and configuration); a larger one refuses the archive',
          },
        ),
        archiveMaxVolumeBytes: key(
          z.coerce
            .number()
            .int()
            .min(1024)
            .max(Number.MAX_SAFE_INTEGER)
            .default(64 * 1024 ** 2),
          {
            env: 'FLIGHTCTL_RESTORE_ARCHIVE_MAX_VOLUME_BYTES',
            doc: "largest PAM issuer volume (volumes/pam-issuer-etc.tar, the issuer's /etc) in an archive; a larger one refuses the archive",
          },
        ),
        /** How long recover, run and serve's start wait for the data stores, Podman and the bus to come back. */
        recoveryWaitMs: key(z.coerce.number().int().min(0).max(86_400_000).default(300_000), {
          env: 'FLIGHTCTL_RESTORE_RECOVERY_WAIT_MS',
          doc: 'how long recover and run wait (with backoff, each wait reported) for the database, the KV store, Podman and the bus to come back, e.g. after a reboot; serve keeps trying',
        }),
        /** With an archive of an external database: how long the run waits for the operator to restore it. */
        databaseWaitTimeoutMs: key(
          z.coerce
            .number()
            .int()
            .min(1000)
            .max(7 * 86_400_000)
            .default(3_600_000),
          {
            env: 'FLIGHTCTL_RESTORE_DATABASE_WAIT_TIMEOUT_MS',
            doc: 'with an archive of an external database: how long the run waits for the operator to restore it',
          },
        ),
      })
      .strict()
      .default({}),
    api: z
      .object({
        /** unix:PATH, https://HOST:PORT (with tlsCert/tlsKey) or http://127.0.0.1:PORT / http://[::1]:PORT. */
        listen: key(list.default(['unix:/run/flightctl-restore-agent/api.sock']), {
          env: 'FLIGHTCTL_RESTORE_API_LISTEN',
          flag: '--listen <addr>',
          repeatable: true,
          doc: 'serve: unix:PATH, https://HOST:PORT (with the TLS pair) or http://127.0.0.1:PORT; repeatable',
        }),
        tlsCert: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_TLS_CERT',
          flag: '--tls-cert <file>',
          doc: 'serve: certificate (PEM) for https:// listeners',
        }),
        tlsKey: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_TLS_KEY',
          flag: '--tls-key <file>',
          doc: 'serve: private key (PEM) for https:// listeners',
        }),
        /** Where the keys that sign tokens come from: one of the three. */
        jwksFile: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_JWKS_FILE',
          flag: '--jwks-file <file>',
          doc: 'serve: a JWKS with the keys that sign tokens',
        }),
        jwksUrl: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_JWKS_URL',
          flag: '--jwks-url <url>',
          doc: 'serve: a JWKS URL (cached, bounded timeout)',
        }),
        jwtPublicKey: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_JWT_PUBLIC_KEY',
          flag: '--jwt-public-key <file>',
          doc: 'serve: a PEM public key that signs tokens',
        }),
        /** Accepted token issuers (at least one when serving). */
        jwtIssuers: key(list.default([]), {
          env: 'FLIGHTCTL_RESTORE_API_JWT_ISSUERS',
          flag: '--jwt-issuer <iss>',
          repeatable: true,
          doc: 'serve: an accepted token issuer; repeatable (the environment takes a comma-separated list)',
        }),
        /** The audience tokens must name; empty: this host's name. */
        jwtAudience: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_JWT_AUDIENCE',
          flag: '--jwt-audience <aud>',
          doc: "serve: the audience tokens must name; empty: this host's name",
        }),
        clockToleranceSec: key(z.coerce.number().int().min(0).max(300).default(30), { doc: "serve: tolerance for the tokens' times" }),
        /** Oldest token (by iat) accepted for a call that changes something. */
        maxTokenAgeSec: key(z.coerce.number().int().min(10).max(86_400).default(900), {
          doc: 'serve: oldest token (by iat) accepted for a call that changes something',
        }),
        /** Longest lifetime (exp - iat, or exp - now without iat) of a token accepted for any call: a lifted token stays usable no longer. */
        maxTokenLifetimeSec: key(z.coerce.number().int().min(60).max(31_536_000).default(86_400), {
          env: 'FLIGHTCTL_RESTORE_API_MAX_TOKEN_LIFETIME_SEC',
          doc: 'serve: longest token lifetime (exp - iat, or exp - now) accepted for any call, reads included',
        }),
        jwksTimeoutMs: key(z.coerce.number().int().min(100).max(60_000).default(5000), { doc: 'serve: bound on fetching the JWKS URL' }),
        jwksCacheMaxAgeMs: key(z.coerce.number().int().min(1000).max(86_400_000).default(600_000), { doc: 'serve: how long a fetched JWKS is kept' }),
        /** Where a restore's dump is taken from (a file name inside it); empty: <stateDir>/imports. */
        importDir: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_API_IMPORT_DIR',
          flag: '--import-dir <dir>',
          doc: 'serve: where dumps and archives named in POST /v1/restores are taken from; empty: <state-dir>/imports',
        }),
        bodyLimitBytes: key(
          z.coerce
            .number()
            .int()
            .min(1024)
            .max(16 * 1024 * 1024)
            .default(1024 * 1024),
          { doc: 'serve: largest request body' },
        ),
        /** Slow clients: how long the headers, and the whole request with its body, may take to arrive. */
        headersTimeoutMs: key(z.coerce.number().int().min(1000).max(300_000).default(10_000), {
          env: 'FLIGHTCTL_RESTORE_API_HEADERS_TIMEOUT_MS',
          doc: "serve: how long a request's headers may take to arrive (then 408 and the connection closed)",
        }),
        requestTimeoutMs: key(z.coerce.number().int().min(1000).max(600_000).default(30_000), {
          env: 'FLIGHTCTL_RESTORE_API_REQUEST_TIMEOUT_MS',
          doc: 'serve: how long a whole request, body included, may take to arrive (then 408 and the connection closed)',
        }),
        /** Open connections per listener; a few more are kept for /healthz only (connection-guard.ts). */
        maxConnections: key(z.coerce.number().int().min(1).max(100_000).default(128), {
          env: 'FLIGHTCTL_RESTORE_API_MAX_CONNECTIONS',
          doc: 'serve: open connections per listener; past it only /healthz is answered (8 more), then connections are closed at once',
        }),
        maxConnectionsPerPeer: key(z.coerce.number().int().min(1).max(100_000).default(16), {
          env: 'FLIGHTCTL_RESTORE_API_MAX_CONNECTIONS_PER_PEER',
          doc: 'serve: open connections per remote address on a TCP listener; more are closed at once',
        }),
        /** Refused calls (401, 403) per remote address and minute, past which the address gets 429 for everything. */
        refusedPerMinute: key(z.coerce.number().int().min(1).max(100_000).default(100), {
          env: 'FLIGHTCTL_RESTORE_API_REFUSED_PER_MINUTE',
          doc: 'serve: refused calls (bad or missing token, missing scope) per remote address and minute; past it every call from there is 429',
        }),
        /** Calls that change something, per client and minute. */
        mutationsPerMinute: key(z.coerce.number().int().min(1).max(100_000).default(60), {
          env: 'FLIGHTCTL_RESTORE_API_MUTATIONS_PER_MINUTE',
          doc: 'serve: calls that change something, per client and minute',
        }),
      })
      .strict()
      .default({}),
    flightctl: z
      .object({
        /** Flight Control's API, for its version and for resuming devices through it. */
        apiUrl: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_FLIGHTCTL_API_URL',
          doc: "Flight Control's API, for its version and for resuming devices through it",
        }),
        /** A file holding the bearer token for that API (never the token itself in the config). */
        tokenFile: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_FLIGHTCTL_TOKEN_FILE',
          doc: 'a file holding the bearer token for that API (never the token itself in the configuration)',
        }),
        caFile: key(z.string().trim().default(''), { env: 'FLIGHTCTL_RESTORE_FLIGHTCTL_CA_FILE', doc: 'CA bundle (PEM) that verifies that API' }),
        timeoutMs: key(z.coerce.number().int().min(100).max(120_000).default(10_000), { doc: 'bound on one call to that API' }),
        /** Flight Control's configuration on a Quadlets host: pki/, encryption/, service-config.yaml. */
        etcDir: key(nonEmpty.default('/etc/flightctl'), {
          env: 'FLIGHTCTL_RESTORE_FLIGHTCTL_ETC',
          flag: '--flightctl-etc <dir>',
          doc: "Flight Control's configuration on a Quadlets host: pki/, encryption/, service-config.yaml",
        }),
      })
      .strict()
      .default({}),
    backup: z
      .object({
        /** Where archives go; empty: <stateDir>/backups. */
        outputDir: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_BACKUP_OUTPUT_DIR',
          flag: '--backup-dir <dir>',
          doc: 'where backups are written (backup, POST /v1/backups); empty: <state-dir>/backups',
        }),
        /** After a successful backup, keep this many newest archives (0: all). */
        keep: key(z.coerce.number().int().min(0).max(10_000).default(0), {
          env: 'FLIGHTCTL_RESTORE_BACKUP_KEEP',
          doc: 'after a successful backup, keep this many newest archives (0: all)',
        }),
      })
      .strict()
      .default({}),
    host: z
      .object({
        /** D-Bus address of systemd's bus; empty means DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
        dbusAddress: key(z.string().trim().default(''), {
          flag: '--dbus-address <addr>',
          doc: "D-Bus address of systemd's bus; empty: DBUS_SYSTEM_BUS_ADDRESS, else the system bus",
        }),
        podmanSocket: key(nonEmpty.default('/run/podman/podman.sock'), {
          env: 'FLIGHTCTL_RESTORE_PODMAN_SOCKET',
          flag: '--podman-socket <path>',
          doc: 'the Podman API socket',
        }),
        /** dbus.service or podman.service restarted under a run: a call waits this long for its connection to come back. */
        reconnectWaitMs: key(z.coerce.number().int().min(0).max(3_600_000).default(60_000), {
          env: 'FLIGHTCTL_RESTORE_RECONNECT_WAIT_MS',
          doc: 'how long a call waits (with backoff) for a lost D-Bus or Podman API connection to come back before it fails; each loss is recorded in the run',
        }),
        /** Podman's storage root (graphroot): the file driver keeps secret values below it. */
        podmanRoot: key(nonEmpty.default('/var/lib/containers/storage'), {
          env: 'FLIGHTCTL_RESTORE_PODMAN_ROOT',
          flag: '--podman-root <dir>',
          doc: "Podman's storage root (graphroot): the secrets file driver keeps values below it",
        }),
        /** Where publish drop-ins go: /run is cleared by a reboot and wins over /etc and /usr. */
        dropinDir: key(nonEmpty.default('/run/containers/systemd'), {
          env: 'FLIGHTCTL_RESTORE_DROPIN_DIR',
          flag: '--dropin-dir <dir>',
          doc: 'where publish drop-ins go: /run is cleared by a reboot and wins over /etc and /usr',
        }),
        /** Where the drop-ins that hold stopped units across a reboot go: it must survive one. */
        holdDir: key(nonEmpty.default('/etc/containers/systemd'), {
          env: 'FLIGHTCTL_RESTORE_HOLD_DIR',
          flag: '--hold-dir <dir>',
          doc: "where the drop-ins that keep a restore's stopped units down across a reboot go (persistent: the admin's quadlet directory)",
        }),
        /** Quadlet search directories, highest precedence first (quadlet's own order). */
        quadletDirs: key(
          z
            .preprocess((v) => (typeof v === 'string' ? v.split(':').filter(Boolean) : v), z.array(nonEmpty).min(1))
            .default(['/run/containers/systemd', '/etc/containers/systemd', '/usr/share/containers/systemd']),
          {
            env: 'FLIGHTCTL_RESTORE_QUADLET_DIRS',
            flag: '--quadlet-dirs <dirs>',
            doc: 'quadlet search directories, colon-separated, highest precedence first',
          },
        ),
        stateDir: key(nonEmpty.default('/var/lib/flightctl-restore-agent'), {
          env: 'FLIGHTCTL_RESTORE_STATE_DIR',
          flag: '--state-dir <dir>',
          doc: 'where runs, the intent and the lock are kept on a host',
        }),
        endpointStrategy: key(z.enum(['container-ip', 'publish-dropin']).default('container-ip'), {
          env: 'FLIGHTCTL_RESTORE_ENDPOINT_STRATEGY',
          flag: '--strategy <strategy>',
          doc: "how the database and KV store are reached: the container's IP on the flightctl network, or a port published on 127.0.0.1 (restarts the database)",
        }),
        unitTimeoutMs: key(z.coerce.number().int().min(100).max(3_600_000).default(120_000), {
          env: 'FLIGHTCTL_RESTORE_UNIT_TIMEOUT_MS',
          flag: '--unit-timeout-ms <ms>',
          doc: 'how long to wait for one unit job',
        }),
      })
      .strict()
      .default({}),
    kubernetes: z
      .object({
        /** A kubeconfig file; empty: the in-cluster service account in a Job, else KUBECONFIG or ~/.kube/config. */
        kubeconfig: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_KUBECONFIG',
          flag: '--kubeconfig <file>',
          doc: 'a kubeconfig; empty: the service account in a Job, else KUBECONFIG or ~/.kube/config',
        }),
        /** A context of that kubeconfig; empty: its current context. */
        context: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_KUBE_CONTEXT',
          flag: '--context <name>',
          doc: 'a context of the kubeconfig; empty: its current one',
        }),
        /** The namespace of flightctl-api, flightctl-alertmanager-proxy and flightctl-imagebuilder-api (the release's). */
        namespace: key(nonEmpty.default('flightctl'), {
          env: 'FLIGHTCTL_RESTORE_NAMESPACE',
          flag: '--namespace <ns>',
          doc: "the namespace of flightctl-api (the release's)",
        }),
        /** The namespace of the worker, periodic, alert exporter, database and KV store; empty: namespace. */
        internalNamespace: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_INTERNAL_NAMESPACE',
          flag: '--internal-namespace <ns>',
          doc: 'the namespace of the worker, database and KV store; empty: --namespace',
        }),
        /** Where the run's journal (ConfigMaps) and lock (a Lease) live; empty: the internal namespace. */
        stateNamespace: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_STATE_NAMESPACE',
          flag: '--state-namespace <ns>',
          doc: "where the run's journal (ConfigMaps) and lock (a Lease) live; empty: the internal namespace",
        }),
        /** Secrets mounted into the Job as <dir>/<secret>/<key>; empty: read them through the API. */
        secretsDir: key(z.string().trim().default(''), {
          env: 'FLIGHTCTL_RESTORE_SECRETS_DIR',
          flag: '--secrets-dir <dir>',
          doc: 'Secrets mounted as <dir>/<secret>/<key>; empty: read them through the API',
        }),
        /** Bound on the wait for a deployment's pods to go away, and to be ready again. */
        scaleTimeoutMs: key(z.coerce.number().int().min(100).max(3_600_000).default(300_000), {
          env: 'FLIGHTCTL_RESTORE_SCALE_TIMEOUT_MS',
          doc: "bound on the wait for a deployment's pods to go away, and to be ready again",
        }),
        /** How often pods and deployments are looked at while waiting. */
        pollIntervalMs: key(z.coerce.number().int().min(10).max(60_000).default(1000), { doc: 'how often pods and deployments are looked at while waiting' }),
        /** Bound on one call to the API server. */
        requestTimeoutMs: key(z.coerce.number().int().min(100).max(600_000).default(30_000), { doc: 'bound on one call to the API server' }),
        /** The lock's lease: a holder that stops renewing it for this long holds nothing. */
        leaseDurationSec: key(z.coerce.number().int().min(1).max(3600).default(30), {
          env: 'FLIGHTCTL_RESTORE_LEASE_DURATION_SEC',
          doc: "the lock's lease: a holder that stops renewing it for this long holds nothing",
        }),
      })
      .strict()
      .default({}),
    prepare: z
      .object({
        /** Keys per Redis pipeline round trip; large enough to hide latency, small enough to stream. */
        kvBatchSize: key(z.coerce.number().int().min(1).max(100_000).default(5000), { doc: 'keys per Redis pipeline round trip' }),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

/** Every key at its default: what a caller that is not handed a configuration falls back to. */
export const CONFIG_DEFAULTS: Readonly<Config> = configSchema.parse({});

export interface ConfigKey extends KeyMeta {
  /** Dotted: db.host, target. */
  key: string;
  schema: z.ZodTypeAny;
  /** The default, as the schema gives it. */
  default: unknown;
  /** Allowed values, for an enum. */
  choices?: readonly string[];
}

function choicesOf(schema: z.ZodTypeAny): readonly string[] | undefined {
  let s: z.ZodTypeAny = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodEffects) s = s instanceof z.ZodEffects ? s.innerType() : s._def.innerType;
  return s instanceof z.ZodEnum ? (s.options as string[]) : undefined;
}

/** Every key in the schema's order, with what the loader, the flags, --help and the docs need. */
export const CONFIG_KEYS: readonly ConfigKey[] = (() => {
  const keys: ConfigKey[] = [];
  const walk = (shape: z.ZodRawShape, prefix: string) => {
    for (const [name, schema] of Object.entries(shape)) {
      const meta = META.get(schema);
      if (meta) {
        const choices = choicesOf(schema);
        keys.push({ key: `${prefix}${name}`, schema, default: schema.parse(undefined), ...meta, ...(choices ? { choices } : {}) });
        continue;
      }
      let inner: z.ZodTypeAny = schema;
      while (inner instanceof z.ZodDefault) inner = inner._def.innerType;
      if (!(inner instanceof z.ZodObject)) throw new Error(`configuration key ${prefix}${name} is declared without key()`);
      walk(inner.shape, `${prefix}${name}.`);
    }
  };
  walk(configSchema.shape, '');
  return keys;
})();
export type ConfigInput = z.input<typeof configSchema>;
