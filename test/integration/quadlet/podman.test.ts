import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreError } from '../../../src/lib/errors.js';
import { redactText } from '../../../src/lib/secrets.js';
import { PodmanClient } from '../../../src/targets/quadlet/podman.js';
import { readPodmanSecret } from '../../../src/targets/quadlet/podman-secrets.js';
import { startSandbox, type Sandbox } from '../../harness/quadlet-host/sandbox.js';

describe('Podman REST (sandbox Quadlets host)', () => {
  let sb: Sandbox;
  let podman: PodmanClient;

  beforeAll(async () => {
    sb = await startSandbox();
    podman = new PodmanClient(sb.podmanSocket);
    // a container that exists but does not run
    await sb.nsExec(['podman', 'create', '--name', 'qh-stopped', 'localhost/busybox:latest', 'sleep', '100']);
  });
  afterAll(async () => {
    await sb?.stop();
  });

  it('reads a secret value (file driver on podman < 4.7) and registers it for redaction', async () => {
    const s = await readPodmanSecret(podman, sb.podmanRoot, 'flightctl-postgresql-user-password');
    expect(s.value).toBe(sb.secrets['flightctl-postgresql-user-password']);
    expect(['api', 'file-driver']).toContain(s.source);
    expect(redactText(`x ${s.value} y`)).toBe('x [REDACTED] y');
    const kv = await readPodmanSecret(podman, sb.podmanRoot, 'flightctl-kv-password');
    expect(kv.value).toBe(sb.secrets['flightctl-kv-password']);
  });

  it('falls back to the file driver store when the API is not reachable', async () => {
    const offline = new PodmanClient(path.join(sb.dir, 'no-such.sock'));
    const s = await readPodmanSecret(offline, sb.podmanRoot, 'flightctl-kv-password');
    expect(s).toMatchObject({ source: 'file-driver' });
    expect(s.value).toBe(sb.secrets['flightctl-kv-password']);
  });

  it('says clearly when a secret does not exist, without its value anywhere', async () => {
    const err = (await readPodmanSecret(podman, sb.podmanRoot, 'flightctl-no-such-secret').catch((e: unknown) => e)) as RestoreError;
    expect(err).toBeInstanceOf(RestoreError);
    expect(err.code).toBe('RESTORE_ERR_SECRET_NOT_FOUND');
    expect(err.message).toContain('flightctl-no-such-secret');
  });

  it('says clearly when neither the API nor the store can answer', async () => {
    const offline = new PodmanClient(path.join(sb.dir, 'no-such.sock'));
    const empty = mkdtempSync(path.join(sb.dir, 'root-'));
    const err = (await readPodmanSecret(offline, empty, 'flightctl-kv-password').catch((e: unknown) => e)) as RestoreError;
    expect(err.code).toBe('RESTORE_ERR_SECRET_UNREADABLE');
  });

  it('inspects state and the IP on the flightctl network', async () => {
    const db = await podman.inspectContainer('flightctl-db');
    expect(db).toMatchObject({ running: true, status: 'running' });
    expect(db!.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await podman.inspectContainer('flightctl-nope')).toBeUndefined();
  });

  it('reports a container that is not running', async () => {
    const info = await podman.inspectContainer('qh-stopped');
    expect(info).toMatchObject({ running: false });
    const err = (await podman.requireRunning('qh-stopped').catch((e: unknown) => e)) as RestoreError;
    expect(err.code).toBe('RESTORE_ERR_CONTAINER_NOT_RUNNING');
    const err2 = (await podman.exec('qh-stopped', { cmd: ['true'] }).catch((e: unknown) => e)) as RestoreError;
    expect(err2.code).toBe('RESTORE_ERR_CONTAINER_NOT_RUNNING');
  });

  it('execs with stdin streamed from a file, collecting stdout, stderr and the exit code', async () => {
    const input = path.join(mkdtempSync(path.join(sb.dir, 'in-')), 'in.txt');
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    writeFileSync(input, lines);
    const r = await podman.exec('flightctl-api', {
      cmd: ['sh', '-c', 'cat; echo "to-stderr $GREETING" >&2; exit 3'],
      stdin: createReadStream(input),
      env: { GREETING: 'hi' },
    });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe(lines);
    expect(r.stderr).toBe('to-stderr hi\n');
  });

  it('runs SQL in the database container with the SQL on stdin', async () => {
    const r = await podman.exec('flightctl-db', {
      cmd: ['psql', '-h', '/var/run/postgresql', '-U', 'postgres', '-d', 'flightctl', '-qAtX', '-v', 'ON_ERROR_STOP=1'],
      stdin: "SELECT current_database() || ':' || (SELECT count(*) FROM pg_roles WHERE rolname = 'flightctl_app');\n",
    });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'flightctl:1\n' });
  });

  it('fails clearly when the socket cannot be reached', async () => {
    const offline = new PodmanClient(path.join(sb.dir, 'no-such.sock'));
    const err = (await offline.inspectContainer('flightctl-db').catch((e: unknown) => e)) as RestoreError;
    expect(err.code).toBe('RESTORE_ERR_PODMAN_UNREACHABLE');
  });
});
