import type { PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import type { KvEndpoint } from '../../flightctl/datastores/kv.js';
import type { CommandContext } from './command-context.js';

export function dbEndpoint(ctx: CommandContext): PostgresEndpoint {
  return { ...ctx.config.db, database: ctx.config.db.name, password: ctx.secrets.dbPassword };
}

export function kvEndpoint(ctx: CommandContext): KvEndpoint {
  return { ...ctx.config.kv, password: ctx.secrets.kvPassword };
}
