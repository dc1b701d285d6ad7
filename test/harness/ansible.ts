/**
 * Debian's ansible-core as the reference the fleet client is checked against: its inventory
 * parsing (ansible-inventory --list), host selection (ansible all --limit P --list-hosts) and its
 * InventoryManager for a battery of patterns in one process. Ansible's own warnings are turned
 * into errors where the client fails (an inventory Ansible cannot parse).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REFERENCE = resolve(import.meta.dirname, 'ansible-reference.py');

/** An empty ansible.cfg (none from the machine or the working directory), no retry files or colours. */
const EMPTY_CFG = path.join(mkdtempSync(path.join(tmpdir(), 'ansible-cfg-')), 'ansible.cfg');
writeFileSync(EMPTY_CFG, '[defaults]\n');

export const ANSIBLE_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: process.env.HOME ?? '/root',
  ANSIBLE_CONFIG: EMPTY_CFG,
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_RETRY_FILES_ENABLED: '0',
  ANSIBLE_INVENTORY_UNPARSED_FAILED: '1',
  ANSIBLE_LOCALHOST_WARNING: '0',
  ANSIBLE_HOST_KEY_CHECKING: '0',
};

export function hasAnsible(): Promise<boolean> {
  return run('ansible', ['--version'], { env: ANSIBLE_ENV }).then(
    () => true,
    () => false,
  );
}

export interface AnsibleList {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  [group: string]: { hosts?: string[]; children?: string[] } | AnsibleList['_meta'];
}

export async function ansibleInventoryList(file: string): Promise<AnsibleList> {
  const { stdout } = await run('ansible-inventory', ['-i', file, '--list'], { env: ANSIBLE_ENV, maxBuffer: 64 << 20 });
  return JSON.parse(stdout) as AnsibleList;
}

/** ansible all --limit P --list-hosts: stdout, stderr and the exit code, as they are. */
export async function ansibleListHosts(file: string, limit?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = ['all', '-i', file, '--list-hosts', ...(limit !== undefined ? ['--limit', limit] : [])];
  return run('ansible', args, { env: ANSIBLE_ENV }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    }),
  );
}

/**
 * The serial batches ansible-playbook runs for a `hosts: all` play (as the collection's restore
 * playbook is) with --limit and `serial:`, each batch's hosts in the order they start: with
 * --forks 1 the linear strategy starts them one by one, so the order the `ok:` lines come in is
 * the start order. A batch begins at each `PLAY [all]` header.
 */
export async function ansiblePlaybookBatches(file: string, limit: string, serial: string[]): Promise<string[][]> {
  const play = path.join(mkdtempSync(path.join(tmpdir(), 'ansible-play-')), 'batches.yml');
  const sizes = serial.map((s) => (/^\d+$/.test(s) ? s : JSON.stringify(s))).join(', ');
  writeFileSync(play, `- hosts: all\n  gather_facts: false\n  serial: [${sizes}]\n  tasks:\n    - ansible.builtin.debug: {msg: ran}\n`);
  const { stdout } = await run('ansible-playbook', ['-i', file, '--limit', limit, '--forks', '1', play], { env: ANSIBLE_ENV, maxBuffer: 64 << 20 });
  const batches: string[][] = [];
  for (const line of stdout.split('\n')) {
    if (line.startsWith('PLAY [all]')) batches.push([]);
    const ok = /^ok: \[([^\]]+)\]/.exec(line);
    if (ok) batches.at(-1)!.push(ok[1]!);
  }
  return batches;
}

export interface ReferenceAnswer {
  file: string;
  error: string | null;
  limits: Record<string, string[] | { error: string }>;
}

/** The Python that runs ansible (its shebang): another python3 on PATH may not have the ansible package. */
async function ansiblePython(): Promise<string> {
  const { stdout } = await run('sh', ['-c', 'command -v ansible'], { env: ANSIBLE_ENV });
  const shebang = readFileSync(stdout.trim(), 'utf8').split('\n')[0]!;
  const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(shebang);
  if (!m) throw new Error(`cannot tell which Python runs ansible from: ${shebang}`);
  return m[1]!.endsWith('/env') ? m[2]! : m[1]!;
}

/** For each inventory, the hosts Ansible targets for each --limit, from its InventoryManager. */
export async function ansibleSelections(items: Array<{ file: string; limits: string[] }>): Promise<ReferenceAnswer[]> {
  const child = execFile(await ansiblePython(), [REFERENCE], { env: ANSIBLE_ENV, maxBuffer: 64 << 20 });
  child.stdin!.end(JSON.stringify(items));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  if (code !== 0) throw new Error(`ansible-reference.py failed (${code}): ${stderr.slice(-2000)}`);
  return JSON.parse(stdout) as ReferenceAnswer[];
}
