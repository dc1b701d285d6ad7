import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'winston';
import type { Config } from '../../config/schema.js';
import { ENTRY, PAM_VOLUME } from '../../flightctl/archive/format.js';
import { overlayPki, replaceEncryption, writeServiceConfig } from '../../flightctl/archive/restore-files.js';
import { dropDatabaseSql, ident } from '../../flightctl/database/swap-sql.js';
import { connectKv, type KvEndpoint } from '../../flightctl/datastores/kv.js';
import { withPostgres, type PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import { checkAwaitingReconnectKeys } from '../../flightctl/prepare/kv-keys.js';
import { clearStagingDb } from '../../flightctl/prepare/kv-staging.js';
import { prepare } from '../../flightctl/prepare/prepare.js';
import { asRestoreError, RestoreError } from '../../lib/errors.js';
import type { DataEndpoints, RestoreTarget } from '../../targets/target.js';
import type { RunIntent } from '../intent.js';
import type { IntentStore } from '../store.js';
import { existingDatabases } from './steps-database.js';
import { writeAllKeys } from './steps-kv.js';
import { servicesError } from './steps-services.js';

export interface SettleDeps {
  target: RestoreTarget;
  intentFile: IntentStore;
  config: Readonly<Config>;
  logger: Logger;
  /** publish-dropin: the lease the run holds, if any (released here). */
  windowLease?: DataEndpoints | undefined;
}

/**
 * The finalizers: what a run that did not finish leaves is undone or completed, from the durable
 * intent alone, so the same code serves a failed run, a signal, and the next start after a crash.
 *   - before the live database was touched: roll back (drop the temporary database and the dump
 *     copy, empty the spare KV database);
 *   - after: complete (the live database holds marked devices: without their keys they would stay
 *     AwaitingReconnect forever), keeping the previous database;
 *   - always: remove the drop-ins, start what was stopped.
 * Every action is tried even when an earlier one fails; the intent is cleared only when all
 * succeeded. Answers what it did; throws RESTORE_ERR_RECOVERY_INCOMPLETE (with the actions).
 */
export async function settle(deps: SettleDeps, intent: RunIntent | undefined): Promise<string[]> {
  const actions: string[] = [];
  const problems: RestoreError[] = [];
  let lease = deps.windowLease;
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const e = asRestoreError(err);
      problems.push(e);
      actions.push(`could not ${what}: ${e.code}: ${e.message}`);
    }
  };
  const endpoints = async () => (lease ??= await deps.target.endpoints());
  if (intent) await attempt('settle the databases', () => settleData(deps, intent, actions, endpoints));
  await attempt('remove the drop-ins', async () => {
    if (lease) actions.push(...(await lease.release()));
    actions.push(...(await deps.target.removeLeftovers()));
  });
  await attempt('start the stopped services', async () => {
    if (!(await deps.target.stoppedByAgent()).length) return;
    const changes = await deps.target.startServices();
    const started = changes.filter((c) => c.action === 'started').map((c) => c.unit);
    if (started.length) actions.push(`started ${started.join(', ')}`);
    const err = servicesError('start', changes);
    if (err) throw err;
  });
  if (problems.length) {
    throw new RestoreError('RESTORE_ERR_RECOVERY_INCOMPLETE', `finalizers could not finish: ${problems.map((p) => p.message).join('; ')}`, { actions });
  }
  if (intent) await deps.intentFile.clear();
  return actions;
}

