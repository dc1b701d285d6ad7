/**
 * Placeholder so the integration project runs on the quadlet-target branch: the PG/Redis harness
 * that vitest.config.ts names lives on main; on merge, main's version of this file wins.
 * The Quadlets-host tests start their own sandbox (test/harness/quadlet-host/sandbox.ts).
 */
export default function setup(): () => void {
  return () => undefined;
}
