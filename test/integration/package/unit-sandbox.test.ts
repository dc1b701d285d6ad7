import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemdClient } from '../../../src/targets/quadlet/systemd.js';
import { generateTestKey, jwksOf, mintToken } from '../../harness/tokens.js';
import { leaks } from '../cli/run-cli.js';
import { APPS, DUMP_RUN_STEPS, restoredFacts, startRestoreEnv, type RestoreEnv } from '../runbook/restore-env.js';
import { buildPackage, NAME, UNIT, type BuiltPackage } from './package-env.js';
import { callSocket, ETC_DIR, hostPath, installOnSandbox, SOCKET, STATE_DIR, TEST_DIR, unitProperties, type Installed } from './unit-sandbox-env.js';

const ISS = 'https://issuer.sandbox.test';
const AUD = 'restore-agent.sandbox';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunView {
  id: string;
  phase: string;
  currentStep?: string;
  steps: { name: string; status: string; data?: Record<string, unknown> }[];
  error?: { code: string };
  finalizers: string[];
  recovery?: { by: string };
}

/** The RPM's hardened unit run by the sandbox host's systemd: started over D-Bus, a restore through its socket, stopped. */
describe('the unit on the sandbox Quadlets host', () => {
  let pkg: BuiltPackage;
  let env: RestoreEnv;
  let installed: Installed;
  let systemd: SystemdClient;
  let token: string;
  let socket: string;
  const answers: string[] = [];

  beforeAll(async () => {
    pkg = await buildPackage();
    env = await startRestoreEnv({ devices: 1500 });
    const key = await generateTestKey('ec');
    token = await mintToken({ key, iss: ISS, aud: AUD, sub: 'ops@example', scope: 'restore:read restore:run', expiresIn: 3600 });
    installed = await installOnSandbox(env.sb, pkg, { jwks: JSON.stringify(jwksOf(key)), issuer: ISS, audience: AUD });
    socket = hostPath(env.sb, SOCKET);
    systemd = await SystemdClient.connect({ address: env.sb.busAddress });
    await systemd.reload();
  });
  afterAll(async () => {
    await systemd?.runJob('StopUnit', UNIT, 120_000).catch(() => undefined);
    systemd?.close();
    await env?.stop();
    pkg?.remove();
  });

  const api = async (method: string, p: string, body?: unknown) => {
    const a = await callSocket(socket, method, p, { token, body });
    answers.push(a.text);
    return a;
  };
  const run = async (id: string) => (await api('GET', `/v1/restores/${id}`)).json<RunView>();
  /** Polls the run until `done` says so, within timeoutMs. */
  async function waitRun(id: string, done: (r: RunView) => boolean, timeoutMs: number): Promise<RunView> {
    for (const deadline = Date.now() + timeoutMs; ; await sleep(100)) {
      const r = await run(id);
      if (done(r)) return r;
      if (Date.now() > deadline) throw new Error(`run ${id} did not get there within ${timeoutMs} ms: ${JSON.stringify(r).slice(0, 500)}`);
    }
  }
  const importDump = () => {
    const imports = hostPath(env.sb, `${STATE_DIR}/imports`);
    mkdirSync(imports, { recursive: true, mode: 0o700 });
    copyFileSync(env.dumps.plain, path.join(imports, 'backup.sql'));
  };
  /** Test-only environment (fault points) in a drop-in; the unit restarts to take it. */
  async function restartWith(extra: Record<string, string>) {
    installed.setTestEnvironment(extra);
    await systemd.reload();
    expect(await systemd.runJob('RestartUnit', UNIT, 120_000)).toMatchObject({ ok: true, activeState: 'active' });
  }

  it('starts over D-Bus, hardened, and is ready when its start job ends (Type=notify)', async () => {
    const started = await systemd.runJob('StartUnit', UNIT, 120_000);
    expect(started).toMatchObject({ result: 'done', ok: true, activeState: 'active', subState: 'running' });
    // Ready means ready: the job only ended on systemd-notify's READY=1, sent after serve's "ready".
    const health = await callSocket(socket, 'GET', '/healthz');
    expect({ status: health.status, body: health.json() }).toEqual({ status: 200, body: { status: 'ready' } });
    const props = await unitProperties(env.sb, UNIT, ['MainPID', 'StatusText', 'Type', 'NotifyAccess']);
    expect(props).toMatchObject({ Type: 'notify', NotifyAccess: 'all', StatusText: `ready: listening on unix:${SOCKET}` });
    const status = (await env.sb.nsExec(['cat', `/proc/${props.MainPID}/status`])).stdout;
    expect(status).toMatch(/^Uid:\s+0\s+0\s+0\s+0$/m);
    // CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER (bits 0-3) and nothing else.
    expect(status).toMatch(/^CapEff:\s+0{15}f$/m);
    expect(status).toMatch(/^CapBnd:\s+0{15}f$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Seccomp:\s+2$/m);
    // What it may write: its state and runtime directories, quadlet drop-ins, Podman volumes.
    const mounts = new Map<string, string>();
    for (const line of (await env.sb.nsExec(['cat', `/proc/${props.MainPID}/mountinfo`])).stdout.trim().split('\n')) {
      const f = line.split(' ');
      mounts.set(f[4]!, f[5]!.split(',')[0]!); // the last mount on a path is the one in effect
    }
    expect({
      '/': mounts.get('/'),
      '/run': mounts.get('/run'),
      '/etc/systemd/system': mounts.get('/etc/systemd/system'),
      '/var/lib/containers': mounts.get('/var/lib/containers'),
      [STATE_DIR]: mounts.get(STATE_DIR),
      [`/run/${NAME}`]: mounts.get(`/run/${NAME}`),
      '/run/containers/systemd': mounts.get('/run/containers/systemd'),
      '/etc/containers/systemd': mounts.get('/etc/containers/systemd'),
      '/var/lib/containers/storage/volumes': mounts.get('/var/lib/containers/storage/volumes'),
    }).toEqual({
      '/': 'ro',
      '/run': 'ro',
      '/etc/systemd/system': 'ro',
      '/var/lib/containers': 'ro',
      [STATE_DIR]: 'rw',
      [`/run/${NAME}`]: 'rw',
      '/run/containers/systemd': 'rw',
      '/etc/containers/systemd': 'rw',
      '/var/lib/containers/storage/volumes': 'rw',
    });
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
    expect(statSync(hostPath(env.sb, STATE_DIR)).mode & 0o777).toBe(0o700);
  });

  it('reload (ExecReload, SIGHUP) rotates the keys in place: the new key is accepted, the old one refused, same process', async () => {
    const jwksFile = hostPath(env.sb, `${TEST_DIR}/jwks.json`);
    const original = readFileSync(jwksFile, 'utf8');
    const newKey = await generateTestKey('ec', 'rotated');
    const newToken = await mintToken({ key: newKey, iss: ISS, aud: AUD, sub: 'ops@example', scope: 'restore:read', expiresIn: 3600 });
    const status = async (t: string) => (await callSocket(socket, 'GET', '/v1/restores', { token: t })).status;
    const pid = (await unitProperties(env.sb, UNIT, ['MainPID'])).MainPID;
    expect(await status(newToken)).toBe(401);
    try {
      writeFileSync(jwksFile, JSON.stringify(jwksOf(newKey)), { mode: 0o600 });
      expect(await systemd.runJob('ReloadUnit', UNIT, 60_000)).toMatchObject({ result: 'done', ok: true });
      // The reload job ends when the signal is sent; the keys are read right after.
      for (let i = 0; i < 100 && (await status(newToken)) !== 200; i++) await sleep(50);
      expect(await status(newToken)).toBe(200);
      expect(await status(token)).toBe(401);
      expect((await unitProperties(env.sb, UNIT, ['MainPID'])).MainPID).toBe(pid);
    } finally {
      writeFileSync(jwksFile, original, { mode: 0o600 });
      await systemd.runJob('ReloadUnit', UNIT, 60_000);
    }
    for (let i = 0; i < 100 && (await status(token)) !== 200; i++) await sleep(50);
    expect(await status(token)).toBe(200);
  });

  it('restores through its socket: a dump from the import directory, the services back, the journal in its StateDirectory', async () => {
    await env.reset();
    importDump();
    const started = await api('POST', '/v1/restores', { dump: 'backup.sql' });
    expect(started.status, started.text).toBe(202);
    const id = started.json<RunView>().id;
    const done = await waitRun(id, (r) => !['Pending', 'Running'].includes(r.phase), 180_000);
    expect(done.phase, JSON.stringify(done.error)).toBe('Succeeded');
    expect(done.steps.map((s) => s.name)).toEqual(DUMP_RUN_STEPS);
    const facts = await restoredFacts(env.sb);
    const after = await env.snapshot();
    expect(facts.unmarked).toEqual([]);
    expect(after.kv).toEqual(facts.expectedKeys);
    expect(after.dropins).toEqual([]);
    for (const a of APPS) expect(after.apps[a], a).not.toBe('');
    expect(existsSync(path.join(hostPath(env.sb, STATE_DIR), 'runs', `${id}.json`))).toBe(true);
  });

  it('publish-dropin: writes its drop-in under /run/containers/systemd (ReadWritePaths=), reloads systemd, and removes it', async () => {
    await restartWith({ FLIGHTCTL_RESTORE_ENDPOINT_STRATEGY: 'publish-dropin' });
    await env.reset();
    const id = (await api('POST', '/v1/restores', { dump: 'backup.sql' })).json<RunView>().id;
    const done = await waitRun(id, (r) => !['Pending', 'Running'].includes(r.phase), 180_000);
    expect(done.phase, JSON.stringify(done.error)).toBe('Succeeded');
    const removed = done.steps.find((s) => s.name === 'start-services')?.data?.dropinsRemoved;
    expect(removed).toEqual(['removed drop-in /run/containers/systemd/flightctl-db.container.d/10-publish-port.conf']);
    expect(done.steps.find((s) => s.name === 'prepare-kv')?.data).toMatchObject({ method: 'client-pipe' });
    const after = await env.snapshot();
    expect(after.dropins).toEqual([]);
    const facts = await restoredFacts(env.sb);
    expect(facts.unmarked).toEqual([]);
    expect(after.kv).toEqual(facts.expectedKeys);
  });

  it('backs up and restores an archive: Flight Control files, and a PAM volume owned by the user of its container', async () => {
    await restartWith({});
    const etc = hostPath(env.sb, ETC_DIR);
    const writeEtc = (variant: string) => {
      mkdirSync(path.join(etc, 'pki'), { recursive: true });
      mkdirSync(path.join(etc, 'encryption'), { recursive: true, mode: 0o700 });
      writeFileSync(path.join(etc, 'pki', 'ca.crt'), `ca ${variant}\n`);
      writeFileSync(path.join(etc, 'encryption', 'key.b64'), `${Buffer.from(`key ${variant}`).toString('base64')}\n`, { mode: 0o600 });
      writeFileSync(path.join(etc, 'service-config.yaml'), `global:\n  baseDomain: ${variant}.example.com\ndb:\n  type: builtin\n`);
    };
    // The volume's content belongs to uid 1001 and only it may read it: the agent needs its capabilities.
    const pam = (content: string) =>
      env.sb.nsExec([
        '/bin/sh',
        '-c',
        `podman volume create --ignore flightctl-pam-issuer-etc >/dev/null; d=$(podman volume inspect -f '{{.Mountpoint}}' flightctl-pam-issuer-etc)
        rm -rf "$d/private"; mkdir "$d/private"; printf '%s' '${content}' > "$d/private/shadow"; chown -R 1001:1001 "$d/private"; chmod 700 "$d/private"; chmod 600 "$d/private/shadow"`,
      ]);
    const pamNow = async () =>
      (
        await env.sb.nsExec([
          '/bin/sh',
          '-c',
          `d=$(podman volume inspect -f '{{.Mountpoint}}' flightctl-pam-issuer-etc); stat -c '%u:%g %a' "$d/private" "$d/private/shadow"; cat "$d/private/shadow"`,
        ])
      ).stdout;
    writeEtc('original');
    await pam('original');
    const backup = await api('POST', '/v1/backups', {});
    expect(backup.status, backup.text).toBe(201);
    const made = backup.json<{ archive: string; contents: { pamVolume: boolean } }>();
    expect(made.contents.pamVolume).toBe(true);
    expect(path.dirname(made.archive)).toBe(`${STATE_DIR}/backups`);

    writeEtc('changed');
    await pam('changed');
    const name = path.basename(made.archive);
    for (const f of [name, `${name}.sha256`])
      copyFileSync(path.join(hostPath(env.sb, `${STATE_DIR}/backups`), f), path.join(hostPath(env.sb, `${STATE_DIR}/imports`), f));
    const started = await api('POST', '/v1/restores', { archive: name });
    expect(started.status, started.text).toBe(202);
    const done = await waitRun(started.json<RunView>().id, (r) => !['Pending', 'Running'].includes(r.phase), 180_000);
    expect(done.phase, JSON.stringify(done.error)).toBe('Succeeded');
    expect(Object.fromEntries(done.steps.map((st) => [st.name, st.status]))).toMatchObject({
      'restore-pki': 'changed',
      'restore-config': 'changed',
      'restore-pam-volume': 'changed',
    });
    expect(readFileSync(path.join(etc, 'pki', 'ca.crt'), 'utf8')).toBe('ca original\n');
    expect(readFileSync(path.join(etc, 'service-config.yaml'), 'utf8')).toContain('original.example.com');
    expect(await pamNow()).toBe('1001:1001 700\n1001:1001 600\noriginal');
  });

  it('a run started from a root shell holds the host: the service sees its holder and refuses (409)', async () => {
    await env.reset();
    const holdFile = `${TEST_DIR}/cli-hold`;
    // The CLI from the same payload, inside the sandbox's namespaces, with the same state directory.
    const cli = spawn(
      'nsenter',
      [
        '-t',
        String(env.sb.nsPid),
        '-m',
        '-p',
        '--',
        '/usr/bin/node',
        `${TEST_DIR}/payload/usr/bin/${NAME}`,
        'run',
        '--dump',
        `${STATE_DIR}/imports/backup.sql`,
        '--json',
        '--config',
        `${TEST_DIR}/config.yaml`,
      ],
      {
        env: { PATH: '/usr/bin:/bin', FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:load-dump', FLIGHTCTL_RESTORE_TEST_FAULT_FILE: holdFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let printed = '';
    cli.stdout.on('data', (d: Buffer) => (printed += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (printed += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    try {
      for (const deadline = Date.now() + 60_000; !existsSync(hostPath(env.sb, holdFile)); await sleep(50)) {
        if (Date.now() > deadline || cli.exitCode !== null) throw new Error(`the CLI run never reached its hold point: ${printed.slice(-2000)}`);
      }
      const refused = await api('POST', '/v1/restores', { dump: 'backup.sql' });
      expect(refused.status, refused.text).toBe(409);
      expect(refused.json()).toMatchObject({ code: 'RESTORE_ERR_RUN_ACTIVE' });
      // End the CLI run we started (its PID inside the sandbox is in the hold file): it finalizes.
      await env.sb.nsExec(['kill', '-TERM', readFileSync(hostPath(env.sb, holdFile), 'utf8').trim()]);
      expect(await Promise.race([exited, sleep(60_000).then(() => 'still running after 60 s')])).toBe(130);
    } finally {
      if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
    }
    answers.push(printed);
  });

  it('killed during a restore: systemd restarts it (Restart=on-failure) and it finishes the run before it is ready', async () => {
    await restartWith({ FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:prepare-kv' });
    await env.reset();
    const id = (await api('POST', '/v1/restores', { dump: 'backup.sql' })).json<RunView>().id;
    await waitRun(id, (r) => r.currentStep === 'prepare-kv', 120_000);
    const before = await unitProperties(env.sb, UNIT, ['MainPID', 'NRestarts']);
    await env.sb.nsExec(['kill', '-KILL', before.MainPID!]);
    // RestartSec=5s, then recovery; the unit is active again only once the new process is ready.
    let now = before;
    for (const deadline = Date.now() + 90_000; ; await sleep(200)) {
      now = await unitProperties(env.sb, UNIT, ['MainPID', 'NRestarts', 'ActiveState', 'SubState']);
      if (now.ActiveState === 'active' && now.MainPID !== before.MainPID && now.MainPID !== '0') break;
      if (Date.now() > deadline) throw new Error(`not restarted: ${JSON.stringify(now)}`);
    }
    expect(Number(now.NRestarts)).toBe(Number(before.NRestarts) + 1);
    expect(await run(id)).toMatchObject({ phase: 'Recovered', recovery: { by: 'serve (at start)' } });
    const facts = await restoredFacts(env.sb);
    const after = await env.snapshot();
    expect(facts.unmarked).toEqual([]);
    expect(after.kv).toEqual(facts.expectedKeys);
    for (const a of APPS) expect(after.apps[a], a).not.toBe('');
  });

  it('stopped while a restore holds the services down: the finalizers start them again, the run is Interrupted, the stop is clean', async () => {
    await restartWith({ FLIGHTCTL_RESTORE_TEST_FAULT: 'hold:before:swap-database' });
    await env.reset();
    const before = await env.snapshot();
    const id = (await api('POST', '/v1/restores', { dump: 'backup.sql' })).json<RunView>().id;
    await waitRun(id, (r) => r.currentStep === 'swap-database', 120_000);
    const down = await env.snapshot();
    for (const a of APPS) expect(down.apps[a], `${a} is stopped by the run`).toBe('');

    const t0 = Date.now();
    const stopped = await systemd.runJob('StopUnit', UNIT, 300_000);
    console.info(`StopUnit with a restore held at swap-database: ${Date.now() - t0} ms`);
    expect(stopped).toMatchObject({ result: 'done', ok: true, activeState: 'inactive' });
    expect(await unitProperties(env.sb, UNIT, ['Result', 'ExecMainStatus'])).toEqual({ Result: 'success', ExecMainStatus: '0' });

    const after = await env.snapshot();
    expect(after.databases).toEqual(before.databases);
    expect(after.live).toEqual(before.live);
    for (const a of APPS) {
      expect(after.apps[a], `${a} runs again`).not.toBe('');
      expect(after.apps[a], `${a} was restarted`).not.toBe(before.apps[a]);
    }
    const journal = JSON.parse(readFileSync(path.join(hostPath(env.sb, STATE_DIR), 'runs', `${id}.json`), 'utf8')) as RunView;
    expect(journal).toMatchObject({ phase: 'Interrupted', error: { code: 'RESTORE_ERR_CANCELLED' } });
    expect(journal.finalizers.length).toBeGreaterThan(0);
    expect(readFileSync(path.join(env.sb.dir, 'console.log'), 'utf8')).toContain('SIGTERM: no new calls');
  });

  it('nothing it logged or answered holds a secret or the token', () => {
    const answered = answers.join('\n');
    // The console also holds the sandbox's own set-up output, which names the Podman secrets.
    const logged = readFileSync(path.join(env.sb.dir, 'console.log'), 'utf8');
    const runs = path.join(hostPath(env.sb, STATE_DIR), 'runs');
    const journal = readdirSync(runs)
      .map((f) => readFileSync(path.join(runs, f), 'utf8'))
      .join('\n');
    expect(leaks(answered, env.secrets)).toEqual([]);
    expect(leaks(logged, env.secrets, { allowPasswordWord: true })).toEqual([]);
    expect(leaks(journal, env.secrets)).toEqual([]);
    for (const text of [answered, logged, journal]) expect(text).not.toContain(token.split('.')[2]);
  });
});
