/**
 * The data both restore variants work on: the sandbox seeded with the scenario fleet, its backup
 * (a plain dump, what Flight Control's backup tool writes), then the changes made after the backup,
 * so a restore has real work. The mutated state is kept as a template database, and every variant
 * starts from a byte-identical copy of it (restore-env.ts reset() reloads a dump for the same
 * purpose; a file copy takes seconds even at a million devices).
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { AWAITING_RECONNECT_ANNOTATION } from '../src/flightctl/prepare/marks.js';
import { SystemdClient } from '../src/targets/quadlet/systemd.js';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import {
  adminSql,
  AFTER_DUMP_ORG,
  connectSandboxDb,
  connectSandboxKv,
  mutateAfterDump,
  seedScenario,
  setSandboxKv,
  takeDump,
} from '../test/harness/restore-scenario.js';

/** Not named flightctl*: the agent's own databases are, and reset drops those. */
const TEMPLATE = 'bench_mutated';

export interface RestoreScenario {
  dump: { path: string; size: number };
  /** KV keys present after the backup (the state reset brings back). */
  kvKeys: string[];
  devices: number;
}

export async function prepareScenario(sb: Sandbox, dir: string, devices: number, log: (msg: string) => void): Promise<RestoreScenario> {
  const db = await connectSandboxDb(sb);
  const kv = await connectSandboxKv(sb);
  let kvKeys: string[];
  const file = path.join(dir, 'backup.sql');
  try {
    let t = performance.now();
    const seeded = await seedScenario(db, { devices });
    log(`seeded ${seeded.devices} devices in ${seeded.organizations.length} organizations in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const dump = await takeDump(sb, { format: 'plain', file });
    log(`plain dump (pg_dump --clean --if-exists in flightctl-db): ${(dump.bytes / 1e6).toFixed(0)} MB in ${(dump.ms / 1000).toFixed(1)} s`);
    kvKeys = (await mutateAfterDump(db, kv)).kvKeys;
  } finally {
    await db.end().catch(() => undefined);
    kv.disconnect();
  }
  // FILE_COPY: a plain copy of the files, not the whole database through the WAL.
  await adminSql(sb, `DROP DATABASE IF EXISTS ${TEMPLATE};\nCREATE DATABASE ${TEMPLATE} TEMPLATE flightctl STRATEGY FILE_COPY;\n`);
  return { dump: { path: file, size: statSync(file).size }, kvKeys, devices };
}

/**
 * Back to the state after the post-backup changes: only the mutated flightctl database, the KV
 * keys of that moment, every application unit running; dirty pages written back so the previous
 * variant's writeback does not land inside the next one's time.
 */
export async function resetHost(sb: Sandbox, scenario: RestoreScenario, units: readonly string[]): Promise<void> {
  await adminSql(
    sb,
    `SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'flightctl%' \\gexec\n` +
      `CREATE DATABASE flightctl TEMPLATE ${TEMPLATE} OWNER flightctl_app STRATEGY FILE_COPY;\nCHECKPOINT;\n`,
  );
  await setSandboxKv(sb, scenario.kvKeys);
  execFileSync('sync');
  await expectRunning(sb, units);
}

/** Every unit active, as a restore must find them (a benchmark of a half-stopped host measures nothing). */
export async function expectRunning(sb: Sandbox, units: readonly string[]): Promise<void> {
  const systemd = await SystemdClient.connect({ address: sb.busAddress });
  try {
    for (const u of units) {
      const st = await systemd.status(u);
      if (st.activeState !== 'active') throw new Error(`${u} is ${st.activeState}/${st.subState} before the run: a restore must find it running`);
    }
  } finally {
    systemd.close();
  }
}

/** What a correct restore leaves in the live database, compact enough to compare the variants. */
export async function restoredSummary(sb: Sandbox): Promise<string> {
  const db = await connectSandboxDb(sb);
  try {
    const { rows } = await db.query<{ devices: string; marked: string; orgs: string; after: boolean }>(
      `SELECT (SELECT count(*) FROM devices) AS devices,
              (SELECT count(*) FROM devices WHERE annotations->>$1 = 'true') AS marked,
              (SELECT count(*) FROM organizations) AS orgs,
              EXISTS (SELECT 1 FROM organizations WHERE id = $2) AS after`,
      [AWAITING_RECONNECT_ANNOTATION, AFTER_DUMP_ORG],
    );
    const r = rows[0]!;
    if (r.after) throw new Error('the organization added after the backup is still there: the restore did not restore');
    return `${r.devices} devices (${r.marked} awaiting reconnect), ${r.orgs} organizations`;
  } finally {
    await db.end();
  }
}
