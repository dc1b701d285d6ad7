import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS } from '../../../src/config/schema.js';
import { restorectl } from '../client/restorectl-cli.js';
import { runAgent } from './run-cli.js';

/**
 * One set of CLI conventions for both binaries: every configuration flag on every command of the
 * agent (before or after the command), `-o json` and `--json` the same bytes, errors printed the
 * same way. Against the built binaries; nothing here needs a Flight Control host: each command
 * gets as far as its first contact with one and stops there with that contact's own error.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'conventions-'));
const stateDir = path.join(dir, 'state');
mkdirSync(stateDir);
const CONNECTION = [
  '--dbus-address',
  `unix:path=${dir}/no-bus`,
  '--podman-socket',
  `${dir}/no-podman.sock`,
  '--podman-root',
  `${dir}/podman`,
  '--dropin-dir',
  `${dir}/dropins`,
  '--quadlet-dirs',
  `${dir}/q1:${dir}/q2`,
  '--state-dir',
  stateDir,
  '--unit-timeout-ms',
  '2000',
  '--flightctl-etc',
  `${dir}/etc`,
  '--db-name',
  'flightctl',
  '--strategy',
  'container-ip',
];

describe('one set of CLI conventions', () => {
  it.each([
    ['services', ['services']],
    ['run', ['run', '--check']],
    ['recover', ['recover']],
    ['runs', ['runs']],
    ['backup', ['backup']],
    ['serve', ['serve']],
  ])('%s takes the same connection options as every other command, after its name and before it', async (_name, command) => {
    for (const argv of [
      [...command, ...CONNECTION, '--json'],
      [...CONNECTION, '--json', ...command],
    ]) {
      const r = await runAgent(argv);
      // Whatever it then fails on (no bus, no Podman, no keys to serve with), it is not the options.
      expect(r.stderr, argv.join(' ')).not.toMatch(/unknown option|RESTORE_ERR_USAGE/);
      expect(r.stderr).not.toMatch(/RESTORE_ERR_CONFIG_INVALID: invalid configuration/);
    }
  });

  it('every configuration key with a flag is a flag of every command', async () => {
    const help = await runAgent(['runs', '--help']);
    expect(help.code).toBe(0);
    for (const k of CONFIG_KEYS.filter((c) => c.flag)) expect(help.stdout, k.key).toContain(k.flag!.split(' ')[0]);
  });

  it('an unknown option stays an error, with the usage code', async () => {
    const r = await runAgent(['runs', '--state-dri', stateDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error RESTORE_ERR_USAGE: unknown option '--state-dri'/);
  });

  it('-o json and --json give the same bytes, in both binaries', async () => {
    for (const cmd of [
      ['recover', '--state-dir', stateDir],
      ['runs', '--state-dir', stateDir],
    ]) {
      // One after the other: recover takes the host lock, so two at once would refuse each other.
      const a = await runAgent([...cmd, '-o', 'json']);
      const b = await runAgent([...cmd, '--json']);
      expect(a.code, a.stderr).toBe(0);
      expect(a.stdout).toBe(b.stdout);
      expect(() => JSON.parse(a.stdout)).not.toThrow();
    }
    const hosts = ['--host', 'one=http://127.0.0.1:9', '--host', 'two=unix:/nowhere.sock', '--list-hosts'];
    const [a, b] = await Promise.all([restorectl([...hosts, 'status', '-o', 'json']), restorectl(['status', ...hosts, '--json'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(JSON.parse(a.stdout)).toEqual({
      hosts: [
        { host: 'one', target: 'http://127.0.0.1:9' },
        { host: 'two', target: 'unix:/nowhere.sock' },
      ],
    });
  });

  it('-o text is text even off a terminal; -o json and -o text together with --json is a usage error', async () => {
    const text = await runAgent(['recover', '--state-dir', stateDir, '-o', 'text']);
    expect(text.stdout).toBe('ok: nothing to recover\n');
    const both = await runAgent(['recover', '--state-dir', stateDir, '-o', 'text', '--json']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/RESTORE_ERR_USAGE: --json and -o text contradict each other/);
  });

  it('both binaries print an error the same way: the line and what to do on stderr, {"error"} on stdout with JSON', async () => {
    const inventory = path.join(dir, 'broken.ini');
    writeFileSync(inventory, '[web\nfc1\n');
    const agent = await runAgent(['runs', '20261128T061500Z-00000000', '--state-dir', stateDir, '--json']);
    const ctl = await restorectl(['status', '-i', inventory, '--json']);
    for (const [r, code] of [
      [agent, 'RESTORE_ERR_RUN_NOT_FOUND'],
      [ctl, 'RESTORE_ERR_INVENTORY_INVALID'],
    ] as const) {
      const { error } = JSON.parse(r.stdout) as { error: Record<string, string> };
      expect(Object.keys(error)).toEqual(['code', 'message', 'hint']);
      expect(error.code).toBe(code);
      expect(r.stderr).toBe(`error ${code}: ${error.message}\n  what to do: ${error.hint}\n`);
    }
    // A run that does not exist is final (39), not "another run holds this host" (19, retry later).
    expect(agent.code).toBe(39);
    expect(ctl.code).toBe(2);
  });
});
