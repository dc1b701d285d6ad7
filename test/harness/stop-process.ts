import { rmSync } from 'node:fs';

/** Signals a server the harness started (by its PID only), waits until it is gone, removes its directory. */
export async function stopProcess(pid: number, signal: NodeJS.Signals, dir: string, timeoutMs = 5000): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    try {
      process.kill(pid, 0);
      await new Promise((r) => setTimeout(r, 25));
    } catch {
      break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
