import { z } from 'zod';

const port = z.coerce
  .number({ invalid_type_error: 'must be a TCP port number (1-65535)' })
  .int('must be a whole TCP port number (1-65535)')
  .min(1, 'must be a TCP port number (1-65535)')
  .max(65535, 'must be a TCP port number (1-65535)');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

/**
 * Every setting of the agent, with its default. Passwords are deliberately absent: they come
 * only from DB_PASSWORD / KV_PASSWORD or from the host's secret store, never from a file or a flag.
 */
export const configSchema = z
  .object({
    log: z.object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') }).strict().default({}),
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
