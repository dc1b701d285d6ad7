import { execFile } from 'node:child_process';
import type { Logger } from './logger.js';

/** How long systemd may take to acknowledge the message before we give up waiting. */
const NOTIFY_TIMEOUT_MS = 10_000;

/**
 * Tells systemd that serve is ready (the unit is Type=notify), so `systemctl start` returns, and
 * units ordered after this one start, only once the API answers and an interrupted run has been
 * finished. Outside systemd (no NOTIFY_SOCKET) it does nothing.
 *
 * Node cannot send on the AF_UNIX datagram socket that sd_notify uses, so this runs
 * `systemd-notify --ready`, which the unit allows with NotifyAccess=all. systemd-notify waits
 * (since systemd 246, without --no-block) until systemd has processed the message, so the
 * message is not lost to the race in which systemd-notify exits before systemd can tell which
 * unit sent it. A failure is logged and otherwise ignored: the API serves either way, and
 * systemd then ends the start at TimeoutStartSec, saying why.
 */
export function notifyReady(logger: Logger, status = 'ready'): Promise<void> {
  return notify(logger, ['--ready', `--status=${status}`]);
}

/**
 * While serve is not ready yet because it waits to finish an interrupted run (the database not
 * back after a boot): the unit's status says why, and its start timeout is extended by `extendMs`
 * each time, so systemd does not kill a start that is only waiting.
 */
export function notifyWaiting(logger: Logger, status: string, extendMs: number): Promise<void> {
  return notify(logger, [`--status=${status}`, `EXTEND_TIMEOUT_USEC=${Math.round(extendMs * 1000)}`]);
}

function notify(logger: Logger, args: string[]): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve();
  const ready = args.includes('--ready');
  return new Promise((resolve) => {
    // Only what systemd-notify needs: nothing else of the agent's environment reaches a child.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: process.env.NOTIFY_SOCKET };
    execFile('systemd-notify', args, { timeout: NOTIFY_TIMEOUT_MS, env }, (err, _stdout, stderr) => {
      if (err && !ready) {
        logger.warn('systemd was not told why the agent is not ready yet', { error: `systemd-notify: ${stderr.trim() || err.message}` });
        return resolve();
      }
      if (err) {
        logger.warn('systemd was not told that the agent is ready: the unit start will time out', {
          error: `systemd-notify: ${stderr.trim() || err.message}`,
          hint: 'systemd-notify (package systemd) must be on PATH and the unit needs NotifyAccess=all, as the shipped unit has',
        });
      } else {
        logger.debug(ready ? 'systemd told the agent is ready' : 'systemd told why the agent is not ready yet');
      }
      resolve();
    });
  });
}
