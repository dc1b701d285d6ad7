import { onTestFinished } from 'vitest';
/**
 * A sandbox Quadlets host prepared for restore runs: a seeded Flight Control database, its
 * backup in both dump formats, the changes made after the backup, and helpers to run the real
 * agent binary against it, to reset it between runs and to read back every part of the host a
 * restore may touch.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { scanForOurs } from '../../../src/targets/quadlet/dropins.js';
import { AWAITING_RECONNECT_ANNOTATION, awaitingReconnectKey } from '../../../src/flightctl/prepare/marks.js';
import { sandboxHostConfig, startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';
import { HOLD_DROPIN_NAME } from '../../../src/targets/quadlet/guard.js';
import {
  adminSql,
  connectSandboxDb,
  connectSandboxKv,
  setSandboxKv,
  fingerprint,
  loadDump,
  mutateAfterDump,
  seedScenario,
  takeDump,
  type AfterDumpChanges,
  type Fingerprint,
} from '../../harness/restore-scenario.js';
import { runAgent, spawnAgent, type CliResult, type RunningAgent } from '../cli/run-cli.js';

/** The order of a run with a dump over container-ip (asserted, so written out rather than derived). */
export const DUMP_RUN_STEPS = [
  'preflight',
  'version-check',
  'load-dump',
  'prepare-database',
  'stage-kv',
  'stop-services',
  'swap-database',
  'prepare-kv',
  'start-services',
  'verify',
  'drop-old-database',
];

export const APPS = ['flightctl-api', 'flightctl-worker', 'flightctl-periodic', 'flightctl-alert-exporter', 'flightctl-alertmanager-proxy'];

export interface HostSnapshot {
  /** Databases named flightctl*, sorted. */
  databases: string[];
  /** Container id per application container ('' when not running): a restart gives a new id. */
  apps: Record<string, string>;
  /** Every KV key of every database, as "<db>/<key>". */
  kv: string[];
  /** Files in the drop-in directory (ours or not). */
  dropins: string[];
  live: Fingerprint;
}

export interface RestoreEnv {
  sb: Sandbox;
  dir: string;
  configFile: string;
  stateDir: string;
  dumps: { plain: string; custom: string; mutated: string };
  /** Fingerprint of the database the dumps hold. */
  backedUp: Fingerprint;
  /** Fingerprint after the changes made since the backup (what reset() brings back). */
  mutated: Fingerprint;
  changes: AfterDumpChanges;
  /** Secret values: nothing the agent prints or journals may contain them. */
  secrets: string[];
  agent(args: string[], env?: Record<string, string>): Promise<CliResult>;
  spawn(args: string[], env?: Record<string, string>): RunningAgent;
  snapshot(): Promise<HostSnapshot>;
  /** Back to the state after the post-backup changes: live database, no other copies, KV keys. */
  reset(): Promise<void>;
  /** Everything the agent wrote under its state directory. */
  journalText(): string;
  stop(): Promise<void>;
}

export async function startRestoreEnv(opts: {
  devices: number;
  strategy?: 'container-ip' | 'publish-dropin';
  sandboxEnv?: Record<string, string>;
}): Promise<RestoreEnv> {
  const sb = await startSandbox(opts.sandboxEnv);
  try {
    const dir = mkdtempSync(path.join(sb.dir, 'restore-'));
    const stateDir = path.join(dir, 'state');
    const configFile = path.join(dir, 'agent.yaml');
    writeFileSync(
      configFile,
      stringify({
        host: { ...sandboxHostConfig(sb, stateDir), unitTimeoutMs: 60_000, endpointStrategy: opts.strategy ?? 'container-ip' },
      }),
    );
    const db = await connectSandboxDb(sb);
    const kv = await connectSandboxKv(sb);
    let changes: AfterDumpChanges;
    let backedUp: Fingerprint;
    let mutated: Fingerprint;
    const dumps = { plain: path.join(dir, 'backup.sql'), custom: path.join(dir, 'backup.dump'), mutated: path.join(dir, 'mutated.sql') };
    try {
      await seedScenario(db, { devices: opts.devices });
      backedUp = await fingerprint(db);
      await takeDump(sb, { format: 'plain', file: dumps.plain });
      await takeDump(sb, { format: 'custom', file: dumps.custom });
      changes = await mutateAfterDump(db, kv);
      mutated = await fingerprint(db);
      await takeDump(sb, { format: 'plain', file: dumps.mutated });
    } finally {
      await db.end().catch(() => undefined);
      kv.disconnect();
    }
    const secrets = Object.values(sb.secrets).map((s) => s.trim());
    const withConfig = (args: string[]) => [...args, '--config', configFile];
    const env: RestoreEnv = {
      sb,
      dir,
      configFile,
      stateDir,
      dumps,
      backedUp,
      mutated,
      changes,
      secrets,
      agent: (args, e = {}) => runAgent(withConfig(args), e),
      spawn: (args, e = {}) => spawnAgent(withConfig(args), e),
      snapshot: () => snapshot(sb),
      async reset() {
        await adminSql(
          sb,
          `SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'flightctl%' \\gexec\nCREATE DATABASE flightctl OWNER flightctl_app;\n`,
        );
        await loadDump(sb, { format: 'plain', file: dumps.mutated, database: 'flightctl' });
        await setSandboxKv(sb, changes.kvKeys);
      },
      journalText() {
        const runs = path.join(stateDir, 'runs');
        if (!existsSync(runs)) return '';
        return readdirSync(runs)
          .map((f) => readFileSync(path.join(runs, f), 'utf8'))
          .join('\n');
      },
      stop: () => sb.stop(),
    };
    return env;
  } catch (err) {
    await sb.stop();
    throw err;
  }
}

