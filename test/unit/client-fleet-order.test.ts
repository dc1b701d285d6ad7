import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentClient } from '../../src/client/agent-client.js';
import type { AgentTarget } from '../../src/client/agent-target.js';
import { fanOut } from '../../src/client/fleet/fan-out.js';
import { restoreFleet, type FleetHooks } from '../../src/client/fleet/restore-fleet.js';
import { parseSerial } from '../../src/client/fleet/serial.js';
import { resolveTargets } from '../../src/client/targets.js';

/**
 * The order hosts run in, from the inventory to the agents: --serial batches and the --forks
 * start order follow the order host selection gives (Ansible's, checked against ansible-core in
 * test/integration/client/inventory-ansible.test.ts), never an order of their own.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'fleet-order-'));
const inventory = (name: string, text: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
};
const FLAT = inventory('flat.ini', '[web]\nweb[01:06]\n\n[canary]\nweb02\n');
// web below prod: all's hosts level by level, so canary's web02 and drain's web05 come first (as
// `ansible all --limit web` and a `hosts: all` play with --limit web run them).
const NESTED = inventory('nested.ini', '[web]\nweb[01:06]\n\n[prod:children]\nweb\n\n[canary]\nweb02\n\n[drain]\nweb05\n');
const NESTED_YAML = inventory(
  'nested.yml',
  [
    'all:',
    '  children:',
    '    prod:',
    '      children:',
    '        web:',
    '          hosts:',
    '            web[01:06]:',
    '    canary:',
    '      hosts: web02',
    '    drain:',
    '      hosts: web05',
  ].join('\n'),
);

/** Agents that accept a restore and record the order the client called them in. */
function fakeAgents() {
  const calls: string[] = [];
  const clientFor = (t: AgentTarget) =>
    ({
      json: async () => {
        calls.push(t.name);
        await new Promise((r) => setTimeout(r, 1));
        return { id: `run-${t.name}`, phase: 'Running', startedAt: '2026-12-07T00:00:00Z' };
      },
    }) as unknown as AgentClient;
  return { calls, clientFor };
}

async function runFleet(file: string, limit: string, serial: string[], forks: number) {
  const { targets } = resolveTargets({ inventory: file, limit });
  const { calls, clientFor } = fakeAgents();
  const starting: string[] = [];
  const noop = () => {};
  const hooks: FleetHooks = { hostStarting: (t) => starting.push(t.name), runStarted: noop, event: noop, reconnecting: noop, hostDone: noop, note: noop };
  const never = new AbortController().signal;
  const { results } = await restoreFleet(
    targets,
    { request: {}, wait: false, forks, maxFail: undefined, serial: parseSerial(serial), clientFor, stopStarting: never, detach: never },
    hooks,
  );
  const batches: string[][] = [];
  for (const r of results) (batches[r.batch - 1] ??= []).push(r.host);
  return { selected: targets.map((t) => t.name), starting, calls, batches };
}

describe('fleet runs hosts in the order of the inventory selection', () => {
  it('--serial batches and the --forks start order follow the selection (flat inventory: file order)', async () => {
    const r = await runFleet(FLAT, 'web', ['2'], 2);
    expect(r.selected).toEqual(['web01', 'web02', 'web03', 'web04', 'web05', 'web06']);
    expect(r.batches).toEqual([
      ['web01', 'web02'],
      ['web03', 'web04'],
      ['web05', 'web06'],
    ]);
    expect(r.starting).toEqual(r.selected);
    expect(r.calls).toEqual(r.selected);
  });

  for (const [what, file] of [
    ['INI', NESTED],
    ['YAML', NESTED_YAML],
  ] as const) {
    it(`keeps Ansible's order for a nested group (${what}): batches, then hosts started in order within each`, async () => {
      const r = await runFleet(file, 'web', ['1', '50%'], 3);
      expect(r.selected).toEqual(['web02', 'web05', 'web01', 'web03', 'web04', 'web06']);
      expect(r.batches).toEqual([['web02'], ['web05', 'web01', 'web03'], ['web04', 'web06']]);
      expect(r.starting).toEqual(r.selected);
      expect(r.calls).toEqual(r.selected);
    });
  }

  it('the other commands (fan-out) contact hosts in the same order, --forks at a time', async () => {
    const { targets } = resolveTargets({ inventory: NESTED, limit: 'web:!canary' });
    const { calls, clientFor } = fakeAgents();
    const values = await fanOut(targets, 2, (t) => clientFor(t).json('GET', '/v1/restores'));
    expect(calls).toEqual(['web05', 'web01', 'web03', 'web04', 'web06']);
    expect(values.map((v) => v.target.name)).toEqual(calls);
  });
});
