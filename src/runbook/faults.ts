import { existsSync, writeFileSync } from 'node:fs';
import { RestoreError } from '../lib/errors.js';

/**
 * Failure injection for the crash and failure tests, inert unless a test sets
 * FLIGHTCTL_RESTORE_TEST_FAULT explicitly:
 *   fail:<point>   the run fails there with RESTORE_ERR_INTERNAL ("injected failure at <point>")
 *   hold:<point>   the process writes FLIGHTCTL_RESTORE_TEST_FAULT_FILE and waits there (until a
 *                  signal ends the run, the test kills it with SIGKILL, or the test removes the
 *                  file: then the run goes on)
 * Points: before:<step>, after:<step>, progress:<step> (the first progress report of the step,
 * that is in the middle of a dump load or of the key writes).
 * Both variables are read once and removed from the environment.
 */
const spec = process.env.FLIGHTCTL_RESTORE_TEST_FAULT;
const holdFile = process.env.FLIGHTCTL_RESTORE_TEST_FAULT_FILE;
delete process.env.FLIGHTCTL_RESTORE_TEST_FAULT;
delete process.env.FLIGHTCTL_RESTORE_TEST_FAULT_FILE;

const parsed = spec ? /^(hold|fail):((?:before|after|progress):[a-z-]+)$/.exec(spec) : null;
let fired = false;

export async function faultPoint(point: string, signal?: AbortSignal): Promise<void> {
  if (!parsed || fired || parsed[2] !== point) return;
  fired = true;
  if (parsed[1] === 'fail') throw new RestoreError('RESTORE_ERR_INTERNAL', `injected failure at ${point}`);
  if (holdFile) writeFileSync(holdFile, `${process.pid}\n`);
  // The timer also keeps the process alive while holding (an AbortSignal listener alone does not).
  let poll: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
    poll = setInterval(() => {
      if (holdFile && !existsSync(holdFile)) resolve();
    }, 50);
  });
  clearInterval(poll);
}