async function settleData(deps: SettleDeps, intent: RunIntent, actions: string[], endpoints: () => Promise<DataEndpoints>): Promise<void> {
  const { target } = deps;
  const names = intent.database;
  // Each of these is recorded before its change: none recorded, nothing changed (a run that
  // failed its checks), and nothing needs the database, which may be what could not be reached.
  if (!intent.liveTouched && !names.temp && !names.old && !names.containerFile && intent.kvStagingDb === undefined && !intent.extractDir) return;
  if (names.containerFile) {
    await target.database.removeFile(names.containerFile);
    actions.push(`removed the dump copy ${names.containerFile} from the database container`);
    names.containerFile = undefined;
  }
  const kvEndpoint = async (): Promise<KvEndpoint | undefined> => {
    const [ep, creds] = await Promise.all([endpoints(), target.credentials()]);
    return ep.kv && { host: ep.kv.host, port: ep.kv.port, password: creds.kvPassword, connectTimeoutMs: deps.config.kv.connectTimeoutMs };
  };
  const exist = await existingDatabases({ target }, [names.name, names.temp, names.old].filter((n): n is string => !!n));
  const oldExists = !!names.old && exist.has(names.old);
  if (!exist.has(names.name) && !oldExists) {
    throw new RestoreError('RESTORE_ERR_RECOVERY_INCOMPLETE', `neither ${names.name} nor a previous copy of it exists; restore it by hand`);
  }
  // The swap renames the temporary database away in the same transaction as the live one: the
  // temporary database still there means the swap did not commit.
  const swapped = intent.withDump && intent.liveTouched && !(names.temp && exist.has(names.temp));
  if (!intent.liveTouched || (intent.withDump && !swapped)) {
    // Nothing reached the live database: roll back.
    if (names.temp && exist.has(names.temp)) {
      await target.database.sql(dropDatabaseSql(names.temp));
      actions.push(`dropped the temporary database ${names.temp}${intent.withDump ? `; ${names.name} is the original database` : ''}`);
    }
    if (intent.kvStagingDb) {
      const kv = await kvEndpoint();
      await (kv ? clearStagingDb(kv, intent.kvStagingDb) : target.kvShell.command(['-n', String(intent.kvStagingDb), 'FLUSHDB']));
      actions.push(`emptied the spare KV database ${intent.kvStagingDb}`);
    }
    await removeExtracted(intent, actions);
    return;
  }
  if (!exist.has(names.name) && names.old) {
    // Cannot happen with the one-transaction swap, but never leave the host without its database.
    await target.database.sql(`ALTER DATABASE ${ident(names.old)} RENAME TO ${ident(names.name)};\n`);
    actions.push(`renamed ${names.old} back to ${names.name}`);
    return;
  }
  // The live database holds (or may hold) marked devices: complete the preparation.
  const creds = await target.credentials();
  const ep = await endpoints();
  const db: PostgresEndpoint = { host: ep.db.host, port: ep.db.port, database: names.name, user: creds.dbUser, password: creds.dbPassword, connectTimeoutMs: deps.config.db.connectTimeoutMs };
  const kv = await kvEndpoint();
  // Without a dump the SQL part may not have committed; it is idempotent, so it runs again.
  if (!intent.withDump) {
    const r = await prepare({ db, check: false, parts: { sql: true, kv: false }, kvBatchSize: deps.config.prepare.kvBatchSize, logger: deps.logger });
    actions.push(`completed the preparation of ${names.name}: ${r.devicesUpdated} more devices marked`);
  }
  // The keys: left alone only when provably complete (that needs the store over the network).
  const complete =
    !!kv &&
    (await withPostgres(db, async (c) => {
      const redis = await connectKv(kv, deps.logger);
      try {
        const k = await checkAwaitingReconnectKeys(c, redis, { kvEndpoint: kv, batchSize: deps.config.prepare.kvBatchSize });
        return k.present === k.expected && k.other === 0;
      } finally {
        redis.disconnect();
      }
    }));
  if (complete) actions.push(`${names.name} is the prepared, restored database and the KV store holds its keys`);
  else {
    const keys = await writeAllKeys({ target, db, kv, batchSize: deps.config.prepare.kvBatchSize, logger: deps.logger });
    actions.push(`completed the preparation of ${names.name}: ${keys} awaiting-reconnect keys written`);
  }
  // From an archive: Flight Control's files as in the archive, again (each is idempotent).
  if (intent.extractDir && existsSync(intent.extractDir)) {
    actions.push(...(await restoreArchiveFiles(intent.extractDir, deps.config.flightctl.etcDir, target, intent.runId)));
    await removeExtracted(intent, actions);
  }
  if (oldExists) actions.push(`kept the previous database as ${names.old}: drop it when the restored one is confirmed (DROP DATABASE ${ident(names.old!)})`);
}

async function removeExtracted(intent: RunIntent, actions: string[]): Promise<void> {
  if (!intent.extractDir || !existsSync(intent.extractDir)) return;
  await fs.rm(intent.extractDir, { recursive: true, force: true });
  actions.push(`removed the extracted archive ${intent.extractDir}`);
}

/** The file steps of an archive restore, for finalizers that complete one. */
async function restoreArchiveFiles(dir: string, etc: string, target: RestoreTarget, tag: string): Promise<string[]> {
  const done: string[] = [];
  done.push(`overlaid ${await overlayPki(dir, path.join(etc, 'pki'))} PKI files onto ${path.join(etc, 'pki')}`);
  const keys = await replaceEncryption(dir, path.join(etc, 'encryption'), tag);
  if (keys !== undefined) done.push(`replaced ${path.join(etc, 'encryption')} (${keys} key files)`);
  await writeServiceConfig(dir, path.join(etc, 'service-config.yaml'));
  done.push(`wrote ${path.join(etc, 'service-config.yaml')}`);
  const tar = path.join(dir, ENTRY.pamVolume);
  if (existsSync(tar)) done.push(`the ${PAM_VOLUME} volume: ${await target.volumes.import(PAM_VOLUME, tar)}`);
  return done;
}
