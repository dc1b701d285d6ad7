/**
 * The restore scenario on a sandbox Quadlets host, shared by the engine's tests, the README demo
 * and the benchmark: connect to flightctl-db / flightctl-kv, seed a realistic Flight Control
 * database, take a backup the way Flight Control's own tooling does (pg_dump inside the database
 * container), change things afterwards that a restore must undo, and describe a database compactly
 * so "restored == backed up" is one comparison.
 */
import { createReadStream, createWriteStream, fchmodSync, openSync, statSync, unlinkSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pg from 'pg';
import { execStream, type StreamExecResult } from '../../src/targets/quadlet/exec-stream.js';
import { PodmanClient } from '../../src/targets/quadlet/podman.js';
import { flightctlSchemaSql } from './flightctl-schema.js';
import type { Sandbox } from './quadlet-host/sandbox.js';

export const DB_CONTAINER = 'flightctl-db';
export const KV_CONTAINER = 'flightctl-kv';

export const SCENARIO_ORGS = [
  { id: '00000000-0000-0000-0000-000000000000', name: 'Default' },
  { id: '7c9e6679-7425-40de-944b-e07fc1f90ae7', name: 'acme-retail' },
  { id: 'a3bb189e-8bf9-3888-9912-ace4e6543002', name: 'acme-industrial' },
] as const;
export const SCENARIO_FLEETS = ['edge-gateways', 'kiosks', 'cameras'] as const;
export const SUMMARY_STATUSES = ['Online', 'Degraded', 'Error', 'Rebooting', 'PoweredOff', 'Unknown', 'ConflictPaused', 'AwaitingReconnect'] as const;
/** The organization mutateAfterDump adds: it must not exist after a restore. */
export const AFTER_DUMP_ORG = 'd2f0c1a4-5b6e-4c7d-8e9f-0a1b2c3d4e5f';
const AWAITING_INFO = 'Device has not reconnected since restore to confirm its current state.';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The container's address on network flightctl, asked again each time: it changes on every unit restart. */
export async function containerIp(sb: Sandbox, container: string): Promise<string> {
  const info = await new PodmanClient(sb.podmanSocket).requireRunning(container);
  if (!info.ip) throw new Error(`${container} has no address on network flightctl`);
  return info.ip;
}

/** Errors that waiting cannot fix: wrong credentials, no such database. */
const PERMANENT_PG = new Set(['28P01', '28000', '3D000']);

/**
 * A pg.Client as flightctl_app on flightctl-db, retried for up to timeoutMs while the container
 * (re)starts: its address may not exist yet, and run-postgresql.sh only opens TCP once the roles
 * and passwords are in place.
 */
export async function connectSandboxDb(sb: Sandbox, database = 'flightctl', timeoutMs = 20_000): Promise<pg.Client> {
  const password = sb.secrets['flightctl-postgresql-user-password']!.trim();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let client: pg.Client | undefined;
    try {
      const host = await containerIp(sb, DB_CONTAINER);
      client = new pg.Client({ host, port: 5432, user: 'flightctl_app', password, database, connectionTimeoutMillis: 3000 });
      // A server restart while the client is idle emits 'error'; the next query fails anyway,
      // so the event must not become an uncaught exception that ends the test run.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    } catch (err) {
      await client?.end().catch(() => undefined);
      const code = (err as { code?: string }).code ?? '';
      if (PERMANENT_PG.has(code) || Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** An ioredis client on flightctl-kv with its requirepass secret; same waiting as connectSandboxDb. */
export async function connectSandboxKv(sb: Sandbox, timeoutMs = 20_000): Promise<Redis> {
  const password = sb.secrets['flightctl-kv-password']!.trim();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let kv: Redis | undefined;
    try {
      const host = await containerIp(sb, KV_CONTAINER);
      kv = new Redis({ host, port: 6379, password, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 1, retryStrategy: () => null });
      kv.on('error', () => undefined); // reported by the rejected command instead
      await kv.connect();
      await kv.ping();
      return kv;
    } catch (err) {
      kv?.disconnect();
      if (/WRONGPASS|NOAUTH/.test(String(err)) || Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}

/** The sandbox's KV store emptied, then holding exactly these keys (as Flight Control left them). */
export async function setSandboxKv(sb: Sandbox, keys: Iterable<string>): Promise<void> {
  const kv = await connectSandboxKv(sb);
  try {
    await kv.flushall();
    for (const k of keys) await kv.set(k, 'true');
  } finally {
    kv.disconnect();
  }
}

/** Streams a command's stdin and stdout through the sandbox's Podman API (the agent's own execStream). */
export function execStreaming(
  sb: Sandbox,
  container: string,
  cmd: string[],
  io: { stdin?: Readable; stdout?: Writable; user?: string; timeoutMs?: number } = {},
): Promise<StreamExecResult> {
  return execStream(new PodmanClient(sb.podmanSocket), container, cmd, { ...io, user: io.user ?? 'postgres', timeoutMs: io.timeoutMs ?? 600_000 });
}

/** SQL as the postgres superuser inside flightctl-db, for test set-up and assertions; returns stdout. */
export async function adminSql(sb: Sandbox, sql: string, database = 'postgres'): Promise<string> {
  const r = await new PodmanClient(sb.podmanSocket).exec(DB_CONTAINER, {
    cmd: ['psql', '-U', 'postgres', '-d', database, '-qAtX', '-v', 'ON_ERROR_STOP=1'],
    user: 'postgres',
    stdin: sql.endsWith('\n') ? sql : `${sql}\n`,
  });
  if (r.exitCode !== 0) throw new Error(`psql in ${DB_CONTAINER} exited ${r.exitCode}: ${r.stderr.trim()}`);
  return r.stdout;
}

export type DumpFormat = 'plain' | 'custom';

export interface DumpResult {
  file: string;
  bytes: number;
  ms: number;
}

/**
 * pg_dump inside flightctl-db as postgres, streamed into a host file (mode 0600: it holds every
 * device credential the database has). Plain is what flightctl-backup writes; custom is pg_dump -Fc.
 * A failed dump leaves no file behind, so nobody restores a truncated one.
 */
export async function takeDump(sb: Sandbox, opts: { format: DumpFormat; file: string; database?: string }): Promise<DumpResult> {
  const db = opts.database ?? 'flightctl';
  const cmd = opts.format === 'plain' ? ['pg_dump', '--clean', '--if-exists', '-U', 'postgres', '-d', db] : ['pg_dump', '-Fc', '-U', 'postgres', '-d', db];
  const fd = openSync(opts.file, 'w', 0o600);
  fchmodSync(fd, 0o600); // an existing file keeps its mode on open
  const out = createWriteStream('', { fd });
  const start = performance.now();
  let r: StreamExecResult;
  try {
    r = await execStreaming(sb, DB_CONTAINER, cmd, { stdout: out });
  } catch (err) {
    out.destroy();
    unlinkSync(opts.file);
    throw new Error(`pg_dump (${opts.format}) failed: ${(err as Error).message}`);
  }
  if (r.exitCode !== 0) {
    out.destroy();
    unlinkSync(opts.file);
    throw new Error(`pg_dump (${opts.format}) exited ${r.exitCode}: ${r.stderr.trim()}`);
  }
  return { file: opts.file, bytes: statSync(opts.file).size, ms: Math.round(performance.now() - start) };
}

/**
 * Loads a dump into an existing database inside flightctl-db, streamed from the host file: plain
 * through psql (stopping at the first error), custom through pg_restore reading stdin.
 */
export async function loadDump(sb: Sandbox, opts: { format: DumpFormat; file: string; database: string }): Promise<void> {
  const cmd =
    opts.format === 'plain'
      ? ['psql', '-U', 'postgres', '-d', opts.database, '-qAtX', '-v', 'ON_ERROR_STOP=1']
      : ['pg_restore', '-U', 'postgres', '-d', opts.database, '--exit-on-error'];
  statSync(opts.file); // a missing file fails here, before anything runs in the container
  const r = await execStreaming(sb, DB_CONTAINER, cmd, { stdin: createReadStream(opts.file) });
  if (r.exitCode !== 0) throw new Error(`${cmd[0]} into ${opts.database} exited ${r.exitCode}: ${r.stderr.trim()}`);
}

export interface ScenarioSummary {
  organizations: string[];
  fleets: number;
  /** Every device row, soft-deleted ones included. */
  devices: number;
  deletedDevices: number;
  /** Non-deleted devices by status.summary.status (same as deviceSummary). */
  byStatus: Record<string, number>;
  byLifecycle: Record<string, number>;
  enrollmentRequests: { approved: number; pending: number; deleted: number };
  events: number;
}

/**
 * Flight Control's fixture schema (replacing whatever is in the public schema) and a realistic
 * fleet, all generated server-side so a million devices take seconds. Deterministic apart from
 * timestamps, which are relative to now(). Device i:
 *  - organization: 60 % Default, 30 % acme-retail, 10 % acme-industrial; a fleet (owner
 *    Fleet/<name>, label fleet) for 19 of 20, the rest unowned; labels region and env too;
 *  - status.summary: devices 1-8 take one value each (so does every VARIANTS-th device after
 *    them), the others ~70 % Online, 10 % Degraded, 5 % Error,
 *    3 % Rebooting, 4 % PoweredOff, 3 % Unknown, 2 % ConflictPaused, 3 % AwaitingReconnect (with
 *    the annotations Flight Control sets for the last two, and last_seen NULL for AwaitingReconnect
 *    as an earlier restore leaves it; every other device has a last_seen);
 *  - lifecycle: Decommissioned 1 in 50, Decommissioning 1 in 50, else Enrolled; deleted_at 1 in 97.
 * Enrollment requests: approved ones named like every tenth device, pending ones (never looked at,
 * or denied), a few deleted. Events for the first devices.
 */
export async function seedScenario(db: pg.Client, opts: { devices: number }): Promise<ScenarioSummary> {
  const n = Math.max(0, Math.floor(opts.devices));
  const orgs = SCENARIO_ORGS.map((o) => o.id);
  await db.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
  await db.query(flightctlSchemaSql('current'));
  await db.query('BEGIN');
  try {
    await db.query(
      `INSERT INTO organizations (id, display_name, external_id) SELECT id, name, 'ext-' || name FROM unnest($1::uuid[], $2::text[]) AS o(id, name)
       ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, external_id = EXCLUDED.external_id`,
      [orgs, SCENARIO_ORGS.map((o) => o.name)],
    );
    await db.query(
      `INSERT INTO fleets (org_id, name, labels, annotations, generation, resource_version, spec, status)
       SELECT o, f, jsonb_build_object('env', CASE WHEN f = 'kiosks' THEN 'staging' ELSE 'prod' END),
              jsonb_build_object('fleet-controller/templateVersion', 'v' || k), k, k * 3,
              jsonb_build_object('selector', jsonb_build_object('matchLabels', jsonb_build_object('fleet', f)),
                'template', jsonb_build_object('metadata', jsonb_build_object('labels', jsonb_build_object('fleet', f)),
                  'spec', jsonb_build_object('os', jsonb_build_object('image', 'quay.io/acme/' || f || ':v' || k)))),
              jsonb_build_object('conditions', jsonb_build_array(jsonb_build_object('type', 'Valid', 'status', 'True')),
                'devicesSummary', jsonb_build_object('total', 0))
         FROM unnest($1::uuid[]) AS o(o), unnest($2::text[]) WITH ORDINALITY AS f(f, k)`,
      [orgs, SCENARIO_FLEETS],
    );
    await bulkLoad(db, ['devices', 'device_timestamps', 'device_labels', 'enrollment_requests'], async () => {
      await insertDevices(db, n, orgs);
      await insertEnrollmentRequests(db, n, orgs);
    });
    await db.query(
      `INSERT INTO events (org_id, name, reason, source_component, actor, type, message, involved_object_name, involved_object_kind, details, created_at, updated_at)
       SELECT d.org_id, md5('event-' || d.name)::uuid::text, r.reason, 'flightctl-api', 'user:admin', r.type, r.reason || ' for ' || d.name,
              d.name, 'Device', jsonb_build_object('detailType', r.reason), d.updated_at, d.updated_at
         FROM (SELECT org_id, name, updated_at, row_number() OVER (ORDER BY name) AS k FROM devices ORDER BY name LIMIT 12 + $1::int / 2000) d
         JOIN (VALUES (0, 'ResourceCreated', 'Normal'), (1, 'DeviceDisconnected', 'Warning'), (2, 'DeviceConnected', 'Normal'),
                      (3, 'DeviceApplicationError', 'Warning')) AS r(k, reason, type) ON r.k = d.k % 4`,
      [n],
    );
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  await db.query('ANALYZE');
  return summarize(db);
}

/**
 * Loads `tables` the way pg_restore does: their keys, indexes and foreign keys (also those that
 * point at them) and the fixture's row triggers are set aside, the data goes in, then everything
 * is rebuilt from its own definition, so the schema ends exactly as it was. Only in the caller's
 * transaction, so nobody sees the gap. The triggers' work (device_timestamps, device_labels) is
 * the loader's to do, set-based.
 */
async function bulkLoad(db: pg.Client, tables: string[], load: () => Promise<void>): Promise<void> {
  const { rows: constraints } = await db.query<{ tbl: string; name: string; def: string; fk: boolean }>(
    `SELECT conrelid::regclass::text AS tbl, quote_ident(conname) AS name, pg_get_constraintdef(oid) AS def, contype = 'f' AS fk
       FROM pg_constraint
      WHERE connamespace = current_schema()::regnamespace AND contype IN ('p', 'u', 'f')
        AND (conrelid::regclass::text = ANY ($1) OR (contype = 'f' AND confrelid::regclass::text = ANY ($1)))`,
    [tables],
  );
  const { rows: indexes } = await db.query<{ name: string; def: string }>(
    `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
      WHERE i.indrelid::regclass::text = ANY ($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    [tables],
  );
  const fks = constraints.filter((c) => c.fk);
  const keys = constraints.filter((c) => !c.fk);
  for (const c of [...fks, ...keys]) await db.query(`ALTER TABLE ${c.tbl} DROP CONSTRAINT ${c.name}`);
  for (const ix of indexes) await db.query(`DROP INDEX ${ix.name}`);
  for (const t of tables) await db.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
  await load();
  for (const t of tables) await db.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
  await db.query("SET LOCAL maintenance_work_mem = '512MB'");
  for (const c of keys) await db.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT ${c.name} ${c.def}`);
  for (const ix of indexes) await db.query(ix.def);
  for (const c of fks) await db.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT ${c.name} ${c.def}`);
}

/**
 * Everything about a device except its name, alias, deletion and last_seen repeats every VARIANTS
 * devices; those shared parts are built once (a few thousand rows) and joined in, so a million
 * devices cost a hash join, not a million rounds of JSON building. No per-device unique value
 * (a bootID, say) goes into status: the GIN index on status would take twice as long to build.
 */
const VARIANTS = 8400;

async function insertDevices(db: pg.Client, n: number, orgs: string[]): Promise<void> {
  await db.query(
    `CREATE TEMP TABLE device_variants ON COMMIT DROP AS
     SELECT j, org, st, CASE WHEN fleet IS NOT NULL THEN 'Fleet/' || fleet END AS owner, rv, created,
            jsonb_strip_nulls(jsonb_build_object('region', region, 'env', env, 'fleet', fleet)) AS labels,
            jsonb_build_object('device-controller/renderedVersion', rv::text)
              || CASE st WHEN 'ConflictPaused' THEN '{"device-controller/conflictPaused": "true"}'::jsonb
                         WHEN 'AwaitingReconnect' THEN '{"device-controller/awaitingReconnect": "true"}'::jsonb ELSE '{}'::jsonb END AS annotations,
            jsonb_build_object('os', jsonb_build_object('image', image),
              'config', jsonb_build_array(jsonb_build_object('name', 'motd', 'inline', jsonb_build_array(
                jsonb_build_object('path', '/etc/motd', 'content', 'managed by flightctl'))))) AS spec,
            jsonb_build_object(
              'summary', jsonb_build_object('status', st, 'info', CASE st WHEN 'AwaitingReconnect' THEN $2 WHEN 'Online' THEN '' ELSE 'Device reports ' || st END),
              'updated', jsonb_build_object('status', CASE WHEN st IN ('Unknown', 'AwaitingReconnect') THEN 'Unknown' WHEN st = 'ConflictPaused' THEN 'OutOfDate'
                                                         WHEN j % 20 = 0 THEN 'OutOfDate' WHEN j % 20 = 1 THEN 'Updating' ELSE 'UpToDate' END),
              'lifecycle', jsonb_build_object('status', CASE j % 50 WHEN 0 THEN 'Decommissioned' WHEN 25 THEN 'Decommissioning' ELSE 'Enrolled' END),
              'applicationsSummary', jsonb_build_object('status', CASE WHEN st IN ('Error', 'Degraded') THEN st
                                                         WHEN st IN ('Unknown', 'AwaitingReconnect', 'PoweredOff') THEN 'Unknown' ELSE 'Healthy' END),
              'config', jsonb_build_object('renderedVersion', rv::text),
              'os', jsonb_build_object('image', image, 'imageDigest', 'sha256:' || md5(image) || md5(image)),
              'resources', jsonb_build_object('cpu', 'Healthy', 'memory', CASE WHEN j % 35 = 0 THEN 'Warning' ELSE 'Healthy' END, 'disk', 'Healthy'),
              'systemInfo', jsonb_build_object('architecture', CASE WHEN j % 3 = 0 THEN 'arm64' ELSE 'amd64' END,
                                               'operatingSystem', 'linux', 'agentVersion', 'v0.' || (8 + j % 4) || '.0')) AS status
       FROM (SELECT j, ($1::uuid[])[CASE WHEN j % 10 < 6 THEN 1 WHEN j % 10 < 9 THEN 2 ELSE 3 END] AS org,
                    CASE WHEN j % 20 <> 0 THEN ($3::text[])[1 + j % 3] END AS fleet,
                    (ARRAY['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south'])[1 + j % 5] AS region,
                    (ARRAY['prod', 'prod', 'prod', 'staging', 'dev'])[1 + (j / 5) % 5] AS env,
                    1 + j % 7 AS rv, 'quay.io/acme/os:9.' || (j % 4) AS image,
                    now() - interval '1 hour' * (100 + j % 2000) AS created,
                    CASE WHEN j BETWEEN 1 AND 8 THEN ($4::text[])[j] ELSE
                      CASE WHEN (j * 37) % 100 < 70 THEN 'Online' WHEN (j * 37) % 100 < 80 THEN 'Degraded' WHEN (j * 37) % 100 < 85 THEN 'Error'
                           WHEN (j * 37) % 100 < 88 THEN 'Rebooting' WHEN (j * 37) % 100 < 92 THEN 'PoweredOff' WHEN (j * 37) % 100 < 95 THEN 'Unknown'
                           WHEN (j * 37) % 100 < 97 THEN 'ConflictPaused' ELSE 'AwaitingReconnect' END END AS st
               FROM generate_series(0, ${VARIANTS - 1}) AS j) g`,
    [orgs, AWAITING_INFO, SCENARIO_FLEETS, SUMMARY_STATUSES],
  );
  await db.query(
    `INSERT INTO devices (org_id, name, owner, alias, labels, annotations, generation, resource_version, created_at, updated_at,
                          deleted_at, spec, status, render_timestamp)
     SELECT v.org, 'device-' || lpad(i::text, 8, '0'), v.owner, CASE WHEN i % 4 <> 0 THEN 'alias-' || i END, v.labels, v.annotations,
            v.rv, v.rv + v.j % 5, v.created, v.created + interval '1 hour' * (v.j % 48), CASE WHEN i % 97 = 0 THEN now() - interval '1 day' END,
            v.spec, v.status, v.created + interval '1 hour' * (v.j % 48)
       FROM generate_series(1, $1::int) AS i JOIN device_variants v ON v.j = i % ${VARIANTS}`,
    [n],
  );
  // What the fixture's device_after_insert and device_labels triggers would have written.
  await db.query(
    `INSERT INTO device_timestamps (org_id, name, last_seen)
     SELECT org_id, name, CASE status->'summary'->>'status' WHEN 'AwaitingReconnect' THEN NULL
                               WHEN 'Online' THEN now() - interval '1 second' * (hashtext(name) & 63)
                               WHEN 'PoweredOff' THEN now() - interval '1 hour' * (1 + (hashtext(name) & 31))
                               ELSE now() - interval '1 minute' * (1 + (hashtext(name) & 63)) END
       FROM devices`,
  );
  await db.query(
    `INSERT INTO device_labels (org_id, device_name, label_key, label_value)
     SELECT d.org_id, d.name, l.key, l.value FROM devices d, jsonb_each_text(COALESCE(d.labels, '{}'::jsonb)) AS l`,
  );
}

/** Approved requests named like every tenth device (enrollment creates both under one name), pending ones (never looked at, or denied), a few deleted. */
async function insertEnrollmentRequests(db: pg.Client, n: number, orgs: string[]): Promise<void> {
  await db.query(
    `INSERT INTO enrollment_requests (org_id, name, labels, generation, resource_version, created_at, updated_at, spec, status)
     SELECT org_id, name, labels, 1, 3, created_at - interval '5 minutes', created_at,
            jsonb_build_object('csr', '-----BEGIN CERTIFICATE REQUEST-----\n' || md5(name) || '\n-----END CERTIFICATE REQUEST-----', 'labels', labels),
            jsonb_build_object('approval', jsonb_build_object('approved', true, 'approvedBy', 'admin', 'approvedAt', created_at, 'labels', labels),
              'certificate', '-----BEGIN CERTIFICATE-----\n' || md5('cert-' || name) || '\n-----END CERTIFICATE-----',
              'conditions', jsonb_build_array(jsonb_build_object('type', 'Approved', 'status', 'True', 'reason', 'ManuallyApproved')))
       FROM devices WHERE name LIKE '%1'`,
  );
  await db.query(
    `INSERT INTO enrollment_requests (org_id, name, labels, generation, resource_version, created_at, updated_at, deleted_at, spec, status)
     SELECT ($2::uuid[])[1 + k % 3], 'pending-' || md5('pending-' || k), '{"env": "prod"}'::jsonb, 1, 1 + k % 2,
            now() - interval '1 minute' * k, now() - interval '1 minute' * k,
            CASE WHEN k > p THEN now() - interval '10 minutes' END,
            jsonb_build_object('csr', '-----BEGIN CERTIFICATE REQUEST-----\n' || md5('csr-' || k) || '\n-----END CERTIFICATE REQUEST-----'),
            CASE k % 3 WHEN 0 THEN NULL
                       WHEN 1 THEN '{"conditions": [{"type": "Approved", "status": "False", "reason": "PendingApproval"}]}'::jsonb
                       ELSE '{"approval": {"approved": false, "approvedBy": "admin"}, "conditions": [{"type": "Denied", "status": "True"}]}'::jsonb END
       FROM (SELECT greatest(6, $1::int / 1000) AS p) AS c, generate_series(1, greatest(6, $1::int / 1000) + greatest(2, $1::int / 10000)) AS k`,
    [n, orgs],
  );
}

async function countBy(db: pg.Client, sql: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ k: string; n: string }>(sql);
  return Object.fromEntries(rows.map((r) => [r.k, Number(r.n)]));
}

async function summarize(db: pg.Client): Promise<ScenarioSummary> {
  const one = async (sql: string) => Number((await db.query<{ n: string }>(sql)).rows[0]!.n);
  return {
    organizations: (await db.query<{ id: string }>('SELECT id FROM organizations ORDER BY id')).rows.map((r) => r.id),
    fleets: await one('SELECT count(*) AS n FROM fleets'),
    devices: await one('SELECT count(*) AS n FROM devices'),
    deletedDevices: await one('SELECT count(*) AS n FROM devices WHERE deleted_at IS NOT NULL'),
    byStatus: await deviceSummary(db),
    byLifecycle: await countBy(db, `SELECT status->'lifecycle'->>'status' AS k, count(*) AS n FROM devices WHERE deleted_at IS NULL GROUP BY 1`),
    enrollmentRequests: {
      approved: await one(`SELECT count(*) AS n FROM enrollment_requests WHERE deleted_at IS NULL AND status->'approval'->>'approved' = 'true'`),
      pending: await one(
        `SELECT count(*) AS n FROM enrollment_requests WHERE deleted_at IS NULL AND (status->'approval'->>'approved') IS DISTINCT FROM 'true'`,
      ),
      deleted: await one('SELECT count(*) AS n FROM enrollment_requests WHERE deleted_at IS NOT NULL'),
    },
    events: await one('SELECT count(*) AS n FROM events'),
  };
}

/** Non-deleted devices by status.summary.status ("Unknown" when absent, as the agent's devices summary counts). */
export function deviceSummary(db: pg.Client): Promise<Record<string, number>> {
  return countBy(db, `SELECT COALESCE(status->'summary'->>'status', 'Unknown') AS k, count(*) AS n FROM devices WHERE deleted_at IS NULL GROUP BY 1`);
}

export interface DeviceRef {
  org: string;
  name: string;
}

export interface AfterDumpChanges {
  addedOrganization: string;
  addedDevices: DeviceRef[];
  softDeleted: DeviceRef[];
  hardDeleted: DeviceRef[];
  /** Devices whose status.summary.status changed (from what the dump has to `to`). */
  statusChanged: (DeviceRef & { from: string; to: string })[];
  approvedEnrollmentRequests: DeviceRef[];
  addedEnrollmentRequests: DeviceRef[];
  addedEvents: number;
  /** Keys written to the KV store; none of them may survive a restore's preparation. */
  kvKeys: string[];
}

/**
 * What an operator's Flight Control does between the backup and the restore, and a restore must
 * undo: devices enrolled since (after-dump-*, also in a new organization), devices soft- and
 * hard-deleted, statuses that moved on, a pending enrollment request approved and a new one, an
 * event, and KV keys: an awaiting-reconnect key for a device the backup does not have, plus an
 * unrelated key. Picks the first non-deleted devices by name after the eight that carry one status
 * each, so repeated runs on the same seed agree and every status stays represented.
 */
export async function mutateAfterDump(db: pg.Client, kv: Redis): Promise<AfterDumpChanges> {
  const def = SCENARIO_ORGS[0].id;
  const ref = (r: { org_id: string; name: string }): DeviceRef => ({ org: r.org_id, name: r.name });
  await db.query('BEGIN');
  try {
    await db.query(`INSERT INTO organizations (id, display_name, external_id) VALUES ($1, 'after-dump', 'ext-after-dump')`, [AFTER_DUMP_ORG]);
    const added = await db.query<{ org_id: string; name: string }>(
      `INSERT INTO devices (org_id, name, owner, labels, annotations, generation, resource_version, spec, status)
       SELECT CASE WHEN k % 2 = 0 THEN $1::uuid ELSE $2::uuid END, 'after-dump-' || k, 'Fleet/edge-gateways',
              '{"region": "eu-west", "env": "prod", "fleet": "edge-gateways"}'::jsonb, '{"device-controller/renderedVersion": "1"}'::jsonb, 1, 1,
              '{"os": {"image": "quay.io/acme/os:9.9"}}'::jsonb,
              '{"summary": {"status": "Online", "info": ""}, "updated": {"status": "UpToDate"}, "lifecycle": {"status": "Enrolled"}}'::jsonb
         FROM generate_series(1, 12) AS k RETURNING org_id, name`,
      [def, AFTER_DUMP_ORG],
    );
    await db.query(`UPDATE device_timestamps SET last_seen = now() WHERE name LIKE 'after-dump-%'`);
    const picked = (
      await db.query<{ org_id: string; name: string; s: string | null }>(
        `SELECT org_id, name, status->'summary'->>'status' AS s FROM devices
          WHERE deleted_at IS NULL AND name LIKE 'device-%' AND name > 'device-00000008' ORDER BY name LIMIT 32`,
      )
    ).rows;
    const hard = picked.slice(0, 4);
    const soft = picked.slice(4, 10);
    const changed = picked.slice(10, 32);
    for (const d of hard) {
      await db.query('DELETE FROM device_labels WHERE org_id = $1 AND device_name = $2', [d.org_id, d.name]);
      await db.query('DELETE FROM devices WHERE org_id = $1 AND name = $2', [d.org_id, d.name]); // device_timestamps cascades
    }
    for (const d of soft) {
      await db.query('UPDATE devices SET deleted_at = now(), resource_version = resource_version + 1 WHERE org_id = $1 AND name = $2', [d.org_id, d.name]);
    }
    const statusChanged = changed.map((d) => ({ ...ref(d), from: d.s ?? 'Unknown', to: d.s === 'Error' ? 'Online' : 'Error' }));
    for (const c of statusChanged) {
      await db.query(
        `UPDATE devices SET status = jsonb_set(status, '{summary}', jsonb_build_object('status', $3::text, 'info', 'changed after the backup')),
                resource_version = resource_version + 1, updated_at = now()
          WHERE org_id = $1 AND name = $2`,
        [c.org, c.name, c.to],
      );
    }
    const approved = await db.query<{ org_id: string; name: string }>(
      `UPDATE enrollment_requests SET status = '{"approval": {"approved": true, "approvedBy": "after-dump"}}'::jsonb, resource_version = resource_version + 1
        WHERE (org_id, name) IN (SELECT org_id, name FROM enrollment_requests
                                  WHERE deleted_at IS NULL AND (status->'approval'->>'approved') IS DISTINCT FROM 'true' ORDER BY name LIMIT 2)
        RETURNING org_id, name`,
    );
    const newEr = await db.query<{ org_id: string; name: string }>(
      `INSERT INTO enrollment_requests (org_id, name, spec) VALUES ($1, 'after-dump-er', '{"csr": "after-dump"}') RETURNING org_id, name`,
      [def],
    );
    await db.query(
      `INSERT INTO events (org_id, name, reason, type, message, involved_object_name, involved_object_kind)
       VALUES ($1, md5('after-dump-event')::uuid::text, 'ResourceCreated', 'Normal', 'Device after-dump-2 created', 'after-dump-2', 'Device')`,
      [def],
    );
    await db.query(`UPDATE fleets SET generation = generation + 1, resource_version = resource_version + 1 WHERE name = 'kiosks'`);
    await db.query('COMMIT');
    const kvKeys = [`v1/${AFTER_DUMP_ORG}/device/after-dump-1/awaiting-reconnect`, `v1/${def}/device/after-dump-2/awaiting-reconnect`, 'after-dump/unrelated'];
    await kv.set(kvKeys[0]!, 'true');
    await kv.set(kvKeys[1]!, 'true');
    await kv.set(kvKeys[2]!, 'operator scratch value');
    return {
      addedOrganization: AFTER_DUMP_ORG,
      addedDevices: added.rows.map(ref),
      softDeleted: soft.map(ref),
      hardDeleted: hard.map(ref),
      statusChanged,
      approvedEnrollmentRequests: approved.rows.map(ref),
      addedEnrollmentRequests: newEr.rows.map(ref),
      addedEvents: 1,
      kvKeys,
    };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

export interface TableFingerprint {
  rows: number;
  /** md5 over the md5 of every row's text, in primary-key order. */
  md5: string;
}

export interface Fingerprint {
  /** md5 of the layout: columns, constraints, indexes, triggers, extensions. */
  schema: string;
  tables: Record<string, TableFingerprint>;
}

/**
 * A compact description of everything in the connection's current schema, independent of the
 * physical row order, for "equal to what was backed up" checks. One REPEATABLE READ snapshot for
 * all tables; timestamps rendered in UTC so two sessions with other TimeZone settings agree.
 * Runs its own transaction, so call it outside one. About 15 s for a million devices.
 */
export async function fingerprint(db: pg.Client): Promise<Fingerprint> {
  await db.query(
    [
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
      ...["TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'", 'extra_float_digits = 3'].map((s) => `SET LOCAL ${s}`),
      // one big sort per table; JIT compiling these one-off scans costs more than it saves
      "SET LOCAL work_mem = '256MB'",
      'SET LOCAL jit = off',
    ].join('; '),
  );
  try {
    const schema = await db.query<{ md5: string }>(
      `SELECT md5(concat_ws(E'\\n',
         (SELECT string_agg(format('%s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default), E'\\n' ORDER BY table_name, ordinal_position)
            FROM information_schema.columns WHERE table_schema = current_schema()),
         (SELECT string_agg(conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid), E'\\n' ORDER BY conrelid::regclass::text, conname)
            FROM pg_constraint WHERE connamespace = current_schema()::regnamespace),
         (SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = current_schema()),
         (SELECT string_agg(pg_get_triggerdef(t.oid), E'\\n' ORDER BY pg_get_triggerdef(t.oid))
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal),
         (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension))) AS md5`,
    );
    const { rows: tables } = await db.query<{ oid: number; name: string; pk: string[] | null }>(
      `SELECT c.oid, c.relname AS name,
              (SELECT array_agg(quote_ident(a.attname) ORDER BY array_position(i.indkey::int2[], a.attnum))
                 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
         FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
    );
    const out: Fingerprint = { schema: schema.rows[0]!.md5, tables: {} };
    for (const t of tables) {
      const order = t.pk?.length ? t.pk.map((c) => `t.${c}`).join(', ') : 't::text';
      const { rows } = await db.query<{ n: string; md5: string }>(
        `SELECT count(*) AS n, md5(COALESCE(string_agg(md5(t::text), '' ORDER BY ${order}), '')) AS md5 FROM ${quoteIdent(t.name)} t`,
      );
      out.tables[t.name] = { rows: Number(rows[0]!.n), md5: rows[0]!.md5 };
    }
    return out;
  } finally {
    await db.query('COMMIT');
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
