/**
 * The RPM as `npm run package` builds it, in a temporary directory of the test's own: built with
 * the real rpmbuild and unpacked with rpm2cpio | cpio, as an operator's host would lay it out.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../harness/quadlet-host/sandbox.js';

export const NAME = 'flightctl-restore-agent';
export const UNIT = `${NAME}.service`;
export const UNIT_SOURCE = path.join(PROJECT_ROOT, 'systemd', UNIT);
export const VERSION = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end within timeoutMs (then it is killed and the call fails). */
export function exec(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: Buffer } = {}): Promise<Exec> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'buffer' },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown; killed?: boolean }) | null;
        if (e && (typeof e.code !== 'number' || e.killed)) return reject(new Error(`${file} ${args.join(' ')}: ${e.message}`));
        resolve({ code: e ? (e.code as number) : 0, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
    if (opts.input) child.stdin!.end(opts.input);
  });
}

export interface BuiltPackage {
  dir: string;
  rpm: string;
  /** The unpacked payload: payload/usr/bin/..., payload/etc/... */
  payload: string;
  /** What scripts/bundle.mjs says went into the bundle. */
  manifest: { version: string; absent: string[]; packages: { name: string; version: string; licence: string }[] };
  remove(): void;
}

/** scripts/package.sh into a fresh directory (no type check: npm test runs it once), then unpacked. */
export async function buildPackage(): Promise<BuiltPackage> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpm-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const built = await exec(path.join(PROJECT_ROOT, 'scripts', 'package.sh'), [dir], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, PACKAGE_TYPECHECK: '0' },
      timeoutMs: 120_000,
    });
    if (built.code !== 0) throw new Error(`npm run package failed (${built.code}): ${built.stderr.slice(-3000)}`);
    const rpms = readdirSync(dir).filter((f) => f.endsWith('.noarch.rpm'));
    if (rpms.length !== 1) throw new Error(`expected one noarch RPM in ${dir}, found ${rpms.join(', ') || 'none'}`);
    const rpm = path.join(dir, rpms[0]!);
    const payload = path.join(dir, 'payload');
    const unpack = await exec('/bin/sh', ['-c', `mkdir -p "$2" && cd "$2" && rpm2cpio "$1" | cpio -idm --quiet`, 'unpack', rpm, payload]);
    if (unpack.code !== 0) throw new Error(`rpm2cpio | cpio failed: ${unpack.stderr}`);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'build', 'bundle', 'manifest.json'), 'utf8')) as BuiltPackage['manifest'];
    return { dir, rpm, payload, manifest, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** `rpm -qp` with these arguments, failing on any error. */
export async function rpmQuery(rpm: string, ...args: string[]): Promise<string> {
  const r = await exec('rpm', ['-qp', ...args, rpm]);
  if (r.code !== 0) throw new Error(`rpm -qp ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
