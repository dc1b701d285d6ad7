/**
 * Test-side handle on the sandbox Quadlets host (quadlet-host.sh beside this file): starts it in a
 * fresh temp dir, parses DIR/env, and stops it again (everything it started, by PID/cgroup).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The project root, found upward from this file (it runs from test/ under vitest and from dist/test/ when built). */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
export const PROJECT_ROOT = projectRoot();
export const SCRIPT = path.join(PROJECT_ROOT, 'test', 'harness', 'quadlet-host', 'quadlet-host.sh');

export interface Sandbox {
  dir: string;
  busAddress: string;
  podmanSocket: string;
  /** graphroot as the host sees it (the secrets file driver store is below it). */
  podmanRoot: string;
  dropinDir: string;
  quadletDirs: string[];
  /** /etc/systemd/system of the sandbox, as the host sees it: plain test units go here. */
  unitDir: string;
  nsPid: number;
  /** Network gateway (the bridge's host address): a non-loopback address the test itself created. */
  bridgeSubnet: string;
  secrets: Record<string, string>;
  /** Runs a command inside the sandbox's namespaces (systemctl, podman): test set-up only. */
  nsExec(args: string[]): Promise<{ stdout: string; stderr: string }>;
  /**
   * A power loss and a boot on the same disk (quadlet-host.sh reboot): every process killed at
   * once, /run emptied, systemd booted again; the KV store comes back empty. `dbStartDelaySec`:
   * PostgreSQL starts that long after its container (the call then returns before it answers).
   */
  reboot(opts?: { dbStartDelaySec?: number }): Promise<void>;
  stop(): Promise<void>;
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  return out;
}

/** Why this machine cannot host the sandbox, or undefined when it can. */
export function cannotHost(): string | undefined {
  const r = spawnSync(SCRIPT, ['preflight', '/tmp/unused'], { encoding: 'utf8' });
  if (r.error) return `cannot run ${SCRIPT}: ${r.error.message}`;
  return r.status === 0 ? undefined : (r.stderr ?? '').trim() || `preflight exited ${r.status}`;
}

/** `settings`: QH_* variables of quadlet-host.sh for this sandbox (e.g. QH_DB_VOLUME_BLOCKS). */
export async function startSandbox(settings: Record<string, string> = {}): Promise<Sandbox> {
  const dir = mkdtempSync(path.join(tmpdir(), 'qh-'));
  const stop = async () => {
    await run(SCRIPT, ['stop', dir], { timeout: 120_000 }).catch((err) => {
      process.stderr.write(`quadlet-host stop failed: ${(err as Error).message}\n`);
    });
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(SCRIPT, ['start', dir], { timeout: 180_000, env: { ...process.env, ...settings } });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    let console = '';
    try {
      console = readFileSync(path.join(dir, 'console.log'), 'utf8').slice(-3000);
    } catch {
      /* none */
    }
    await stop();
    throw new Error(`sandbox Quadlets host did not start: ${e.stderr ?? e.message}\n${console}`);
  }
  const env = parseEnv(readFileSync(path.join(dir, 'env'), 'utf8'));
  const secretFile = (name: string) => readFileSync(path.join(dir, 'secrets', name), 'utf8');
  const names = ['flightctl-postgresql-password', 'flightctl-postgresql-master-password', 'flightctl-postgresql-user-password', 'flightctl-kv-password'];
  let nsPid = Number(env.QH_NSPID);
  const sandbox: Sandbox = {
    dir,
    busAddress: env.DBUS_SYSTEM_BUS_ADDRESS!,
    podmanSocket: env.QH_PODMAN_SOCK!,
    podmanRoot: path.join(dir, 'var-lib-containers', 'storage'),
    dropinDir: path.join(dir, 'run', 'containers', 'systemd'),
    quadletDirs: [path.join(dir, 'run', 'containers', 'systemd'), path.join(dir, 'etc-containers-systemd'), path.join(dir, 'quadlets')],
    unitDir: path.join(dir, 'etc-systemd-system'),
    get nsPid() {
      return nsPid;
    },
    bridgeSubnet: env.QH_NET_SUBNET ?? '',
    secrets: Object.fromEntries(names.map((n) => [n, secretFile(n)])),
    nsExec: (args) => run('nsenter', ['-t', String(nsPid), '-m', '-p', '--', ...args], { timeout: 60_000 }),
    async reboot(opts = {}) {
      const delay = opts.dbStartDelaySec !== undefined ? { QH_DB_START_DELAY: String(opts.dbStartDelaySec) } : {};
      await run(SCRIPT, ['reboot', dir], { timeout: 180_000, env: { ...process.env, ...settings, ...delay } });
      const after = parseEnv(readFileSync(path.join(dir, 'env'), 'utf8'));
      nsPid = Number(after.QH_NSPID);
      sandbox.busAddress = after.DBUS_SYSTEM_BUS_ADDRESS!;
    },
    stop,
  };
  return sandbox;
}

/** The agent's `host:` configuration section pointing at this sandbox (as an operator's /etc file would). */
export function sandboxHostConfig(sb: Sandbox, stateDir: string): Record<string, unknown> {
  return {
    dbusAddress: sb.busAddress,
    podmanSocket: sb.podmanSocket,
    podmanRoot: sb.podmanRoot,
    dropinDir: sb.dropinDir,
    quadletDirs: sb.quadletDirs,
    // /etc/containers/systemd inside the sandbox: what holds units down across its reboot.
    holdDir: sb.quadletDirs[1],
    stateDir,
  };
}
