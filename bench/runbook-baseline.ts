/**
 * The restore in the manual runbook's order (FLIGHTCTL.md §1), built from the project's own parts so
 * that only the order differs from the agent: stop the application units one at a time, publish
 * flightctl-db and flightctl-kv on 127.0.0.1 (drop-ins, daemon-reload, restart both), load the dump
 * into the live database, run the preparation through the published ports, remove the drop-ins
 * (restart both again), start the units one at a time. Everything that grows with the fleet is inside
 * the window. Like the runbook, it starts the units again even when a step failed.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { prepare } from '../src/flightctl/prepare/prepare.js';
import { createLogger } from '../src/lib/logger.js';
import { PodmanDatabaseShell } from '../src/targets/quadlet/db-shell.js';
import { publishPorts, removePublished, type DropinContext, type Published } from '../src/targets/quadlet/dropins.js';
import { PodmanClient } from '../src/targets/quadlet/podman.js';
import { StateFile } from '../src/targets/quadlet/state-file.js';
import { SystemdClient } from '../src/targets/quadlet/systemd.js';
import { DB_UNIT, KV_UNIT } from '../src/targets/quadlet/units.js';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';

export const BASELINE_PHASES = ['stop', 'publish', 'load', 'prepare', 'unpublish', 'start'] as const;
export type BaselinePhase = (typeof BASELINE_PHASES)[number];

export interface BaselineResult {
  phasesMs: Record<BaselinePhase, number>;
  devicesUpdated: number;
  kvKeysWritten: number;
  prepareSqlMs: number;
  prepareKvMs: number;
}

export interface BaselineOptions {
  dump: { path: string; size: number };
  /** Application units, in the runbook's order. */
  units: readonly string[];
  /** Where publishPorts records its drop-ins (the bench's own state directory). */
  stateDir: string;
  unitTimeoutMs: number;
  kvBatchSize: number;
  /** Bound on the whole restore: the load and the preparation stop there (unit jobs have their own). */
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * After the restart the containers run but their servers may not answer yet (run-postgresql.sh
 * opens TCP only once its roles are set): an operator waits for them, and so does this, bounded.
 */
