/**
 * The sandbox Quadlets host a benchmark runs on, and the child processes it runs against it,
 * stopped on every path, as bench-servers.ts does for its servers: when the benchmark ends or
 * fails (a finally), on SIGINT/SIGTERM (exit 130, also during the start), and by a synchronous
 * `quadlet-host.sh stop` when the process exits some other way. A machine that cannot host the
 * sandbox (not root, no namespaces, no podman) is told why before anything starts.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cannotHost, SCRIPT, startSandbox, type Sandbox } from '../test/harness/quadlet-host/sandbox.js';
import { withLifecycle } from './bench-lifecycle.js';

export interface BenchSandbox {
  sb: Sandbox;
  /** A child process to end when the benchmark stops early (SIGTERM, then SIGKILL). */
  track(child: ChildProcess): void;
}

/**
 * Starts the sandbox (`settings`: QH_* variables of quadlet-host.sh), runs fn on it, and stops it
 * whatever happens. A signal stops the children, waits for a start under way, stops the sandbox,
 * then exits 130.
 */
export async function withBenchSandbox<T>(settings: Record<string, string>, fn: (env: BenchSandbox) => Promise<T>, log: (msg: string) => void): Promise<T> {
  if (process.getuid?.() !== 0) throw new Error('the restore benchmark runs on the sandbox Quadlets host, which needs root: run it as root');
  const why = cannotHost();
  if (why) throw new Error(`this machine cannot host the sandbox Quadlets host the benchmark runs on: ${why}`);

  let starting: Promise<Sandbox> | undefined;
  // Known once started; the exit handler can only act synchronously, with the directory.
  let startedDir: string | undefined;
  const teardown = {
    onSignal: 'stopping what this benchmark started',
    async stop() {
      // A start under way is waited for, so what it brings up is stopped too (a failed start stops itself).
      const sb = await starting?.catch(() => undefined);
      if (sb) {
        log('stopping the sandbox Quadlets host');
        await sb.stop();
      }
      startedDir = undefined;
    },
    atExit() {
      if (!startedDir) return;
      spawnSync(SCRIPT, ['stop', startedDir], { stdio: 'ignore', timeout: 120_000 });
      rmSync(startedDir, { recursive: true, force: true });
    },
  };
  return withLifecycle(teardown, log, async ({ track, checkNotStopping }) => {
    log('starting the sandbox Quadlets host (systemd, Podman, flightctl-db, flightctl-kv, 5 application units)');
    starting = startSandbox(settings);
    const sb = await starting;
    startedDir = sb.dir;
    log(`sandbox up in ${sb.dir}`);
    // A signal that came during the start must not be followed by the benchmark.
    checkNotStopping('starting the sandbox');
    return fn({ sb, track });
  });
}
