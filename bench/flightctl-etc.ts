/**
 * What `backup` archives besides the dump, laid out as on a Flight Control host (as
 * test/integration/runbook/restore-archive.test.ts sets it up): a configuration directory with
 * real keys (pki/, encryption/, service-config.yaml) and the PAM issuer volume. Small: the
 * benchmark is about the database, but ours writes and restores these too, so they are there.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Sandbox } from '../test/harness/quadlet-host/sandbox.js';

export function writeFlightctlEtc(dir: string): void {
  mkdirSync(path.join(dir, 'pki', 'flightctl-api'), { recursive: true, mode: 0o755 });
  mkdirSync(path.join(dir, 'encryption'), { mode: 0o700 });
  const cert = (key: string, crt: string, cn: string) =>
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', `/CN=${cn}`],
      {
        cwd: dir,
        stdio: 'pipe',
      },
    );
  cert('pki/ca.key', 'pki/ca.crt', 'bench-ca');
  cert('pki/flightctl-api/server.key', 'pki/flightctl-api/server.crt', 'bench-api');
  writeFileSync(path.join(dir, 'encryption', 'key.b64'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'service-config.yaml'), 'global:\n  baseDomain: bench.example.com\ndb:\n  type: builtin\n  name: flightctl\n', { mode: 0o644 });
}

/** The PAM issuer's user database volume, which `backup` exports and `run --archive` re-imports. */
export async function createPamVolume(sb: Sandbox): Promise<void> {
  await sb.nsExec(['podman', 'volume', 'create', '--ignore', 'flightctl-pam-issuer-etc']);
  await sb.nsExec([
    'sh',
    '-c',
    `d=$(podman volume inspect flightctl-pam-issuer-etc -f '{{.Mountpoint}}'); printf 'root:x:0:0:bench\\n' > $d/passwd; chmod 644 $d/passwd`,
  ]);
}