async function snapshot(sb: Sandbox): Promise<HostSnapshot> {
  const podman = new PodmanClient(sb.podmanSocket);
  const apps: Record<string, string> = {};
  for (const a of APPS) {
    const info = await podman.docker
      .getContainer(a)
      .inspect()
      .catch(() => undefined);
    apps[a] = info?.State?.Running ? info.Id : '';
  }
  const databases = (await adminSql(sb, "SELECT datname FROM pg_database WHERE datname LIKE 'flightctl%' ORDER BY 1")).split('\n').filter(Boolean);
  const kv = await connectSandboxKv(sb);
  const keys: string[] = [];
  try {
    for (let n = 0; n < 16; n++) {
      await kv.select(n);
      for (const k of await kv.keys('*')) keys.push(`${n}/${k}`);
    }
  } finally {
    kv.disconnect();
  }
  const dropins: string[] = [];
  if (existsSync(sb.dropinDir)) {
    for (const d of readdirSync(sb.dropinDir)) {
      const full = path.join(sb.dropinDir, d);
      try {
        for (const f of readdirSync(full)) dropins.push(path.join(d, f));
      } catch {
        /* a file, not a directory */
      }
    }
  }
  dropins.push(...(await scanForOurs(sb.dropinDir)).map((f) => f.path));
  // The drop-ins that hold units down across a reboot, in the persistent quadlet directory.
  const holdRoot = sb.quadletDirs[1]!;
  for (const d of existsSync(holdRoot) ? readdirSync(holdRoot) : []) {
    if (existsSync(path.join(holdRoot, d, HOLD_DROPIN_NAME))) dropins.push(path.join(holdRoot, d, HOLD_DROPIN_NAME));
  }
  const db = await connectSandboxDb(sb);
  try {
    return { databases, apps, kv: keys.sort(), dropins: [...new Set(dropins)].sort(), live: await fingerprint(db) };
  } finally {
    await db.end();
  }
}

/** Every device that is not deleted, with its summary status and whether the restore marks it. */
export interface RestoredFacts {
  /** Names of non-deleted devices. */
  devices: Set<string>;
  /**
   * Non-deleted, not decommissioned devices without the mark (the annotation; a device that has it
   * counts as marked whatever its summary says, as in Flight Control's own preparation), or marked
   * but not AwaitingReconnect when the annotation came from this restore.
   */
  unmarked: string[];
  /** Eligible devices whose summary is not AwaitingReconnect (marked earlier, changed since). */
  notAwaiting: string[];
  organizations: string[];
  /** What the KV store should hold: one key per non-deleted device. */
  expectedKeys: string[];
}

export async function restoredFacts(sb: Sandbox): Promise<RestoredFacts> {
  const db = await connectSandboxDb(sb);
  try {
    const { rows } = await db.query<{ org: string; name: string; s: string | null; a: string | null; l: string | null }>(
      `SELECT org_id::text AS org, name, status->'summary'->>'status' AS s, annotations->>$1 AS a, status->'lifecycle'->>'status' AS l
         FROM devices WHERE deleted_at IS NULL`,
      [AWAITING_RECONNECT_ANNOTATION],
    );
    const orgs = (await db.query<{ id: string }>('SELECT id::text AS id FROM organizations ORDER BY 1')).rows.map((r) => r.id);
    return {
      devices: new Set(rows.map((r) => r.name)),
      unmarked: rows.filter((r) => !['Decommissioned', 'Decommissioning'].includes(r.l ?? '') && r.a !== 'true').map((r) => r.name),
      notAwaiting: rows.filter((r) => !['Decommissioned', 'Decommissioning'].includes(r.l ?? '') && r.s !== 'AwaitingReconnect').map((r) => r.name),
      organizations: orgs,
      expectedKeys: rows.map((r) => `0/${awaitingReconnectKey(r.org, r.name)}`).sort(),
    };
  } finally {
    await db.end();
  }
}

/** The JSON lines `run --json` printed, parsed. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface FinishedRun {
  id: string;
  phase: string;
  steps: { name: string; status: string; msg: string; durationMs: number; data?: Record<string, unknown>; error?: { code: string } }[];
  error?: { code: string; message: string };
  finalizers: string[];
  startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  downtimeMs?: number;
  recovery?: { actions: string[] };
  faults?: { step?: string; kind: string; code: string; message: string; action: string }[];
  devices?: { before?: { total: number; byStatus: Record<string, number> }; after?: { total: number; byStatus: Record<string, number> } };
}

/** The run from the last line of `run --json`. */
export function finishedRun(stdout: string): FinishedRun {
  const last = jsonLines(stdout).at(-1);
  if (last?.type !== 'run-finished') throw new Error(`the last line is not run-finished: ${stdout.slice(-500)}`);
  return last.run as FinishedRun;
}

export function statuses(run: FinishedRun): Record<string, string> {
  return Object.fromEntries(run.steps.map((s) => [s.name, s.status]));
}

/**
 * A run started in the background that reaches WaitingForDatabase (an archive without the
 * database): it and its id. Killed when the test ends, should it still run.
 */
export async function spawnUntilWaiting(env: RestoreEnv, args: string[]): Promise<{ running: RunningAgent; id: string }> {
  const running = env.spawn(args);
  onTestFinished(() => {
    if (running.process.exitCode === null) running.process.kill('SIGKILL');
  });
  for (let i = 0; i < 600; i++) {
    const runs = JSON.parse((await env.agent(['runs', '--json'])).stdout) as { runs: { id: string; phase: string }[] };
    if (runs.runs[0]?.phase === 'WaitingForDatabase') return { running, id: runs.runs[0].id };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the run did not reach WaitingForDatabase within a minute');
}