async function waitReachable(db: pg.ClientConfig, kv: { host: string; port: number; password: string }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let ready = { db: false, kv: false }; !(ready.db && ready.kv); await sleep(50)) {
    if (Date.now() > deadline) throw new Error(`flightctl-db/flightctl-kv did not answer on 127.0.0.1 within ${timeoutMs} ms after the restart`);
    if (!ready.db) {
      const c = new pg.Client({ ...db, connectionTimeoutMillis: 2000 });
      c.on('error', () => undefined);
      ready.db = await c.connect().then(
        () => true,
        () => false,
      );
      await c.end().catch(() => undefined);
    }
    if (!ready.kv) {
      const r = new Redis({ ...kv, lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      ready.kv = await r
        .connect()
        .then(() => r.ping())
        .then(
          () => true,
          () => false,
        );
      r.disconnect();
    }
  }
}

async function job(systemd: SystemdClient, method: 'StopUnit' | 'StartUnit', unit: string, timeoutMs: number): Promise<void> {
  const o = await systemd.runJob(method, unit, timeoutMs);
  if (!o.ok) throw new Error(`${method} ${unit}: ${o.result}, now ${o.activeState}/${o.subState}`);
}

export async function runRunbookBaseline(sb: Sandbox, opts: BaselineOptions): Promise<BaselineResult> {
  const systemd = await SystemdClient.connect({ address: sb.busAddress });
  // `systemctl start` returns when the job is done; runJob's extra settle pause after each start
  // would add half a second between units that the runbook does not have.
  systemd.settleMs = 0;
  const ctx: DropinContext = { systemd, state: new StateFile(opts.stateDir), dropinDir: sb.dropinDir, timeoutMs: opts.unitTimeoutMs };
  const shell = new PodmanDatabaseShell(new PodmanClient(sb.podmanSocket));
  const phasesMs = {} as Record<BaselinePhase, number>;
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const timed = async <T>(phase: BaselinePhase, fn: () => Promise<T>): Promise<T> => {
    if (signal.aborted) throw new Error(`the runbook restore did not finish within ${opts.timeoutMs} ms`);
    const t = performance.now();
    const out = await fn();
    phasesMs[phase] = performance.now() - t;
    return out;
  };
  const stopped: string[] = [];
  let published: Published[] | undefined;
  // From the first drop-in written until they are removed again (publishPorts records each one first).
  let dropinsOut = false;
  try {
    await timed('stop', async () => {
      for (const unit of opts.units) {
        stopped.push(unit);
        await job(systemd, 'StopUnit', unit, opts.unitTimeoutMs);
      }
    });
    const secrets = { db: sb.secrets['flightctl-postgresql-user-password']!.trim(), kv: sb.secrets['flightctl-kv-password']!.trim() };
    published = await timed('publish', async () => {
      const requests = [];
      for (const [unit, containerPort] of [
        [DB_UNIT, 5432],
        [KV_UNIT, 6379],
      ] as const) {
        requests.push({ unit, sourcePath: (await systemd.status(unit)).sourcePath, containerPort });
      }
      // publishPorts binds 127.0.0.1 and a free port only: never a public interface.
      dropinsOut = true;
      const p = await publishPorts(ctx, requests);
      const notMerged = p.filter((x) => !x.inEffect);
      if (notMerged.length) throw new Error(`quadlet did not merge the publish drop-in of ${notMerged.map((x) => x.unit).join(', ')}`);
      const port = (unit: string) => p.find((x) => x.unit === unit)!.hostPort;
      await waitReachable(
        { host: '127.0.0.1', port: port(DB_UNIT), user: 'flightctl_app', password: secrets.db, database: 'postgres' },
        { host: '127.0.0.1', port: port(KV_UNIT), password: secrets.kv },
        60_000,
      );
      return p;
    });
    const port = (unit: string) => published!.find((x) => x.unit === unit)!.hostPort;
    await timed('load', async () => {
      // The runbook restores flightctl in place: the live database is dropped and made again
      // for its owner, then the dump is fed to psql in the container (as the agent's load does).
      await shell.sql('DROP DATABASE IF EXISTS flightctl WITH (FORCE);\nCREATE DATABASE flightctl OWNER flightctl_app;\n');
      await shell.load(
        'flightctl',
        { path: opts.dump.path, format: 'plain', size: opts.dump.size },
        {
          jobs: 1,
          signal,
          onBytes: () => undefined,
          recordContainerFile: async () => undefined,
        },
      );
    });
    const prepared = await timed('prepare', () =>
      prepare({
        db: { host: '127.0.0.1', port: port(DB_UNIT), database: 'flightctl', user: 'flightctl_app', password: secrets.db },
        kv: { host: '127.0.0.1', port: port(KV_UNIT), password: secrets.kv },
        check: false,
        parts: { sql: true, kv: true },
        kvBatchSize: opts.kvBatchSize,
        logger: createLogger('error'),
        signal,
      }),
    );
    await timed('unpublish', async () => {
      await removePublished(
        ctx,
        published!.map((x) => x.path),
      );
      dropinsOut = false;
    });
    await timed('start', async () => {
      for (const unit of opts.units) {
        await job(systemd, 'StartUnit', unit, opts.unitTimeoutMs);
        stopped.splice(stopped.indexOf(unit), 1);
      }
    });
    return {
      phasesMs,
      devicesUpdated: prepared.devicesUpdated,
      kvKeysWritten: prepared.kvKeysWritten,
      prepareSqlMs: prepared.timings.sqlMs,
      prepareKvMs: prepared.timings.kvMs,
    };
  } finally {
    // A failed step: the drop-ins go and the units come back, as the runbook's last steps demand.
    if (dropinsOut) await removePublished(ctx).catch(() => undefined);
    for (const unit of stopped) await systemd.runJob('StartUnit', unit, opts.unitTimeoutMs).catch(() => undefined);
    systemd.close();
  }
}
