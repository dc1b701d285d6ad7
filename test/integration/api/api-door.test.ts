import { brotliCompressSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { connect, openDoor, request, type Answer } from './door-env.js';

/** A problem+json answer with this status and code. */
function expectProblem(a: Answer, status: number, code: string): void {
  expect(a.status, a.body).toBe(status);
  expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(JSON.parse(a.body)).toMatchObject({ status, code, hint: expect.any(String) });
}

/** Sends `count` bytes of a declared body, one every 100 ms, until the server closes the connection. */
async function trickle(c: Awaited<ReturnType<typeof connect>>, count: number): Promise<void> {
  for (let i = 0; i < count && !c.closed(); i++) {
    c.socket.write('x');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const auth = (t: string) => ({ authorization: `Bearer ${t}` });

/**
 * What a real serve bounds at its door (issue 17): slow clients, many connections, refused calls,
 * empty and broken bodies, headers Node refuses, long-lived tokens. No host behind it: every call
 * here is answered before a host would be touched.
 */
describe('the API door: bounds against slow, many and refused clients (real serve)', () => {
  it("a refused request's body is not drained: the connection is closed after the 401", async () => {
    const door = await openDoor();
    const c = await connect(door);
    c.socket.write('POST /v1/restores HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{');
    await trickle(c, 150); // 15 s at most; the server closes it long before
    expect(c.received()).toMatch(/^HTTP\/1\.1 401 /);
    expect(c.closed(), 'the server closed the connection instead of reading 1 MB a byte at a time').toBe(true);
  });

  it('headers or a body that arrive too slowly: 408 problem+json, and the connection is closed', async () => {
    const door = await openDoor({ FLIGHTCTL_RESTORE_API_HEADERS_TIMEOUT_MS: '1000', FLIGHTCTL_RESTORE_API_REQUEST_TIMEOUT_MS: '2000' });
    const headers = await connect(door);
    headers.socket.write('GET /v1/restores HTTP/1.1\r\nHost: agent\r\n');
    await trickle(headers, 150);
    expect(headers.closed()).toBe(true);
    expect(headers.received()).toMatch(/^HTTP\/1\.1 408 [^]*application\/problem\+json[^]*"code":"RESTORE_ERR_REQUEST_TIMEOUT"/);
    // Authenticated, its body one byte at a time: bounded by the whole request's time.
    const body = await connect(door);
    body.socket.write(
      `POST /v1/devices/resume HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer ${await door.token()}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    await trickle(body, 150);
    expect(body.closed(), 'a body that never ends does not hold the connection').toBe(true);
  });

  it('connections are capped per peer and per listener; /healthz and the Unix socket still answer', async () => {
    const door = await openDoor({
      FLIGHTCTL_RESTORE_API_MAX_CONNECTIONS: '6',
      FLIGHTCTL_RESTORE_API_MAX_CONNECTIONS_PER_PEER: '3',
      FLIGHTCTL_RESTORE_API_HEADERS_TIMEOUT_MS: '60000',
    });
    const token = await door.token();
    for (let i = 0; i < 3; i++) await connect(door, '127.0.0.2');
    const fourth = await connect(door, '127.0.0.2');
    expect(await fourth.waitClosed(10_000), 'a fourth connection from one peer is closed at once').toBe(true);
    expect(fourth.received()).toBe('');
    for (const from of ['127.0.0.3', '127.0.0.3', '127.0.0.3', '127.0.0.4']) await connect(door, from);
    // Seven open now (one over api.maxConnections): only /healthz is answered.
    expectProblem(await request(door, { path: '/v1/restores', from: '127.0.0.5', headers: auth(token) }), 503, 'RESTORE_ERR_BUSY');
    expect(await request(door, { path: '/healthz', from: '127.0.0.5' })).toMatchObject({ status: 200, body: '{"status":"ready"}' });
    expect((await request(door, { path: '/v1/restores', unix: true, headers: auth(token) })).status).toBe(200);
  });

  it('300 slow connections with a file limit of 256: the Unix socket and /healthz still answer', async () => {
    const door = await openDoor({ FLIGHTCTL_RESTORE_API_HEADERS_TIMEOUT_MS: '60000' }, { fileLimit: 256 });
    // From 20 addresses, 15 each: under the per-peer bound, so the listener's bound is what holds.
    for (let i = 0; i < 300; i++) {
      const c = await connect(door, `127.0.1.${1 + (i % 20)}`).catch(() => undefined);
      c?.socket.write('GET /v1/restores HTTP/1.1\r\nHost: agent\r\n');
    }
    expect((await request(door, { path: '/v1/restores', unix: true, headers: auth(await door.token()) })).status).toBe(200);
    // The reserve: connections taken for /healthz that ask for nothing are let go, so one answers.
    let health: Answer | undefined;
    for (let i = 0; i < 50 && health?.status !== 200; i++) {
      health = await request(door, { path: '/healthz', from: '127.0.2.1' }).catch(() => undefined);
      if (health?.status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(health?.status).toBe(200);
  });

  it('POST /v1/restores with an empty body is a 400 that says what to send; {} is a request', async () => {
    const door = await openDoor();
    const headers = { ...auth(await door.token()), 'content-type': 'application/json' };
    const empty = await request(door, { path: '/v1/restores', method: 'POST', headers: { ...headers, 'content-length': '0' } });
    expectProblem(empty, 400, 'RESTORE_ERR_REQUEST_INVALID');
    expect(JSON.parse(empty.body).detail).toMatch(/the body is empty: send a JSON object.*\{\}/);
    expect((await request(door, { path: '/v1/restores', method: 'POST', headers, body: '{"check": true}' })).status).toBe(202);
  });

  it('refused calls are rate limited per peer, and an audit line keeps a bounded part of the path', async () => {
    const door = await openDoor({ FLIGHTCTL_RESTORE_API_REFUSED_PER_MINUTE: '5' });
    const long = `/v1/restores/${'a'.repeat(15_000)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request(door, { path: long, from: '127.0.0.6', headers: auth('not.a.token') })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const limited = await request(door, { path: '/v1/restores', from: '127.0.0.6', headers: auth(await door.token()) });
    expectProblem(limited, 429, 'RESTORE_ERR_REFUSED_TOO_OFTEN');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another peer is not affected, nor are accepted calls counted.
    for (let i = 0; i < 6; i++) expect((await request(door, { path: '/v1/restores', from: '127.0.0.7', headers: auth(await door.token()) })).status).toBe(200);
    const audits = door
      .log()
      .split('\n')
      .filter((l) => l.includes('"audit":true'))
      .map((l) => JSON.parse(l) as { path: string; outcome: number });
    expect(audits.filter((a) => a.outcome === 401)).toHaveLength(5);
    for (const a of audits) expect(a.path.length).toBeLessThan(300);
    expect(audits.find((a) => a.outcome === 401)!.path).toMatch(/^\/v1\/restores\/a+\.\.\.\(15013 chars\)$/);
  });

  describe('smaller things', () => {
    it('a gzip or brotli body that does not inflate is a 400 problem+json', async () => {
      const door = await openDoor();
      const headers = { ...auth(await door.token()), 'content-type': 'application/json' };
      for (const [enc, body] of [
        ['gzip', gzipSync('{"name": "edge-1"}').subarray(0, 12)],
        ['gzip', Buffer.from('not gzip at all')],
        ['br', Buffer.from('not brotli')],
        ['deflate', Buffer.from('nor deflate')],
      ] as const) {
        expectProblem(
          await request(door, { path: '/v1/devices/resume', method: 'POST', headers: { ...headers, 'content-encoding': enc }, body }),
          400,
          'RESTORE_ERR_REQUEST_INVALID',
        );
      }
      // A body that does inflate is read as usual (and the request refused for what it says).
      const good = brotliCompressSync('{"labelSelector": ""}');
      expectProblem(
        await request(door, { path: '/v1/devices/resume', method: 'POST', headers: { ...headers, 'content-encoding': 'br' }, body: good }),
        400,
        'RESTORE_ERR_REQUEST_INVALID',
      );
    });

    it("headers over Node's limit: 431 problem+json, not a bare status line", async () => {
      const door = await openDoor();
      const c = await connect(door);
      c.socket.write(`GET /v1/restores HTTP/1.1\r\nHost: agent\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
      expect(await c.waitClosed(10_000)).toBe(true);
      expect(c.received()).toMatch(/^HTTP\/1\.1 431 [^]*Content-Type: application\/problem\+json[^]*"code":"RESTORE_ERR_HEADERS_TOO_LARGE"/);
    });

    it('authenticated JSON answers are neither cached nor sniffed', async () => {
      const door = await openDoor();
      for (const p of ['/v1/restores', '/v1/services', '/v1/nothing']) {
        const a = await request(door, { path: p, headers: auth(await door.token()) });
        expect(a.headers['cache-control'], p).toBe('no-store');
        expect(a.headers['x-content-type-options'], p).toBe('nosniff');
      }
    });

    it('a token that lives longer than api.maxTokenLifetimeSec is refused, for reads too', async () => {
      const door = await openDoor();
      const year3000 = Math.floor((Date.parse('3000-01-01T00:00:00Z') - Date.now()) / 1000);
      expectProblem(
        await request(door, { path: '/v1/restores', headers: auth(await door.token({ expiresIn: year3000 })) }),
        401,
        'RESTORE_ERR_UNAUTHENTICATED',
      );
      expectProblem(
        await request(door, { path: '/v1/restores', headers: auth(await door.token({ expiresIn: 2 * 86_400, issuedAt: null })) }),
        401,
        'RESTORE_ERR_UNAUTHENTICATED',
      );
      expect(door.log()).toMatch(/lifetime \d+ s over api.maxTokenLifetimeSec \(86400 s\)/);
      expect((await request(door, { path: '/v1/restores', headers: auth(await door.token({ expiresIn: 86_000 })) })).status).toBe(200);
      const short = await openDoor({ FLIGHTCTL_RESTORE_API_MAX_TOKEN_LIFETIME_SEC: '600' });
      expect((await request(short, { path: '/v1/restores', headers: auth(await short.token({ expiresIn: 3600 })) })).status).toBe(401);
    });
  });
});
