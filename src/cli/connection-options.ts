import type { Command } from 'commander';
import type { PostgresEndpoint } from '../flightctl/datastores/postgres.js';
import type { KvEndpoint } from '../flightctl/datastores/kv.js';
import type { CommandContext } from './command-runner.js';

/** The flags operators know from Flight Control's own restore tool (config keys db.*). */
export function dbOptions(cmd: Command): Command {
  return cmd
    .option('--db-host <host>', 'PostgreSQL host (default localhost)')
    .option('--db-port <port>', 'PostgreSQL port (default 5432)')
    .option('--db-name <name>', 'database name (default flightctl)')
    .option('--db-user <user>', 'database user (default flightctl_app)');
}

export function kvOptions(cmd: Command): Command {
  return cmd.option('--kv-host <host>', 'KV store (Redis) host (default localhost)').option('--kv-port <port>', 'KV store port (default 6379)');
}

export function dbEndpoint(ctx: CommandContext): PostgresEndpoint {
  return { ...ctx.config.db, database: ctx.config.db.name, password: ctx.secrets.dbPassword };
}

export function kvEndpoint(ctx: CommandContext): KvEndpoint {
  return { ...ctx.config.kv, password: ctx.secrets.kvPassword };
}
