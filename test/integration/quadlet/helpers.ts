import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../../../src/config/schema.js';
import { configSchema } from '../../../src/config/schema.js';
import { sandboxHostConfig, type Sandbox } from '../../harness/quadlet-host/sandbox.js';

/** The `host:` config section pointing at a sandbox, with a fresh state dir. */
export function hostSettings(sb: Sandbox, over: Partial<Config['host']> = {}): Config['host'] {
  return configSchema.parse({
    host: { ...sandboxHostConfig(sb, mkdtempSync(path.join(sb.dir, 'state-'))), unitTimeoutMs: 60_000, ...over },
  }).host;
}

export async function waitFor<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
