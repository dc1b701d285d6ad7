import { describe, expect, it } from 'vitest';
import { databaseSite, parseServiceConfig } from '../../src/flightctl/service-config.js';

const site = (yaml: string) => databaseSite(parseServiceConfig(yaml, 'service-config.yaml'), '/etc/flightctl', 'service-config.yaml');

describe("Flight Control's service-config.yaml: where its database is", () => {
  it('no db section, type builtin: the built-in database', () => {
    expect(site('global:\n  baseDomain: x\n')).toEqual({ kind: 'builtin', name: 'flightctl' });
    expect(site('db:\n  name: fc\n  type: "builtin"\n')).toEqual({ kind: 'builtin', name: 'fc' });
  });

  it('type external, as the current releases write it: TLS files where upstream puts them', () => {
    expect(
      site(
        'db:\n  type: "external"\n  external:\n    hostname: "pg.example.com"\n    port: 6432\n    name: fcdb\n    sslmode: "verify-full"\n    useClientCertAuth: true\n',
      ),
    ).toEqual({
      kind: 'external',
      host: 'pg.example.com',
      port: 6432,
      name: 'fcdb',
      form: 'db.type',
      tls: {
        mode: 'verify-full',
        caFile: '/etc/flightctl/pki/db/ca.crt',
        certFile: '/etc/flightctl/pki/db/client.crt',
        keyFile: '/etc/flightctl/pki/db/client.key',
      },
    });
    // Defaults: port 5432, the db name, sslmode prefer (as Flight Control's driver), no CA for require.
    expect(site('db:\n  name: flightctl\n  type: external\n  external:\n    hostname: pg\n    sslmode: require\n')).toMatchObject({
      port: 5432,
      name: 'flightctl',
      tls: { mode: 'require' },
    });
    expect(site('db:\n  type: external\n  external:\n    hostname: pg\n')).toMatchObject({ tls: { mode: 'prefer' } });
  });

  it('the older external: enabled form, with its own TLS paths and user', () => {
    expect(
      site('db:\n  external: "enabled"\n  hostname: old-pg\n  port: "5433"\n  name: fc\n  user: app\n  sslmode: verify-ca\n  sslrootcert: pki/db-ca.crt\n'),
    ).toEqual({
      kind: 'external',
      host: 'old-pg',
      port: 5433,
      name: 'fc',
      user: 'app',
      form: 'db.external: enabled',
      tls: { mode: 'verify-ca', caFile: '/etc/flightctl/pki/db-ca.crt' },
    });
  });

  it('refuses what Flight Control could not use, naming the key', () => {
    expect(() => site('db:\n  type: external\n')).toThrow(/db\.external\.hostname is not set/);
    expect(() => site('db:\n  type: external\n  external:\n    hostname: pg\n    port: 99999\n')).toThrow(/port "99999" is not a port number/);
    expect(() => site('db:\n  type: external\n  external:\n    hostname: pg\n    sslmode: strict\n')).toThrow(
      /sslmode "strict" is not one of disable, allow, prefer, require, verify-ca, verify-full/,
    );
    expect(() => site('db:\n  type: cloud\n')).toThrow(/db\.type is "cloud"/);
    expect(() => parseServiceConfig('- a\n- b\n', 'f.yaml')).toThrow(expect.objectContaining({ code: 'RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID' }));
    expect(() => parseServiceConfig('a: [\n', 'f.yaml')).toThrow(/f\.yaml is not a YAML mapping/);
  });
});
