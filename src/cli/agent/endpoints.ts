import type { Command } from 'commander';
import { withKv } from '../../flightctl/datastores/kv.js';
import { withPostgres } from '../../flightctl/datastores/postgres.js';
import { isRestoreError, type ErrorCode } from '../../lib/errors.js';
import type { Removed } from '../../targets/quadlet/dropins.js';
import { acquireEndpoints, removeLeftoverDropins, type Endpoint } from '../../targets/quadlet/endpoints.js';
import { withQuadletHost } from '../../targets/quadlet/host.js';
import { readPodmanSecret } from '../../targets/quadlet/podman-secrets.js';
import { action, locked, type CommandContext } from './command-context.js';
import { reportFailure } from '../common/errors.js';
import { withSignalsDeferred } from '../common/signals.js';

interface EndpointReport extends Endpoint {
  reachable: boolean;
  code?: ErrorCode;
  message?: string;
}

/**
 * Connects, retrying while the server is not listening yet: a unit is "active" as soon as its
 * container runs, and PostgreSQL needs a moment after a restart before it accepts connections.
 */
async function probe(ep: Endpoint, waitMs: number, check: () => Promise<void>): Promise<EndpointReport> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    try {
      await check();
      return { ...ep, reachable: true };
    } catch (err) {
      if (!isRestoreError(err)) throw err;
      const retry = err.code.endsWith('_UNREACHABLE') && performance.now() < deadline;
      if (!retry) return { ...ep, reachable: false, code: err.code, message: err.message };
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

export function registerEndpoints(program: Command): void {
  program
    .command('endpoints')
    .description(
      'Where the database and the KV store can be reached from this host now (connects to both with the Podman secrets; --strategy publish-dropin: 127.0.0.1, a free port, removed again)',
    )
    .action(
      action(async (ctx: CommandContext) => {
        const { host: settings, db: dbConfig } = ctx.config;
        const result = await locked(ctx, 'endpoints', () =>
          withSignalsDeferred('removing what was published', () =>
            withQuadletHost(settings, async (host) => {
              const leftovers = await removeLeftoverDropins(host);
              const lease = await acquireEndpoints(host, settings.endpointStrategy);
              let probed: { db: EndpointReport; kv: EndpointReport };
              let removed: Removed[] = [];
              try {
                const dbPassword = (await readPodmanSecret(host.podman, settings.podmanRoot, 'flightctl-postgresql-user-password')).value;
                const kvPassword = (await readPodmanSecret(host.podman, settings.podmanRoot, 'flightctl-kv-password')).value;
                const waitMs = Math.min(settings.unitTimeoutMs, 60_000);
                const db = await probe(lease.db, waitMs, () =>
                  withPostgres(
                    {
                      host: lease.db.host,
                      port: lease.db.port,
                      database: dbConfig.name,
                      user: dbConfig.user,
                      password: dbPassword,
                      connectTimeoutMs: dbConfig.connectTimeoutMs,
                    },
                    async (c) => {
                      await c.query('SELECT 1');
                    },
                  ),
                );
                const kv = await probe(lease.kv, waitMs, () =>
                  withKv({ host: lease.kv.host, port: lease.kv.port, password: kvPassword, connectTimeoutMs: ctx.config.kv.connectTimeoutMs }, async (r) => {
                    await r.ping();
                  }),
                );
                probed = { db, kv };
              } finally {
                // Always, also on failure: a published port never outlives the command.
                removed = await lease.release();
              }
              return { strategy: settings.endpointStrategy, ...probed, leftoversRemoved: leftovers, removed };
            }),
          ),
        );
        if (ctx.json) ctx.print(`${JSON.stringify(result)}\n`);
        else {
          for (const l of result.leftoversRemoved) ctx.print(`removed leftover drop-in ${l.path} (found via ${l.source})\n`);
          for (const e of [result.db, result.kv]) {
            ctx.print(
              `${e.name.padEnd(3)} ${e.unit.padEnd(22)} ${e.host}:${e.port}  ${e.reachable ? 'reachable' : `NOT reachable: ${e.code}`}${e.dropin ? `  (drop-in ${e.dropin}, removed again)` : ''}\n`,
            );
          }
        }
        const bad = [result.db, result.kv].filter((e) => !e.reachable);
        if (bad.length) {
          const code = bad[0]!.code ?? 'RESTORE_ERR_DB_UNREACHABLE';
          reportFailure(code, bad.map((e) => e.message).join('; '));
        }
      }),
    );
}
