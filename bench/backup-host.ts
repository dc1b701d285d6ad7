/**
 * The database the backup benchmark works on, and the state every restore starts from.
 * Seeded once with the restore scenario (test/harness/restore-scenario.ts); both backups dump that
 * same database. Before the restores, the changes made after a backup (mutateAfterDump) are kept
 * as a template database, and every restore variant starts from a byte-identical copy of it, as in
 * bench/restore-host.ts (restore-env.ts reset() reloads a dump instead; a file copy takes seconds).
 */
import { execFileSync } from 'node:child_process';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import { adminSql, connectSandboxDb, connectSandboxKv, mutateAfterDump, setSandboxKv, seedScenario } from '../test/harness/restore-scenario.js';
import { expectRunning } from './restore-host.js';

/** Not named flightctl*: the agent's own databases are, and reset drops those. */
const TEMPLATE = 'bench_backup_mutated';
/** Where the plain pipeline restores into (a fresh database each time). */
export const PLAIN_TARGET = 'bench_plain_restore';

export interface Seeded {
  devices: number;
  /** pg_database_size of flightctl once seeded. */
  databaseBytes: number;
}

export async function seed(sb: Sandbox, devices: number, log: (msg: string) => void): Promise<Seeded> {
  const db = await connectSandboxDb(sb);
  try {
    const t = performance.now();
    const s = await seedScenario(db, { devices });
    const { rows } = await db.query<{ n: string }>(`SELECT pg_database_size(current_database()) AS n`);
    const databaseBytes = Number(rows[0]!.n);
    log(`seeded ${s.devices} devices in ${((performance.now() - t) / 1000).toFixed(1)} s: database ${(databaseBytes / 1e9).toFixed(2)} GB (pg_database_size)`);
    return { devices: s.devices, databaseBytes };
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Dirty pages written back (PostgreSQL's, then the host's): no variant pays for the previous one's writes. */
export async function settle(sb: Sandbox): Promise<void> {
  await adminSql(sb, 'CHECKPOINT;');
  execFileSync('sync');
}

/** After the backups: what changed since (so a restore has work to undo), kept as the template. Answers the KV keys of that state. */
export async function keepMutatedState(sb: Sandbox): Promise<string[]> {
  const db = await connectSandboxDb(sb);
  const kv = await connectSandboxKv(sb);
  let keys: string[];
  try {
    keys = (await mutateAfterDump(db, kv)).kvKeys;
  } finally {
    await db.end().catch(() => undefined);
    kv.disconnect();
  }
  // FILE_COPY: a plain copy of the files, not the whole database through the WAL.
  await adminSql(sb, `DROP DATABASE IF EXISTS ${TEMPLATE};\nCREATE DATABASE ${TEMPLATE} TEMPLATE flightctl STRATEGY FILE_COPY;\n`);
  return keys;
}

/**
 * Back to the state after the post-backup changes: only the mutated flightctl database (the plain
 * pipeline's target gone, then created empty for it), the KV keys of that moment, every application
 * unit running, dirty pages written back.
 */
export async function resetHost(sb: Sandbox, kvKeys: string[], units: readonly string[]): Promise<void> {
  await adminSql(
    sb,
    `SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'flightctl%' OR datname = '${PLAIN_TARGET}' \\gexec\n` +
      `CREATE DATABASE flightctl TEMPLATE ${TEMPLATE} OWNER flightctl_app STRATEGY FILE_COPY;\n` +
      `CREATE DATABASE ${PLAIN_TARGET} OWNER flightctl_app;\n`,
  );
  await setSandboxKv(sb, kvKeys);
  await settle(sb);
  await expectRunning(sb, units);
}

/** Non-deleted devices and organizations in a database (the plain pipeline's target or the live one). */
export async function countRestored(sb: Sandbox, database: string): Promise<string> {
  const out = await adminSql(
    sb,
    `SELECT (SELECT count(*) FROM devices) || ' devices, ' || (SELECT count(*) FROM organizations) || ' organizations';`,
    database,
  );
  return out.trim();
}
