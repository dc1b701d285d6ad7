import { z } from 'zod';

const port = z.coerce
  .number({ invalid_type_error: 'must be a TCP port number (1-65535)' })
  .int('must be a whole TCP port number (1-65535)')
  .min(1, 'must be a TCP port number (1-65535)')
  .max(65535, 'must be a TCP port number (1-65535)');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/** A list from YAML, or comma-separated from the environment. */
const list = z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(nonEmpty));

/** true/false from YAML, or "true"/"false"/"1"/"0"/"yes"/"no" from the environment (z.coerce would take "false" as true). */
const flag = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const t = v.trim().toLowerCase();
  return ['true', '1', 'yes'].includes(t) ? true : ['false', '0', 'no'].includes(t) ? false : v;
}, z.boolean({ invalid_type_error: 'must be true or false' }));

/**
 * Every setting of the agent, with its default. Passwords are deliberately absent: they come
 * only from DB_PASSWORD / KV_PASSWORD or from the host's secret store, never from a file or a flag.
 */
export const configSchema = z
  .object({
    log: z.object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') }).strict().default({}),
    /** What run and recover drive: the Quadlets host they run on, or a Kubernetes cluster. */
    target: z.enum(['quadlet', 'kubernetes']).default('quadlet'),
    db: z
      .object({
        host: nonEmpty.default('localhost'),
        port: port.default(5432),
        name: nonEmpty.default('flightctl'),
        user: nonEmpty.default('flightctl_app'),
        connectTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
      })
      .strict()
      .default({}),
    kv: z
      .object({
        host: nonEmpty.default('localhost'),
        port: port.default(6379),
        connectTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(10_000),
        /** Spare database the restore stages keys in while the services run (0: no staging). */
        stagingDb: z.coerce.number().int().min(0).max(15).default(1),
      })
      .strict()
      .default({}),
    restore: z
      .object({
        /** Parallel jobs of pg_restore for a custom-format dump. */
        jobs: z.coerce.number().int().min(1).max(64).default(4),
        /** Free space needed in the database's volume, as a multiple of the live database's size. */
        spaceFactor: z.coerce.number().min(0).max(1000).default(1.1),
        /** How long the swap waits for sessions on the live database to go. */
        swapTimeoutMs: z.coerce.number().int().min(1000).max(600_000).default(30_000),
        /** Keep the pre-restore database as <db>_old_<id> after a successful run. */
        keepOldDb: flag.default(false),
        /** Finished runs kept in the journal. */
        keepRuns: z.coerce.number().int().min(1).max(10_000).default(50),
        /** An archive with more entries, or more bytes in its files, is refused as unsafe. */
        archiveMaxEntries: z.coerce.number().int().min(10).max(10_000_000).default(200_000),
        archiveMaxBytes: z.coerce.number().int().min(1024).max(Number.MAX_SAFE_INTEGER).default(512 * 1024 ** 3),
        /** With an archive of an external database: how long the run waits for the operator to restore it. */
        databaseWaitTimeoutMs: z.coerce.number().int().min(1000).max(7 * 86_400_000).default(3_600_000),
      })
      .strict()
      .default({}),
    api: z
      .object({
        /** unix:PATH, https://HOST:PORT (with tlsCert/tlsKey) or http://127.0.0.1:PORT / http://[::1]:PORT. */
        listen: list.default(['unix:/run/flightctl-restore-agent/api.sock']),
        tlsCert: z.string().trim().default(''),
        tlsKey: z.string().trim().default(''),
        /** Where the keys that sign tokens come from: one of the three. */
        jwksFile: z.string().trim().default(''),
        jwksUrl: z.string().trim().default(''),
        jwtPublicKey: z.string().trim().default(''),
        /** Accepted token issuers (at least one when serving). */
        jwtIssuers: list.default([]),
        /** The audience tokens must name; empty: this host's name. */
        jwtAudience: z.string().trim().default(''),
        clockToleranceSec: z.coerce.number().int().min(0).max(300).default(30),
        /** Oldest token (by iat) accepted for a call that changes something. */
        maxTokenAgeSec: z.coerce.number().int().min(10).max(86_400).default(900),
        jwksTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(5000),
        jwksCacheMaxAgeMs: z.coerce.number().int().min(1000).max(86_400_000).default(600_000),
        /** Where a restore's dump is taken from (a file name inside it); empty: <stateDir>/imports. */
        importDir: z.string().trim().default(''),
        bodyLimitBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
        /** Calls that change something, per client and minute. */
        mutationsPerMinute: z.coerce.number().int().min(1).max(100_000).default(60),
      })
      .strict()
      .default({}),
    flightctl: z
      .object({
        /** Flight Control's API, for its version and for resuming devices through it. */
        apiUrl: z.string().trim().default(''),
        /** A file holding the bearer token for that API (never the token itself in the config). */
        tokenFile: z.string().trim().default(''),
        caFile: z.string().trim().default(''),
        timeoutMs: z.coerce.number().int().min(100).max(120_000).default(10_000),
        /** Flight Control's configuration on a Quadlets host: pki/, encryption/, service-config.yaml. */
        etcDir: nonEmpty.default('/etc/flightctl'),
      })
      .strict()
      .default({}),
    backup: z
      .object({
        /** Where archives go; empty: <stateDir>/backups. */
        outputDir: z.string().trim().default(''),
        /** After a successful backup, keep this many newest archives (0: all). */
        keep: z.coerce.number().int().min(0).max(10_000).default(0),
      })
      .strict()
      .default({}),
    host: z
      .object({
        /** D-Bus address of systemd's bus; empty means DBUS_SYSTEM_BUS_ADDRESS, else the system bus. */
        dbusAddress: z.string().trim().default(''),
        podmanSocket: nonEmpty.default('/run/podman/podman.sock'),
        /** Podman's storage root (graphroot): the file driver keeps secret values below it. */
        podmanRoot: nonEmpty.default('/var/lib/containers/storage'),
        /** Where publish drop-ins go: /run is cleared by a reboot and wins over /etc and /usr. */
        dropinDir: nonEmpty.default('/run/containers/systemd'),
        /** Quadlet search directories, highest precedence first (quadlet's own order). */
        quadletDirs: z
          .preprocess(
            (v) => (typeof v === 'string' ? v.split(':').filter(Boolean) : v),
            z.array(nonEmpty).min(1),
          )
          .default(['/run/containers/systemd', '/etc/containers/systemd', '/usr/share/containers/systemd']),
        stateDir: nonEmpty.default('/var/lib/flightctl-restore-agent'),
        endpointStrategy: z.enum(['container-ip', 'publish-dropin']).default('container-ip'),
        unitTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(120_000),
      })
      .strict()
      .default({}),
    kubernetes: z
      .object({
        /** A kubeconfig file; empty: the in-cluster service account in a Job, else KUBECONFIG or ~/.kube/config. */
        kubeconfig: z.string().trim().default(''),
        /** A context of that kubeconfig; empty: its current context. */
        context: z.string().trim().default(''),
        /** The namespace of flightctl-api, flightctl-alertmanager-proxy and flightctl-imagebuilder-api (the release's). */
        namespace: nonEmpty.default('flightctl'),
        /** The namespace of the worker, periodic, alert exporter, database and KV store; empty: namespace. */
        internalNamespace: z.string().trim().default(''),
        /** Where the run's journal (ConfigMaps) and lock (a Lease) live; empty: the internal namespace. */
        stateNamespace: z.string().trim().default(''),
        /** Secrets mounted into the Job as <dir>/<secret>/<key>; empty: read them through the API. */
        secretsDir: z.string().trim().default(''),
        /** Bound on the wait for a deployment's pods to go away, and to be ready again. */
        scaleTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(300_000),
        /** How often pods and deployments are looked at while waiting. */
        pollIntervalMs: z.coerce.number().int().min(10).max(60_000).default(1000),
        /** Bound on one call to the API server. */
        requestTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(30_000),
        /** The lock's lease: a holder that stops renewing it for this long holds nothing. */
        leaseDurationSec: z.coerce.number().int().min(1).max(3600).default(30),
      })
      .strict()
      .default({}),
    prepare: z
      .object({
        /** Keys per Redis pipeline round trip; large enough to hide latency, small enough to stream. */
        kvBatchSize: z.coerce.number().int().min(1).max(100_000).default(5000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
