import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { removeFileDurable, writeFileAtomic } from '../../lib/atomic-file.js';
import { RestoreError } from '../../lib/errors.js';
import type { StateFile } from './state-file.js';
import { isRunning, type JobOutcome, type SystemdClient } from './systemd.js';

export const PUBLISH_DROPIN_NAME = '10-publish-port.conf';
/** First line of every drop-in we write: a scan removes only files that carry it. */
const MARKER = '# written by flightctl-restore-agent; removed when the restore step ends';

export interface DropinInEffect {
  file: string;
  /** The drop-in directory it sits in (specific, truncated prefix, or type-wide). */
  dir: string;
}

/**
 * Drop-in directories quadlet reads for `<base>.<ext>` in one search dir, most specific first:
 * `flightctl-db.container.d`, truncated `flightctl-.container.d`, type-wide `container.d`.
 */
function dropinDirNames(sourceFile: string): string[] {
  const ext = path.extname(sourceFile); // .container
  const base = path.basename(sourceFile, ext);
  const names = [`${base}${ext}.d`];
  const parts = base.split('-');
  for (let i = parts.length - 1; i >= 1; i--) names.push(`${parts.slice(0, i).join('-')}-${ext}.d`);
  names.push(`${ext.slice(1)}.d`);
  return names;
}

/**
 * The drop-ins quadlet merges into a unit generated from `sourcePath` (systemd's DropInPaths
 * stays empty for them). A file name seen in a higher-precedence place hides the same name below.
 */
export async function dropinsInEffect(sourcePath: string, quadletDirs: readonly string[]): Promise<DropinInEffect[]> {
  if (!sourcePath) return [];
  const seen = new Map<string, DropinInEffect>();
  for (const name of dropinDirNames(sourcePath)) {
    for (const root of quadletDirs) {
      const dir = path.join(root, name);
      let entries: string[];
      try {
        entries = await fs.readdir(dir);
      } catch {
        continue;
      }
      for (const e of entries.filter((f) => f.endsWith('.conf')).sort()) {
        if (!seen.has(e)) seen.set(e, { file: path.join(dir, e), dir });
      }
    }
  }
  return [...seen.values()].sort((a, b) => path.basename(a.file).localeCompare(path.basename(b.file)));
}

/** A free TCP port on 127.0.0.1 (bound and released; the window until podman binds it is short). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface PublishRequest {
  unit: string;
  /** SourcePath of the unit: names the .container file the drop-in directory is derived from. */
  sourcePath: string;
  containerPort: number;
}

export interface Published {
  unit: string;
  path: string;
  host: '127.0.0.1';
  hostPort: number;
  containerPort: number;
  /** The generated unit's `podman run` carries the mapping: quadlet merged the drop-in. */
  inEffect: boolean;
}

export interface DropinContext {
  systemd: SystemdClient;
  state: StateFile;
  dropinDir: string;
  timeoutMs: number;
}

function publishArg(hostPort: number, containerPort: number): string {
  return `127.0.0.1:${hostPort}:${containerPort}`;
}

async function restartAll(ctx: DropinContext, units: string[]): Promise<JobOutcome[]> {
  const outcomes = await ctx.systemd.runJobs('RestartUnit', units, ctx.timeoutMs);
  const bad = outcomes.filter((o) => !o.ok);
  if (bad.length) {
    throw new RestoreError(
      'RESTORE_ERR_UNIT_JOB_FAILED',
      `restart failed: ${bad.map((o) => `${o.unit} (${o.result}, ${o.activeState}/${o.subState})`).join(', ')}`,
      { units: bad.map((o) => o.unit) },
    );
  }
  return outcomes;
}

/**
 * Publishes container ports on 127.0.0.1 only, each on a free port, from drop-ins under
 * dropinDir. Each path is recorded in the state file before the file is written, so a crash
 * leaves a record to undo. Then one daemon-reload and concurrent restarts.
 */
