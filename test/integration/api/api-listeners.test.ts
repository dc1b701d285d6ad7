import { execFileSync, spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { listen, parseListen, type Listening } from '../../../src/api/listeners.js';
import { generateTestKey, jwksOf, mintToken } from '../../harness/tokens.js';
import { runAgent, spawnAgent } from '../cli/run-cli.js';
import { startApiEnv, type ApiEnv } from './api-env.js';
import { caAndServerCertificate } from '../../harness/test-pki.js';

function get(opts: http.RequestOptions & { ca?: Buffer }, secure = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).get({ path: '/healthz', ...opts }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

/** The API on real sockets: a Unix socket only root can open, TLS with a CA of our own, loopback HTTP. */
describe('API listeners', () => {
  let env: ApiEnv;
  const open: Listening[] = [];

  beforeAll(async () => {
    env = await startApiEnv();
  });
  afterAll(() => {
    for (const l of open) l.server.close();
  });

  it('parses listen addresses and refuses plain HTTP off loopback', () => {
    expect(parseListen('unix:/run/x/api.sock')).toMatchObject({ kind: 'unix', path: '/run/x/api.sock' });
    expect(parseListen('http://127.0.0.1:8080')).toMatchObject({ kind: 'http', host: '127.0.0.1', port: 8080 });
    expect(parseListen('http://[::1]:8080')).toMatchObject({ kind: 'http', host: '::1', port: 8080 });
    expect(parseListen('https://0.0.0.0:8443')).toMatchObject({ kind: 'https', host: '0.0.0.0', port: 8443 });
    expect(parseListen('https://[::]:443')).toMatchObject({ kind: 'https', host: '::', port: 443 });
    for (const bad of [
      'http://0.0.0.0:8080',
      'http://10.1.2.3:8080',
      'http://localhost:8080',
      'unix:relative.sock',
      'ftp://127.0.0.1:21',
      'https://127.0.0.1',
      'http://127.0.0.1:8080/api',
    ]) {
      expect(() => parseListen(bad), bad).toThrow(expect.objectContaining({ code: 'RESTORE_ERR_CONFIG_INVALID' }));
    }
  });

  it('a Unix socket with mode 0600, answering; a second listener on it is refused, a stale one replaced', async () => {
    const sock = path.join(env.dir, 'run', 'api.sock');
    const l = await listen(parseListen(`unix:${sock}`), env.app, { cert: '', key: '' });
    open.push(l);
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(await get({ socketPath: sock })).toEqual({ status: 200, body: '{"status":"ready"}' });
    await expect(listen(parseListen(`unix:${sock}`), env.app, { cert: '', key: '' })).rejects.toMatchObject({
      code: 'RESTORE_ERR_LISTEN_FAILED',
      message: expect.stringMatching(/in use/),
    });
    // A socket left by a process that was killed: nobody answers on it, so it is replaced.
    const stale = path.join(env.dir, 'run', 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => child.stdout!.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(statSync(stale).isSocket()).toBe(true);
    open.push(await listen(parseListen(`unix:${stale}`), env.app, { cert: '', key: '' }));
    expect((await get({ socketPath: stale })).status).toBe(200);
  });

  it('HTTPS with a certificate from a CA of our own: verified by clients that trust it, refused by others', async () => {
    const d = env.dir;
    caAndServerCertificate(d, 'test CA');
    const l = await listen(parseListen('https://127.0.0.1:0'), env.app, { cert: path.join(d, 'tls.crt'), key: path.join(d, 'tls.key') });
    open.push(l);
    const port = Number(l.bound.split(':').at(-1));
    const ca = execFileSync('cat', [path.join(d, 'ca.crt')]);
    expect(await get({ host: '127.0.0.1', port, ca }, true)).toEqual({ status: 200, body: '{"status":"ready"}' });
    await expect(get({ host: '127.0.0.1', port }, true)).rejects.toMatchObject({
      code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/),
    });
    await expect(listen(parseListen('https://127.0.0.1:0'), env.app, { cert: '', key: '' })).rejects.toMatchObject({ code: 'RESTORE_ERR_CONFIG_INVALID' });
  });

  it('plain HTTP on loopback', async () => {
    const l = await listen(parseListen('http://127.0.0.1:0'), env.app, { cert: '', key: '' });
    open.push(l);
    expect(l.bound).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get({ host: '127.0.0.1', port: Number(l.bound.split(':').at(-1)) })).status).toBe(200);
  });

  it('serve refuses plain HTTP on a non-loopback address before it listens', async () => {
    const r = await runAgent([
      'serve',
      '--listen',
      'http://0.0.0.0:18099',
      '--jwks-file',
      path.join(env.dir, 'jwks.json'),
      '--jwt-issuer',
      'https://issuer.test',
      '--state-dir',
      path.join(env.dir, 'state2'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/RESTORE_ERR_CONFIG_INVALID: api.listen "http:\/\/0.0.0.0:18099": plain HTTP only on loopback/);
  });

  it('serve reloads its keys on SIGHUP; a broken key file keeps the old keys', async () => {
    const jwks = path.join(env.dir, 'rotating-jwks.json');
    const a = await generateTestKey('ec');
    const b = await generateTestKey('ed25519');
    writeFileSync(jwks, JSON.stringify(jwksOf(a)));
    const agent = spawnAgent([
      'serve',
      '--listen',
      'http://127.0.0.1:0',
      '--json',
      '--jwks-file',
      jwks,
      '--jwt-issuer',
      'https://issuer.test',
      '--jwt-audience',
      'aud.test',
      '--state-dir',
      path.join(env.dir, 'state-hup'),
    ]);
    onTestFinished(() => {
      if (agent.process.exitCode === null) agent.process.kill('SIGKILL');
    });
    let out = '';
    agent.process.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await agent.waitForStderr('"msg":"ready"');
    for (let i = 0; i < 100 && !out.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
    const base = (JSON.parse(out.split('\n')[0]!) as { listening: string[] }).listening[0]!;
    const status = async (key: typeof a) => {
      const t = await mintToken({ key, iss: 'https://issuer.test', aud: 'aud.test', sub: 'ops', scope: 'restore:read' });
      return (await fetch(`${base}/v1/restores`, { headers: { authorization: `Bearer ${t}` } })).status;
    };
    expect([await status(a), await status(b)]).toEqual([200, 401]);
    writeFileSync(jwks, JSON.stringify(jwksOf(b)));
    agent.process.kill('SIGHUP');
    await agent.waitForStderr('SIGHUP: keys reloaded');
    expect([await status(a), await status(b)]).toEqual([401, 200]);
    writeFileSync(jwks, '{"keys": [');
    agent.process.kill('SIGHUP');
    await agent.waitForStderr('keys not reloaded');
    expect(await status(b)).toBe(200);
    agent.process.kill('SIGTERM');
    expect((await agent.done).code).toBe(0);
  });

  it('serve refuses to start without a key source or an issuer', async () => {
    const r = await runAgent(['serve', '--listen', 'http://127.0.0.1:0', '--state-dir', path.join(env.dir, 'state3')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/RESTORE_ERR_CONFIG_INVALID/);
  });
});
