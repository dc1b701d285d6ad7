import request from 'supertest';
import { beforeAll, describe, expect, it } from 'vitest';
import { hmacToken, mintToken, tamperPayload, tamperSignature, unsignedToken, claimsOf } from '../../harness/tokens.js';
import { AUDIENCE, ISSUER, startApiEnv, type ApiEnv } from './api-env.js';

/**
 * Bad tokens and bad requests against the real app: each gets the right status and stable code as
 * application/problem+json, never a 5xx, and nothing of the token comes back or reaches the log.
 */
describe('API: bad tokens and bad requests', () => {
  let env: ApiEnv;
  let good: string;
  const tokensSeen: string[] = [];

  beforeAll(async () => {
    env = await startApiEnv();
    good = await env.token();
    tokensSeen.push(good);
  });

  type Case = { name: string; status: number; code: string; detail?: RegExp; send: () => Promise<request.Response> };
  const tokenCase = (name: string, status: 401 | 403, make: () => Promise<string>, path = '/v1/restores', post = false): Case => ({
    name,
    status,
    code: status === 401 ? 'RESTORE_ERR_UNAUTHENTICATED' : 'RESTORE_ERR_FORBIDDEN',
    send: async () => {
      const t = await make();
      tokensSeen.push(t);
      const r = post ? request(env.app).post(path).set('content-type', 'application/json').send('{}') : request(env.app).get(path);
      return r.set('authorization', `Bearer ${t}`);
    },
  });
  const claims = (over: object = {}) => claimsOf({ iss: ISSUER, aud: AUDIENCE, sub: 'operator@example', scope: 'restore:read restore:run', ...over });
  const post =
    (path: string, body: string, type = 'application/json') =>
    () =>
      request(env.app).post(path).set('authorization', `Bearer ${good}`).set('content-type', type).send(body);
  const get =
    (path: string, headers: Record<string, string> = {}) =>
    () =>
      request(env.app).get(path).set('authorization', `Bearer ${good}`).set(headers);

  const cases: Case[] = [
    { name: 'no Authorization header', status: 401, code: 'RESTORE_ERR_UNAUTHENTICATED', send: () => request(env.app).get('/v1/restores') },
    {
      name: 'Basic scheme',
      status: 401,
      code: 'RESTORE_ERR_UNAUTHENTICATED',
      send: () => request(env.app).get('/v1/restores').set('authorization', 'Basic b3BlcmF0b3I6eA=='),
    },
    {
      name: 'Bearer without a token',
      status: 401,
      code: 'RESTORE_ERR_UNAUTHENTICATED',
      send: () => request(env.app).get('/v1/restores').set('authorization', 'Bearer '),
    },
    {
      name: 'two tokens',
      status: 401,
      code: 'RESTORE_ERR_UNAUTHENTICATED',
      send: () => request(env.app).get('/v1/restores').set('authorization', `Bearer ${good} ${good}`),
    },
    {
      name: 'garbage token',
      status: 401,
      code: 'RESTORE_ERR_UNAUTHENTICATED',
      send: () => request(env.app).get('/v1/restores').set('authorization', 'Bearer not.a.jwt'),
    },
    tokenCase('alg none', 401, async () => unsignedToken(claims())),
    tokenCase('HS256 signed with the public key as the secret', 401, () => hmacToken(env.publicPem, 'HS256', claims(), { kid: env.key.kid })),
    tokenCase('HS512', 401, () => hmacToken('a-shared-secret-of-some-length-0123456789', 'HS512', claims())),
    tokenCase('signed by a key of another pair (same kid)', 401, () =>
      mintToken({ key: env.otherKey, iss: ISSUER, aud: AUDIENCE, sub: 'x', scope: 'restore:read' }),
    ),
    tokenCase('unknown kid', 401, () => env.token({ kid: 'no-such-kid' })),
    tokenCase('tampered payload', 401, async () => tamperPayload(await env.token({ scope: 'restore:read' }), { scope: 'restore:read restore:run' })),
    tokenCase('tampered signature', 401, async () => tamperSignature(await env.token())),
    tokenCase('wrong issuer', 401, () => env.token({ iss: 'https://evil.test' })),
    tokenCase('no issuer', 401, () => env.token({ iss: null })),
    tokenCase('wrong audience', 401, () => env.token({ aud: 'another-service' })),
    tokenCase('no audience', 401, () => env.token({ aud: null })),
    tokenCase('expired', 401, () => env.token({ expiresIn: -600, issuedAt: -900 })),
    tokenCase('not yet valid', 401, () => env.token({ notBefore: 600 })),
    tokenCase('no exp', 401, () => env.token({ expiresIn: null })),
    tokenCase('typ of another kind of token', 401, () => env.token({ typ: 'secevent+jwt' })),
    tokenCase('no subject', 401, () => env.token({ sub: null })),
    tokenCase('no scope', 403, () => env.token({ scope: undefined })),
    tokenCase('read scope starting a restore', 403, () => env.token({ scope: 'restore:read' }), '/v1/restores', true),
    tokenCase('run scope resuming devices', 403, () => env.token({ scope: 'restore:run' }), '/v1/devices/resume', true),
    tokenCase('token too old to change something', 401, () => env.token({ issuedAt: -3600, expiresIn: 600 }), '/v1/restores', true),
    tokenCase('no iat on a call that changes something', 401, () => env.token({ issuedAt: null }), '/v1/restores', true),
    tokenCase('metrics without restore:read', 403, () => env.token({ scope: 'devices:resume' }), '/metrics'),
    { name: 'malformed JSON', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"check": tru') },
    {
      name: 'oversized body',
      status: 413,
      code: 'RESTORE_ERR_BODY_TOO_LARGE',
      send: post('/v1/restores', JSON.stringify({ dump: 'x'.repeat(2 * 1024 * 1024) })),
    },
    { name: 'unknown field', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"check": true, "dropEverything": true}') },
    { name: 'field of the wrong type', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"check": "yes"}') },
    { name: 'a JSON array', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '[]') },
    {
      name: 'not JSON content',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      send: post('/v1/restores', 'check=true', 'application/x-www-form-urlencoded'),
    },
    { name: 'dump with ..', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"dump": "../outside.sql"}') },
    { name: 'dump as an absolute path', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"dump": "/etc/passwd"}') },
    {
      name: 'dump through a link out of the import directory',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      send: post('/v1/restores', '{"dump": "escape.sql"}'),
    },
    { name: 'dump that does not exist', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"dump": "missing.sql"}') },
    { name: 'dump that is a directory', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/restores', '{"dump": "sub"}') },
    {
      name: 'archive with ..',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      detail: /^archive "\.\.\/backups\/x\.tar\.gz" contains "\.\."/,
      send: post('/v1/restores', '{"archive": "../backups/x.tar.gz"}'),
    },
    {
      name: 'archive through a link out of the backup directory',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      detail: /leads out of the backup directory/,
      send: post('/v1/restores', '{"archive": "escape.tar.gz"}'),
    },
    {
      name: 'archive in neither directory',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      detail: /^archive "nope\.tar\.gz" does not exist in the import directory \(.*\) or the backup directory \(.*\)/,
      send: post('/v1/restores', '{"archive": "nope.tar.gz"}'),
    },
    {
      name: 'dump named as it is only in the backup directory',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      detail: /^dump "only-backup\.sql" does not exist in the import directory/,
      send: post('/v1/restores', '{"dump": "only-backup.sql"}'),
    },
    {
      name: 'a dump and an archive',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      detail: /either dump or archive/,
      send: post('/v1/restores', '{"dump": "backup.sql", "archive": "x.tar.gz"}'),
    },
    { name: 'malformed label selector', status: 400, code: 'RESTORE_ERR_SELECTOR_INVALID', send: get('/v1/devices?labelSelector=env%3D%3D%3Dprod') },
    { name: 'unknown field selector field', status: 400, code: 'RESTORE_ERR_SELECTOR_INVALID', send: get('/v1/devices?fieldSelector=spec.secret%3Dx') },
    { name: 'limit that is no number', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: get('/v1/devices?limit=lots') },
    { name: 'unknown query parameter', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: get('/v1/devices?everything=true') },
    { name: 'resume with no selection', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/devices/resume', '{}') },
    { name: 'resume all without the confirmation', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/devices/resume', '{"all": true}') },
    {
      name: 'resume with two selections',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      send: post('/v1/devices/resume', '{"name": "d1", "all": true, "confirm": "resume-all"}'),
    },
    { name: 'resume with an empty selector', status: 400, code: 'RESTORE_ERR_REQUEST_INVALID', send: post('/v1/devices/resume', '{"labelSelector": ""}') },
    {
      name: 'resume with a malformed selector',
      status: 400,
      code: 'RESTORE_ERR_SELECTOR_INVALID',
      send: post('/v1/devices/resume', '{"labelSelector": "a b c"}'),
    },
    { name: 'a run id that is no run id', status: 404, code: 'RESTORE_ERR_RUN_NOT_FOUND', send: get('/v1/restores/..%2F..%2Fetc') },
    { name: 'a run that does not exist', status: 404, code: 'RESTORE_ERR_RUN_NOT_FOUND', send: get('/v1/restores/20261128T061500Z-00000000') },
    {
      name: 'events with a bad Last-Event-ID',
      status: 400,
      code: 'RESTORE_ERR_REQUEST_INVALID',
      send: get('/v1/restores/20261128T061500Z-00000000/events', { 'last-event-id': 'x' }),
    },
    { name: 'unknown endpoint', status: 404, code: 'RESTORE_ERR_NOT_FOUND', send: get('/v1/nothing-here') },
    {
      name: 'unknown method',
      status: 404,
      code: 'RESTORE_ERR_NOT_FOUND',
      send: () => request(env.app).delete('/v1/restores').set('authorization', `Bearer ${good}`),
    },
  ];

  it(`has at least 30 cases`, () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const c of cases) {
    it(`${c.name}: ${c.status} ${c.code}`, async () => {
      const r = await c.send();
      expect(r.status).toBe(c.status);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.body).toMatchObject({ status: c.status, code: c.code, type: `urn:flightctl-restore-agent:error:${c.code}` });
      expect(r.body.hint).toEqual(expect.any(String));
      if (c.detail) expect(r.body.detail).toMatch(c.detail);
      if (c.status === 401) expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="flightctl-restore-agent"/);
      expect(JSON.stringify(r.body)).not.toMatch(/at (Object|async|new) |node_modules|\.ts:\d/);
    });
  }

  it('every refused call is audited without a token, and with the reason for the operator', () => {
    const log = env.log();
    // The signature part is what makes a token usable: none of them may be logged.
    for (const t of tokensSeen) {
      const sig = t.split('.')[2] ?? '';
      if (sig.length > 10) expect(log).not.toContain(sig);
    }
    const audits = log
      .split('\n')
      .filter((l) => l.includes('"audit":true'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audits.filter((a) => a.outcome === 401).length).toBeGreaterThanOrEqual(20);
    expect(audits.find((a) => a.outcome === 401 && a.path === '/v1/restores')).toMatchObject({ decision: 'deny', method: 'GET', reason: expect.any(String) });
    expect(audits.find((a) => a.outcome === 403)).toMatchObject({ sub: 'operator@example', iss: ISSUER });
    expect(log.toLowerCase()).not.toContain('password');
  });

  it('health needs no token and says only whether the agent is ready', async () => {
    expect((await request(env.app).get('/healthz')).body).toEqual({ status: 'ready' });
    env.setReadiness('starting');
    try {
      expect((await request(env.app).get('/healthz')).status).toBe(503);
      const r = await request(env.app).get('/v1/restores').set('authorization', `Bearer ${good}`);
      expect(r.body).toMatchObject({ status: 503, code: 'RESTORE_ERR_NOT_READY' });
    } finally {
      env.setReadiness('ready');
    }
  });

  it('the OpenAPI document describes every endpoint with the request schemas', async () => {
    const r = await request(env.app).get('/openapi.json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining(['/v1/restores', '/v1/restores/{id}', '/v1/restores/{id}/events', '/v1/devices/resume', '/metrics', '/healthz']),
    );
    expect(r.body.components.schemas.RestoreRequest.additionalProperties).toBe(false);
  });

  it('metrics in Prometheus text format, with the requests counted by route and status', async () => {
    const r = await request(env.app).get('/metrics').set('authorization', `Bearer ${good}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.text).toMatch(/flightctl_restore_api_requests_total\{route="\/v1\/restores",method="GET",status="401"\} \d+/);
  });

  it('calls that change something are rate limited per client: 429 with Retry-After', async () => {
    const limited = await startApiEnv({ api: { mutationsPerMinute: 2 } });
    const t = await limited.token();
    const send = () => request(limited.app).post('/v1/devices/resume').set('authorization', `Bearer ${t}`).set('content-type', 'application/json').send('{}');
    expect((await send()).status).toBe(400);
    expect((await send()).status).toBe(400);
    const r = await send();
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('RESTORE_ERR_RATE_LIMITED');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    // Another client is not affected; reads are never limited.
    const other = await limited.token({ sub: 'someone-else' });
    expect(
      (await request(limited.app).post('/v1/devices/resume').set('authorization', `Bearer ${other}`).set('content-type', 'application/json').send('{}')).status,
    ).toBe(400);
    expect((await request(limited.app).get('/v1/restores').set('authorization', `Bearer ${t}`)).status).toBe(200);
  });

  it('a restore started on a host that is not there is accepted, then fails with the host named', async () => {
    const r = await request(env.app)
      .post('/v1/restores')
      .set('authorization', `Bearer ${good}`)
      .set('content-type', 'application/json')
      .send('{"check": true, "dump": "backup.sql"}');
    expect(r.status).toBe(202);
    expect(r.headers.location).toBe(`/v1/restores/${r.body.id}`);
    expect(r.body).toMatchObject({ phase: 'Pending', check: true, requestedBy: 'api:operator@example' });
    const location = String(r.headers.location);
    const events = await request(env.app).get(`${location}/events`).set('authorization', `Bearer ${good}`).set('accept', 'application/x-ndjson');
    const last = JSON.parse(events.text.trim().split('\n').at(-1)!) as { type: string; run: { phase: string; error: { code: string } } };
    expect(last).toMatchObject({ type: 'run-finished', run: { phase: 'Failed', error: { code: 'RESTORE_ERR_DBUS_UNREACHABLE' } } });
    const got = await request(env.app).get(location).set('authorization', `Bearer ${good}`);
    expect(got.body.phase).toBe('Failed');
  });
});