export async function publishPorts(ctx: DropinContext, requests: PublishRequest[]): Promise<Published[]> {
  const planned: Published[] = [];
  for (const r of requests) {
    if (!r.sourcePath.endsWith('.container')) {
      throw new RestoreError('RESTORE_ERR_DROPIN_FAILED', `${r.unit} is not a quadlet container unit (SourcePath '${r.sourcePath}')`, { unit: r.unit });
    }
    const dir = path.join(ctx.dropinDir, `${path.basename(r.sourcePath)}.d`);
    const hostPort = await freeLoopbackPort();
    planned.push({ unit: r.unit, path: path.join(dir, PUBLISH_DROPIN_NAME), host: '127.0.0.1', hostPort, containerPort: r.containerPort, inEffect: false });
  }
  await ctx.state.update((s) => {
    for (const p of planned) {
      s.dropins = s.dropins.filter((d) => d.path !== p.path);
      s.dropins.push({ unit: p.unit, path: p.path, hostPort: p.hostPort, containerPort: p.containerPort, recordedAt: new Date().toISOString() });
    }
  });
  try {
    for (const p of planned) {
      await fs.mkdir(path.dirname(p.path), { recursive: true, mode: 0o755 });
      await writeFileAtomic(p.path, `${MARKER}\n[Container]\nPublishPort=${publishArg(p.hostPort, p.containerPort)}\n`, 0o644);
    }
  } catch (err) {
    throw new RestoreError(
      'RESTORE_ERR_DROPIN_FAILED',
      `cannot write publish drop-in under ${ctx.dropinDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      {
        dropinDir: ctx.dropinDir,
      },
    );
  }
  await ctx.systemd.reload();
  for (const p of planned) p.inEffect = (await ctx.systemd.execStart(p.unit)).some((a) => a.includes(publishArg(p.hostPort, p.containerPort)));
  await restartAll(
    ctx,
    planned.map((p) => p.unit),
  );
  return planned;
}

export interface Removed {
  path: string;
  unit?: string | undefined;
  /** Whether the file was still there. */
  removed: boolean;
  source: 'state' | 'scan';
}

async function isOurs(file: string): Promise<boolean> {
  try {
    return (await fs.readFile(file, 'utf8')).startsWith(MARKER);
  } catch {
    return false;
  }
}

/** Our drop-ins under dropinDir that the state file does not know (a crash between write and record is impossible, but a lost state dir is not). */
export async function scanForOurs(dropinDir: string): Promise<{ path: string; unit: string }[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(dropinDir);
  } catch {
    return [];
  }
  const found: { path: string; unit: string }[] = [];
  for (const e of entries.filter((d) => d.startsWith('flightctl-') && d.endsWith('.container.d'))) {
    const file = path.join(dropinDir, e, PUBLISH_DROPIN_NAME);
    if (await isOurs(file)) found.push({ path: file, unit: `${e.slice(0, -'.container.d'.length)}.service` });
  }
  return found;
}

/**
 * Removes drop-ins we wrote: those recorded in the state file and, from an earlier crash or a
 * lost state file, those found under dropinDir carrying our marker. Then daemon-reload and
 * restart the affected units that are running, so the ports close. The record goes last.
 */
export async function removePublished(ctx: DropinContext, only?: string[]): Promise<Removed[]> {
  const state = await ctx.state.read();
  const targets = new Map<string, Removed>();
  for (const d of state.dropins) if (!only || only.includes(d.path)) targets.set(d.path, { path: d.path, unit: d.unit, removed: false, source: 'state' });
  if (!only)
    for (const f of await scanForOurs(ctx.dropinDir))
      if (!targets.has(f.path)) targets.set(f.path, { path: f.path, unit: f.unit, removed: false, source: 'scan' });
  if (targets.size === 0) return [];
  for (const t of targets.values()) {
    t.removed = await removeFileDurable(t.path);
    await fs.rmdir(path.dirname(t.path)).catch(() => undefined); // only when empty
  }
  await ctx.systemd.reload();
  const units = [...new Set([...targets.values()].map((t) => t.unit).filter((u): u is string => !!u))];
  const running: string[] = [];
  for (const u of units) {
    const st = await ctx.systemd.status(u);
    if (st.loadState === 'loaded' && isRunning(st)) running.push(u);
  }
  try {
    await restartAll(ctx, running);
  } finally {
    await ctx.state.update((s) => {
      s.dropins = s.dropins.filter((d) => !targets.has(d.path));
    });
  }
  return [...targets.values()];
}
