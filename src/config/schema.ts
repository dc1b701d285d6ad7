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
