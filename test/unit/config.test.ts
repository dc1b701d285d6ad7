import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_KEYS, loadConfig } from '../../src/config/load.js';
import { CONFIG_KEYS } from '../../src/config/schema.js';
import { RestoreError } from '../../src/lib/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'fcra-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, `${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

function errorOf(fn: () => unknown): RestoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RestoreError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('loadConfig', () => {
  it('has the defaults operators know from Flight Control', () => {
    const c = loadConfig();
    expect(c.db).toMatchObject({ host: 'localhost', port: 5432, name: 'flightctl', user: 'flightctl_app' });
    expect(c.kv).toMatchObject({ host: 'localhost', port: 6379 });
    expect(c.log.level).toBe('info');
  });

  it('layers file < environment < flags', () => {
    const path = file('db:\n  host: db.example\n  port: 6000\n  name: fromfile\nkv:\n  port: 7000\n');
    const c = loadConfig({ file: path, env: { FLIGHTCTL_RESTORE_DB_PORT: '6001', FLIGHTCTL_RESTORE_KV_PORT: '7001' }, flags: { 'kv.port': '7002' } });
    expect(c.db).toMatchObject({ host: 'db.example', port: 6001, name: 'fromfile' });
    expect(c.kv.port).toBe(7002);
  });

  it('reads the Quadlets host settings from the environment, colon lists included', () => {
    const c = loadConfig({
      env: { FLIGHTCTL_RESTORE_QUADLET_DIRS: '/a:/b', FLIGHTCTL_RESTORE_ENDPOINT_STRATEGY: 'publish-dropin', FLIGHTCTL_RESTORE_UNIT_TIMEOUT_MS: '5000' },
    });
    expect(c.host).toMatchObject({
      quadletDirs: ['/a', '/b'],
      endpointStrategy: 'publish-dropin',
      unitTimeoutMs: 5000,
      podmanSocket: '/run/podman/podman.sock',
    });
    const bad = errorOf(() => loadConfig({ env: { FLIGHTCTL_RESTORE_ENDPOINT_STRATEGY: 'tunnel' } }));
    expect(bad.message).toContain('host.endpointStrategy (from environment FLIGHTCTL_RESTORE_ENDPOINT_STRATEGY)');
    expect(bad.message).toContain('allowed: container-ip, publish-dropin');
  });

  it('is frozen, deeply', () => {
    const c = loadConfig();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.db)).toBe(true);
    expect(() => {
      (c.db as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('names the key, where it came from and what is allowed', () => {
    const port = errorOf(() => loadConfig({ flags: { 'db.port': 'abc' } }));
    expect(port.code).toBe('RESTORE_ERR_CONFIG_INVALID');
    expect(port.message).toContain('db.port (from flag --db-port)');
    expect(port.message).toContain('1-65535');
    const level = errorOf(() => loadConfig({ env: { FLIGHTCTL_RESTORE_LOG_LEVEL: 'chatty' } }));
    expect(level.message).toContain('log.level (from environment FLIGHTCTL_RESTORE_LOG_LEVEL)');
    expect(level.message).toContain('allowed: error, warn, info, debug');
    expect(errorOf(() => loadConfig({ flags: { 'kv.port': '70000' } })).message).toContain('kv.port');
    // The flag as it is spelled, not one made up from the key (host.stateDir is --state-dir).
    expect(errorOf(() => loadConfig({ flags: { 'host.stateDir': '  ' } })).message).toContain('host.stateDir (from flag --state-dir)');
    expect(errorOf(() => loadConfig({ flags: { 'host.endpointStrategy': 'teleport' } })).message).toContain('host.endpointStrategy (from flag --strategy)');
  });

  it('every key is declared once with its description; variables and flags are unique', () => {
    expect(CONFIG_KEYS.length).toBeGreaterThan(50);
    for (const k of CONFIG_KEYS) expect(k.doc.length, k.key).toBeGreaterThan(10);
    const envs = CONFIG_KEYS.flatMap((k) => (k.env ? [k.env] : []));
    const flags = CONFIG_KEYS.flatMap((k) => (k.flag ? [k.flag.split(' ')[0]] : []));
    expect(new Set(envs).size).toBe(envs.length);
    expect(new Set(flags).size).toBe(flags.length);
    // Every variable the loader reads is one of the table's.
    expect(Object.keys(ENV_KEYS).sort()).toEqual([...envs].sort());
  });

  it('rejects unknown keys instead of ignoring a typo', () => {
    const err = errorOf(() => loadConfig({ file: file('db:\n  hots: x\n') }));
    expect(err.message).toContain('unknown key db.hots');
    expect(errorOf(() => loadConfig({ file: file('dbx: 1\n') })).message).toContain('unknown key dbx');
  });

  it('has no place for a password in the file', () => {
    expect(errorOf(() => loadConfig({ file: file('db:\n  password: hunter22\n') })).message).toContain('unknown key db.password');
  });

  it('reports unreadable and malformed files', () => {
    expect(errorOf(() => loadConfig({ file: join(dir, 'missing.yaml') })).message).toMatch(/cannot be read \(ENOENT\)/);
    expect(errorOf(() => loadConfig({ file: file('db: [unclosed\n') })).message).toContain('not valid YAML');
    expect(errorOf(() => loadConfig({ file: file('- a\n- b\n') })).message).toContain('mapping');
    expect(loadConfig({ file: file('') }).db.port).toBe(5432);
  });
});
