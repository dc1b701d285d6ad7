/**
 * What every benchmark does around its work: the child processes it runs, one stop for every path
 * (the end, a failure, SIGINT/SIGTERM and then exit 130), and a synchronous last resort when the
 * process exits some other way. Each benchmark says only what it started and how to stop that.
 */
import type { ChildProcess } from 'node:child_process';

export interface Lifecycle {
  /** A child process to end when the benchmark stops early (SIGTERM, then SIGKILL after a grace). */
  track(child: ChildProcess): void;
  /** Throws once a signal asked to stop: a start under way must not be followed by the next one. */
  checkNotStopping(what: string): void;
}

export interface Teardown {
  /** Stops what the benchmark started (its children are stopped first); waits for a start under way. */
  stop(): Promise<void>;
  /** At process exit, synchronously: by PID and by path, whatever stop did not get to. */
  atExit(): void;
  /** Logged on a signal. */
  onSignal: string;
}

/** How long a child (the agent, a load generator) gets to finish after SIGTERM before it is killed. */
const CHILD_GRACE_MS = 20_000;

const running = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

async function stopChildren(children: Set<ChildProcess>): Promise<void> {
  await Promise.all(
    [...children].filter(running).map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, CHILD_GRACE_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

export async function withLifecycle<T>(teardown: Teardown, log: (msg: string) => void, body: (lc: Lifecycle) => Promise<T>): Promise<T> {
  const children = new Set<ChildProcess>();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await stopChildren(children);
      await teardown.stop();
    })());
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // Repeated signals are ignored rather than left to their default, which would skip the stop.
    if (signalled) return;
    signalled = true;
    log(`${signal} received: ${teardown.onSignal}`);
    // What the benchmark talks to goes away under its open connections; their errors are expected
    // and must not end the process before the stop is done.
    process.on('uncaughtException', () => undefined);
    void stop().finally(() => process.exit(130));
  };
  const onExit = () => {
    for (const child of children) if (running(child)) child.kill('SIGKILL');
    teardown.atExit();
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal).on('exit', onExit);
  try {
    return await body({
      track: (child) => children.add(child.once('exit', () => children.delete(child))),
      checkNotStopping: (what) => {
        if (stopping) throw new Error(`interrupted while ${what}`);
      },
    });
  } catch (err) {
    // After a signal, the body fails because what it used went away: the outcome is the exit 130
    // that onSignal makes once the stop is done, not this error.
    if (signalled) await new Promise<never>(() => undefined);
    throw err;
  } finally {
    await stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal).off('exit', onExit);
  }
}
