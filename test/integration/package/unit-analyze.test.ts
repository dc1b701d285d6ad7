import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage, exec, UNIT, UNIT_SOURCE, type BuiltPackage } from './package-env.js';

/**
 * What `systemd-analyze security` may still find exposed in the unit, and why the agent needs it.
 * Anything else it reports fails the test: a hardening option lost is a regression.
 */
const ACCEPTED = {
  'User=/DynamicUser=': 'root: systemd over the system bus and the root-owned Podman socket',
  'PrivateNetwork=': 'it reaches the database and KV containers on the flightctl bridge',
  'RestrictAddressFamilies=~AF_UNIX': 'the bus, the Podman socket and its own API socket',
  'RestrictAddressFamilies=~AF_(INET|INET6)': "the containers, an HTTPS listener, Flight Control's API",
  'IPAddressDeny=': "container addresses and Flight Control's API are site-specific",
  'NotifyAccess=': 'readiness comes from systemd-notify, a child process',
  'MemoryDenyWriteExecute=': "V8's JIT",
  'RootDirectory=/RootImage=': "it works on the host's own files",
  'DeviceAllow=': 'ProtectClock= itself allows reading the RTC',
  'ProtectProc=': 'the host lock must see a `run` holder started from a root shell',
  'PrivateUsers=': "an archive restore sets the owners of a volume's files, whoever they are",
  'CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)': "a volume's files are read and replaced whoever owns them",
  'CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)': "a volume's files keep their owners",
  'SystemCallFilter=~@privileged': 'chown (@chown), for the same reason; the rest of @privileged stays denied',
} as const;

describe('the systemd unit, analysed by systemd', () => {
  let pkg: BuiltPackage;
  beforeAll(async () => {
    pkg = await buildPackage();
  });
  afterAll(() => pkg?.remove());

  it('systemd-analyze security --offline=yes: exposure 4.0 or lower, nothing exposed beyond what the agent needs', async () => {
    const r = await exec('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT_SOURCE]);
    const score = /Overall exposure level for .*: (\d+\.\d+) (\S+)/.exec(r.stdout);
    expect(score, r.stdout + r.stderr).not.toBeNull();
    console.info(`systemd-analyze security --offline=yes ${path.basename(UNIT_SOURCE)}: exposure ${score![1]} ${score![2]}`);
    expect(Number(score![1])).toBeLessThanOrEqual(4.0);
    const exposed = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('✗'))
      .map((l) =>
        l
          .slice(2)
          .split(/\s{2,}/)[0]!
          .trim(),
      );
    expect(exposed.filter((e) => !(e in ACCEPTED))).toEqual([]);
    for (const option of [
      'ProtectSystem=',
      'ProtectHome=',
      'PrivateTmp=',
      'PrivateDevices=',
      'NoNewPrivileges=',
      'SystemCallArchitectures=',
      'LockPersonality=',
      'UMask=',
      'CapabilityBoundingSet=~CAP_SYS_ADMIN',
      'SystemCallFilter=~@mount',
      'SystemCallFilter=~@module',
      'SystemCallFilter=~@raw-io',
      'SystemCallFilter=~@reboot',
      'SystemCallFilter=~@resources',
      'RestrictNamespaces=~user',
      'ProtectKernelModules=',
    ]) {
      expect(r.stdout, option).toMatch(new RegExp(`^✓ ${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s`, 'm'));
    }
    expect(readFileSync(UNIT_SOURCE, 'utf8')).not.toMatch(/^MemoryDenyWriteExecute=/m);
  });

  it('systemd-analyze verify: clean with the RPM payload installed (in a private mount namespace), and it does catch a broken unit', async () => {
    // The payload is laid over /usr/lib and /usr/bin in a mount namespace of this command only, so
    // verify finds ExecStart= where the RPM puts it; the host's own /usr is untouched.
    const verify = (unit: string) =>
      exec('unshare', [
        '--mount',
        '--propagation',
        'private',
        '/bin/sh',
        '-c',
        'set -e; for d in usr/lib usr/bin; do mount -t overlay overlay -o "lowerdir=$1/$d:/$d" "/$d"; done; exec systemd-analyze verify --man=no "$2"',
        'verify',
        pkg.payload,
        unit,
      ]);
    const clean = await verify(`/usr/lib/systemd/system/${UNIT}`);
    console.info(`systemd-analyze verify ${UNIT}: exit ${clean.code}, output: ${JSON.stringify(clean.stdout + clean.stderr)}`);
    expect({ code: clean.code, output: (clean.stdout + clean.stderr).trim() }).toEqual({ code: 0, output: '' });

    const broken = path.join(pkg.dir, UNIT);
    writeFileSync(
      broken,
      readFileSync(UNIT_SOURCE, 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=strictly').replace('ExecStart=/usr/bin/', 'ExecStart=/usr/sbin/'),
    );
    const caught = await verify(broken);
    expect(caught.code).not.toBe(0);
    expect(caught.stderr).toContain('Failed to parse protect system value');
    expect(caught.stderr).toMatch(/Command \/usr\/sbin\/flightctl-restore-agent is not executable/);
  });
});
