import path from 'node:path';
import { RestoreError } from '../lib/errors.js';
import { DEFAULT_PORT, DEFAULT_SOCKET, parseAgentAddress, targetFromHostFlag, targetFromSocket, type AgentTarget } from './agent-target.js';
import { HostSelector } from './inventory/host-patterns.js';
import { loadInventory } from './inventory/load-inventory.js';
import { VAULTED } from './inventory/yaml-inventory.js';

/** Inventory variables the client reads (the Ansible example playbook reads the same ones). */
export const INVENTORY_VARS = {
  url: 'restore_agent_url',
  caFile: 'restore_agent_ca_file',
  tokenFile: 'restore_agent_token_file',
  dump: 'restore_dump',
  archive: 'restore_archive',
} as const;

export interface TargetOptions {
  host?: string[] | undefined;
  socket?: string | undefined;
  inventory?: string | undefined;
  limit?: string | undefined;
  caFile?: string | undefined;
}

export interface ResolvedTargets {
  targets: AgentTarget[];
  /** For the operator (stderr): patterns that matched nothing, keys Ansible would skip. */
  warnings: string[];
  fromInventory: boolean;
}

function usage(message: string): RestoreError {
  return new RestoreError('RESTORE_ERR_USAGE', message);
}

function stringVar(file: string, host: string, key: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === VAULTED)
    throw new RestoreError(
      'RESTORE_ERR_INVENTORY_INVALID',
      `inventory ${file}: ${key} of host ${host} is vault-encrypted; this client cannot decrypt it, keep it unencrypted`,
    );
  if (typeof value !== 'string')
    throw new RestoreError('RESTORE_ERR_INVENTORY_INVALID', `inventory ${file}: ${key} of host ${host} must be a string, not ${JSON.stringify(value)}`);
  return value;
}

/**
 * The agents a command talks to: --host (repeatable), --socket, or the hosts of an Ansible
 * inventory that --limit selects, with the agent URL, CA bundle and token file from each host's
 * variables (group and host vars, with Ansible's precedence). Default: the local socket.
 */
export function resolveTargets(o: TargetOptions): ResolvedTargets {
  const hosts = o.host ?? [];
  if (o.inventory && (hosts.length || o.socket)) throw usage('--inventory selects the hosts; do not combine it with --host or --socket');
  if (o.limit !== undefined && !o.inventory) throw usage('--limit selects hosts of an inventory; give --inventory FILE');
  if (!o.inventory) {
    const targets = [...hosts.map((h) => targetFromHostFlag(h, o.caFile)), ...(o.socket ? [targetFromSocket(o.socket)] : [])];
    if (!targets.length) targets.push(targetFromSocket(DEFAULT_SOCKET));
    const names = new Set<string>();
    for (const t of targets) {
      if (names.has(t.name)) throw usage(`${t.name} is given twice; name them apart with --host NAME=URL`);
      names.add(t.name);
    }
    return { targets, warnings: [], fromInventory: false };
  }
  const loaded = loadInventory(o.inventory);
  const selector = new HostSelector(loaded.inventory);
  const selected = selector.select(o.limit);
  const warnings = [...loaded.warnings, ...selector.unmatched.map((p) => `host pattern ${p} matches no group or host of ${o.inventory}`)];
  const dir = path.dirname(path.resolve(o.inventory));
  const file = o.inventory;
  const targets = selected.map((h): AgentTarget => {
    const vars = loaded.inventory.varsOf(h);
    const addr = stringVar(file, h.name, 'ansible_host', vars.ansible_host) ?? h.name;
    const url = stringVar(file, h.name, INVENTORY_VARS.url, vars[INVENTORY_VARS.url]) ?? `https://${addr.includes(':') ? `[${addr}]` : addr}:${DEFAULT_PORT}`;
    let address;
    try {
      address = parseAgentAddress(url, `${INVENTORY_VARS.url} of host ${h.name}`);
    } catch (err) {
      throw new RestoreError('RESTORE_ERR_INVENTORY_INVALID', `inventory ${file}: ${(err as Error).message}`);
    }
    const rel = (p: string | undefined) => (p === undefined ? undefined : path.resolve(dir, p));
    const dump = stringVar(file, h.name, INVENTORY_VARS.dump, vars[INVENTORY_VARS.dump]);
    const archive = stringVar(file, h.name, INVENTORY_VARS.archive, vars[INVENTORY_VARS.archive]);
    return {
      name: h.name,
      url,
      address,
      caFile: rel(stringVar(file, h.name, INVENTORY_VARS.caFile, vars[INVENTORY_VARS.caFile])) ?? o.caFile,
      tokenFile: rel(stringVar(file, h.name, INVENTORY_VARS.tokenFile, vars[INVENTORY_VARS.tokenFile])),
      // As in the example playbook: an archive when the host has one, else its dump.
      restoreFrom: archive !== undefined ? { archive } : dump !== undefined ? { dump } : undefined,
    };
  });
  return { targets, warnings, fromInventory: true };
}

/** `ansible --list-hosts` prints exactly this. */
export function listHostsText(targets: AgentTarget[]): string {
  return `  hosts (${targets.length}):\n${targets.map((t) => `    ${t.name}\n`).join('')}`;
}
