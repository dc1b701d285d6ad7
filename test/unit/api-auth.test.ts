import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, createAuthenticator, type Authenticator, type AuthSettings, type Principal, type Scope } from '../../src/api/auth.js';
import { freePort } from '../harness/free-port.js';
import {
  claimsOf,
  generateTestKey,
  hmacToken,
  jwksOf,
  mintToken,
  publicJwk,
  signRaw,
  spkiPem,
  tamperHeader,
  tamperPayload,
  tamperSignature,
  unsignedToken,
  type MintOptions,
  type TestKey,
} from '../harness/tokens.js';

const ISS = 'https://issuer.test';
const ISS2 = 'https://second-issuer.test';
const AUD = 'restore-agent.test';
// Carried by every token as a claim; no error may ever show it.
const SECRET_CLAIM = 'secret-claim-value-5f2c9e1d';
const OUTWARD_401 = { status: 401, code: 'RESTORE_ERR_UNAUTHENTICATED', message: 'Authentication failed.' };

let dir: string;
let rsa: TestKey, rsaOther: TestKey, rsaNext: TestKey, ec: TestKey, ed: TestKey;
const pem = { rsa: '', ec: '', ed: '' };
type Source = 'jwks' | 'pemRsa' | 'pemEc' | 'pemEd';
const auths = {} as Record<Source, Authenticator>;

function settings(over: Partial<AuthSettings> = {}): AuthSettings {
  return {
    jwksFile: '',
    jwksUrl: '',
    jwtPublicKey: '',
    jwtIssuers: [ISS, ISS2],
    jwtAudience: AUD,
    clockToleranceSec: 30,
    maxTokenAgeSec: 900,
    jwksTimeoutMs: 400,
    jwksCacheMaxAgeMs: 60_000,
    ...over,
  };
}

const defaults = (): MintOptions => ({
  key: rsa,
  iss: ISS,
  aud: AUD,
  sub: 'alice',
  scope: 'restore:read restore:run',
  jti: 'jti-1',
  extra: { note: SECRET_CLAIM },
});
const token = (o: Partial<MintOptions> = {}) => mintToken({ ...defaults(), ...o, extra: { note: SECRET_CLAIM, ...o.extra } });
const bearer = async (t: Promise<string> | string) => `Bearer ${await t}`;
const write = (name: string, content: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return file;
};

/** Nothing a caller or a log could see may hold the token, a piece of it, or a secret claim value. */
function expectNothingSecret(err: Error, header: string | undefined): void {
  const needles = [SECRET_CLAIM];
  if (header && header.length >= 20) needles.push(header);
  for (const part of (header ?? '').replace(/^\S+\s+/, '').split(/[.\s,]/)) if (part.length >= 12) needles.push(part);
  const seen = [err.message, String(err), JSON.stringify(err), err.stack ?? '', (err as AuthError).reason ?? ''];
  for (const text of seen) for (const needle of needles) expect(text).not.toContain(needle);
}

async function refusal(auth: Authenticator, header: string | undefined, need: Scope = 'restore:read', mutating = false): Promise<AuthError> {
  const outcome = await auth.authenticate(header, need, { mutating }).then(
    (p) => p,
    (e: unknown) => e,
  );
  expect(outcome, 'a token that must be refused was accepted').toBeInstanceOf(AuthError);
  const err = outcome as AuthError;
  expectNothingSecret(err, header);
  return err;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'api-auth-'));
  [rsa, rsaOther, rsaNext, ec, ed] = await Promise.all([
    generateTestKey('rsa', 'rsa-1'),
    generateTestKey('rsa', 'rsa-1'), // another pair under the same kid
    generateTestKey('rsa', 'rsa-2'),
    generateTestKey('ec', 'ec-1'),
    generateTestKey('ed25519', 'ed-1'),
  ]);
  pem.rsa = await spkiPem(rsa);
  pem.ec = await spkiPem(ec);
  pem.ed = await spkiPem(ed);
  auths.jwks = await createAuthenticator(settings({ jwksFile: write('jwks.json', JSON.stringify(jwksOf(rsa, ec, ed))) }));
  auths.pemRsa = await createAuthenticator(settings({ jwtPublicKey: write('rsa.pem', pem.rsa) }));
  auths.pemEc = await createAuthenticator(settings({ jwtPublicKey: write('ec.pem', pem.ec) }));
  auths.pemEd = await createAuthenticator(settings({ jwtPublicKey: write('ed.pem', pem.ed) }));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Bad {
  name: string;
  header: () => Promise<string | undefined>;
  reason: RegExp;
  status?: 401 | 403;
  need?: Scope;
  mutating?: boolean;
  source?: Source;
}

const hs = (alg: 'HS256' | 'HS512', secret: () => string) => async () => bearer(hmacToken(secret(), alg, claimsOf(defaults()), { kid: rsa.kid }));

const BAD: Bad[] = [
  // the header itself
  { name: 'no Authorization header', header: async () => undefined, reason: /^no Authorization header$/ },
  { name: 'a blank Authorization header', header: async () => '   ', reason: /^no Authorization header$/ },
  { name: 'Basic credentials', header: async () => 'Basic YWxpY2U6cGFzc3dvcmQtMTIzNDU2', reason: /^scheme Basic is not Bearer$/ },
  { name: 'a JWT under another scheme', header: async () => `Token ${await token()}`, reason: /^scheme Token is not Bearer$/ },
  { name: 'a bare JWT without a scheme', header: () => token(), reason: /^scheme \(other\) is not Bearer$/ },
  { name: 'two tokens', header: async () => `Bearer ${await token()} ${await token({ sub: 'bob' })}`, reason: /^more than one token$/ },
  { name: 'two tokens, comma-separated', header: async () => `Bearer ${await token()},${await token()}`, reason: /^more than one token$/ },
  { name: 'an empty token', header: async () => 'Bearer', reason: /^empty bearer token$/ },
  { name: 'an empty token after spaces', header: async () => 'bearer    ', reason: /^empty bearer token$/ },
  { name: 'garbage', header: async () => 'Bearer definitely-not-a-jwt', reason: /^malformed token \(not a compact JWS\)$/ },
  { name: 'three parts of garbage', header: async () => 'Bearer aaaa.bbbb.cccc', reason: /^malformed token header$/ },
  { name: 'five parts (a JWE)', header: async () => 'Bearer aaaa.bbbb.cccc.dddd.eeee', reason: /^malformed token \(not a compact JWS\)$/ },
  { name: 'an oversized token', header: async () => `Bearer ${'a'.repeat(17_000)}.b.c`, reason: /^token too large$/ },
  // the algorithm
  { name: 'alg none', header: () => bearer(unsignedToken(claimsOf(defaults()))), reason: /^alg none not allowed$/ },
  {
    name: 'alg none with a signature',
    header: () => bearer(unsignedToken(claimsOf(defaults()), { alg: 'none', kid: 'rsa-1' }, 'c2lnbmF0dXJlLWJ5dGVz')),
    reason: /^alg none not allowed$/,
  },
  { name: 'alg "None"', header: () => bearer(unsignedToken(claimsOf(defaults()), { alg: 'None' })), reason: /^alg None not allowed$/ },
  { name: 'HS256 signed with the public key PEM as secret (JWKS source)', header: hs('HS256', () => pem.rsa), reason: /^alg HS256 not allowed$/ },
  {
    name: 'HS256 signed with the public key PEM as secret (PEM source)',
    header: hs('HS256', () => pem.rsa),
    reason: /^alg HS256 not allowed$/,
    source: 'pemRsa',
  },
  { name: 'HS512', header: hs('HS512', () => pem.rsa), reason: /^alg HS512 not allowed$/, source: 'pemRsa' },
  {
    name: 'an alg outside the allow-list (ES256K)',
    header: async () => bearer(tamperHeader(await token(), { alg: 'ES256K' })),
    reason: /^alg ES256K not allowed$/,
  },
  {
    name: 'an alg that is not a string',
    header: async () => bearer(tamperHeader(await token(), { alg: ['RS256'] })),
    reason: /^alg \(unprintable\) not allowed$/,
  },
  { name: 'ES256 token against an RSA PEM key', header: () => bearer(token({ key: ec })), reason: /^alg ES256 not allowed$/, source: 'pemRsa' },
  { name: 'RS256 token against an EC PEM key', header: () => bearer(token()), reason: /^alg RS256 not allowed$/, source: 'pemEc' },
  { name: 'ES256 token against an Ed25519 PEM key', header: () => bearer(token({ key: ec })), reason: /^alg ES256 not allowed$/, source: 'pemEd' },
  // the key and the signature
  { name: 'RS256 signed by another key pair under a trusted kid', header: () => bearer(token({ key: rsaOther })), reason: /^bad signature$/ },
  { name: 'RS256 signed by another key pair (PEM source)', header: () => bearer(token({ key: rsaOther })), reason: /^bad signature$/, source: 'pemRsa' },
  { name: 'an unknown kid', header: () => bearer(token({ kid: 'no-such-kid' })), reason: /^unknown kid$/ },
  { name: 'a kid of a key of another type', header: () => bearer(token({ key: ec, kid: rsa.kid })), reason: /^unknown kid$/ },
  {
    name: 'a tampered payload (scope raised)',
    header: async () => bearer(tamperPayload(await token({ scope: 'restore:read' }), { scope: 'restore:read restore:run devices:resume' })),
    reason: /^bad signature$/,
    need: 'devices:resume',
  },
  { name: 'a tampered signature', header: async () => bearer(tamperSignature(await token())), reason: /^bad signature$/ },
  { name: 'a tampered header (typ changed)', header: async () => bearer(tamperHeader(await token(), { typ: 'at+jwt' })), reason: /^bad signature$/ },
  { name: 'an unknown critical header', header: () => bearer(token({ header: { crit: ['x-must'], 'x-must': 1 } })), reason: /^unsupported token feature$/ },
  { name: 'a payload that is not a JSON object', header: () => bearer(signRaw(rsa, '["restore:run"]')), reason: /^malformed token \(claims set\)$/ },
  // the claims
  { name: 'a wrong iss', header: () => bearer(token({ iss: 'https://evil.test' })), reason: /^wrong issuer https:\/\/evil\.test$/ },
  { name: 'a missing iss', header: () => bearer(token({ iss: null })), reason: /^missing iss$/ },
  { name: 'a wrong aud', header: () => bearer(token({ aud: 'another-service' })), reason: /^wrong audience another-service$/ },
  { name: 'an aud list without ours', header: () => bearer(token({ aud: ['svc-a', 'svc-b'] })), reason: /^wrong audience svc-a,svc-b$/ },
  { name: 'a missing aud', header: () => bearer(token({ aud: null })), reason: /^missing aud$/ },
  { name: 'expired', header: () => bearer(token({ expiresIn: -120, issuedAt: -600 })), reason: /^expired$/ },
  { name: 'not yet valid', header: () => bearer(token({ notBefore: 120 })), reason: /^not yet valid \(nbf\)$/ },
  { name: 'no exp', header: () => bearer(token({ expiresIn: null })), reason: /^missing exp$/ },
  { name: 'an exp that is not a number', header: () => bearer(token({ extra: { exp: 'tomorrow' } })), reason: /^invalid exp$/ },
  { name: 'typ secevent+jwt', header: () => bearer(token({ typ: 'secevent+jwt' })), reason: /^typ secevent\+jwt not allowed$/ },
  { name: 'typ of another kind (a number)', header: () => bearer(token({ typ: null, header: { typ: 42 } })), reason: /^typ \(unprintable\) not allowed$/ },
  { name: 'a missing sub', header: () => bearer(token({ sub: null })), reason: /^missing sub$/ },
  { name: 'an empty sub', header: () => bearer(token({ sub: '' })), reason: /^invalid sub$/ },
  { name: 'a sub that is not a string', header: () => bearer(token({ sub: null, extra: { sub: 42 } })), reason: /^invalid sub$/ },
  { name: 'a jti that is not a string', header: () => bearer(token({ extra: { jti: 7 } })), reason: /^invalid jti$/ },
  { name: 'an iat that is not a number', header: () => bearer(token({ extra: { iat: 'now' } })), reason: /^invalid iat$/ },
  {
    name: 'an iat too old on a mutating call',
    header: () => bearer(token({ issuedAt: -1000 })),
    reason: /^token too old .*\(iat\)$/,
    need: 'restore:run',
    mutating: true,
  },
  { name: 'no iat on a mutating call', header: () => bearer(token({ issuedAt: null })), reason: /^missing iat$/, need: 'restore:run', mutating: true },
  { name: 'an iat in the future beyond tolerance (read)', header: () => bearer(token({ issuedAt: 120 })), reason: /^iat in the future$/ },
  {
    name: 'an iat in the future beyond tolerance (mutating)',
    header: () => bearer(token({ issuedAt: 120 })),
    reason: /^iat in the future$/,
    need: 'restore:run',
    mutating: true,
  },
  // valid tokens without the scope: 403
  { name: 'no scope claim', header: () => bearer(token({ scope: undefined })), status: 403, reason: /^missing scope restore:read$/ },
  {
    name: 'a scope claim that is an object',
    header: () => bearer(token({ scope: undefined, extra: { scope: { 'restore:read': true } } })),
    status: 403,
    reason: /^missing scope restore:read$/,
  },
  {
    name: 'a scope claim that is a number',
    header: () => bearer(token({ scope: undefined, extra: { scope: 42 } })),
    status: 403,
    reason: /^missing scope restore:read$/,
  },
  {
    name: 'a scope array holding a non-string',
    header: () => bearer(token({ scope: ['restore:read', 1] as string[] })),
    status: 403,
    reason: /^missing scope restore:read$/,
  },
  {
    name: 'scopes without the one needed',
    header: () => bearer(token({ scope: 'restore:read' })),
    status: 403,
    reason: /^missing scope restore:run$/,
    need: 'restore:run',
    mutating: true,
  },
  {
    name: 'a scope that only starts like the one needed',
    header: () => bearer(token({ scope: 'restore:readonly restore:run-all' })),
    status: 403,
    reason: /^missing scope restore:read$/,
  },
  { name: 'comma-separated scopes', header: () => bearer(token({ scope: 'restore:read,restore:run' })), status: 403, reason: /^missing scope restore:read$/ },
  {
    name: 'a scope for another call in an scp claim only',
    header: () => bearer(token({ scope: undefined, extra: { scp: 'restore:read' } })),
    status: 403,
    reason: /^missing scope restore:read$/,
  },
];

describe('bad tokens and headers', () => {
  it('the table is the promised size', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(30);
  });

  it.each(BAD)('$name', async ({ header, reason, status = 401, need = 'restore:read', mutating = false, source = 'jwks' }) => {
    const h = await header();
    const err = await refusal(auths[source], h, need, mutating);
    expect(err.reason).toMatch(reason);
    expect(err.status).toBe(status);
    if (status === 401) expect({ status: err.status, code: err.code, message: err.message }).toEqual(OUTWARD_401);
    else expect(err.code).toBe('RESTORE_ERR_FORBIDDEN');
  });
});

interface Good {
  name: string;
  header: () => Promise<string>;
  need?: Scope;
  mutating?: boolean;
  source?: Source;
  principal?: Partial<Principal>;
}

const GOOD: Good[] = [
  {
    name: 'RS256 from the JWKS file',
    header: () => bearer(token()),
    principal: { sub: 'alice', iss: ISS, jti: 'jti-1', scopes: ['restore:read', 'restore:run'] },
  },
  { name: 'RS512', header: () => bearer(token({ alg: 'RS512' })) },
  { name: 'PS256 from a matching RSA key', header: () => bearer(token({ alg: 'PS256' })) },
  { name: 'ES256 from a matching EC key', header: () => bearer(token({ key: ec })) },
  { name: 'EdDSA from a matching Ed25519 key', header: () => bearer(token({ key: ed })) },
  { name: 'the second configured issuer', header: () => bearer(token({ iss: ISS2 })), principal: { iss: ISS2 } },
  { name: 'an aud list holding ours', header: () => bearer(token({ aud: ['svc-a', AUD] })) },
  { name: 'expired within the tolerance', header: () => bearer(token({ expiresIn: -10 })) },
  { name: 'nbf within the tolerance', header: () => bearer(token({ notBefore: 10 })) },
  { name: 'iat just ahead, within the tolerance, on a mutating call', header: () => bearer(token({ issuedAt: 10 })), need: 'restore:run', mutating: true },
  { name: 'a fresh iat on a mutating call', header: () => bearer(token({ issuedAt: -60 })), need: 'restore:run', mutating: true },
  { name: 'an old iat on a read', header: () => bearer(token({ issuedAt: -1000 })) },
  { name: 'no iat on a read', header: () => bearer(token({ issuedAt: null })) },
  { name: 'typ at+jwt', header: () => bearer(token({ typ: 'at+jwt' })) },
  { name: 'typ AT+JWT', header: () => bearer(token({ typ: 'AT+JWT' })) },
  { name: 'typ application/at+jwt', header: () => bearer(token({ typ: 'application/at+jwt' })) },
  { name: 'typ jwt', header: () => bearer(token({ typ: 'jwt' })) },
  { name: 'typ absent', header: () => bearer(token({ typ: null })) },
  {
    name: 'scope as an array',
    header: () => bearer(token({ scope: ['restore:run', 'devices:resume'] })),
    need: 'devices:resume',
    mutating: true,
    principal: { scopes: ['restore:run', 'devices:resume'] },
  },
  {
    name: 'scope with extra spaces',
    header: () => bearer(token({ scope: '  restore:read   restore:run ' })),
    principal: { scopes: ['restore:read', 'restore:run'] },
  },
  { name: 'no kid: the only key that fits the alg', header: () => bearer(token({ kid: null })) },
  { name: 'scheme in lower case', header: async () => `bearer ${await token()}` },
  { name: 'RS256 from an RSA PEM key', header: () => bearer(token()), source: 'pemRsa' },
  { name: 'PS384 from an RSA PEM key', header: () => bearer(token({ alg: 'PS384' })), source: 'pemRsa' },
  { name: 'ES256 from an EC PEM key', header: () => bearer(token({ key: ec })), source: 'pemEc' },
  { name: 'EdDSA from an Ed25519 PEM key', header: () => bearer(token({ key: ed })), source: 'pemEd' },
];

describe('good tokens', () => {
  it.each(GOOD)('$name', async ({ header, need = 'restore:read', mutating = false, source = 'jwks', principal }) => {
    const p = await auths[source].authenticate(await header(), need, { mutating });
    expect(p.sub).toBe('alice');
    expect(p.scopes).toContain(need);
    if (principal) expect(p).toMatchObject(principal);
  });

  it('the principal is exactly sub, iss, jti and scopes; no jti when the token has none', async () => {
    expect(await auths.jwks.authenticate(await bearer(token()), 'restore:read', { mutating: false })).toEqual({
      sub: 'alice',
      iss: ISS,
      jti: 'jti-1',
      scopes: ['restore:read', 'restore:run'],
    });
    const p = await auths.jwks.authenticate(await bearer(token({ jti: undefined })), 'restore:read', { mutating: false });
    expect(p).toEqual({ sub: 'alice', iss: ISS, scopes: ['restore:read', 'restore:run'] });
    expect('jti' in p).toBe(false);
  });
});

/** A node:http JWKS server on 127.0.0.1 whose behaviour a test switches. */
async function jwksServer(): Promise<{
  url: string;
  requests: () => number;
  set: (s: { jwks?: unknown; status?: number; hang?: boolean }) => void;
  stop: () => Promise<void>;
}> {
  let state: { jwks?: unknown; status?: number; hang?: boolean } = {};
  let count = 0;
  const server: Server = createServer((req, res) => {
    count += 1;
    if (state.hang) return; // accepted, never answered
    res.writeHead(state.status ?? 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(state.jwks ?? { keys: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    requests: () => count,
    set: (s) => (state = s),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('JWKS URL', () => {
  let srv: Awaited<ReturnType<typeof jwksServer>>;
  beforeAll(async () => {
    srv = await jwksServer();
  });
  afterAll(async () => {
    await srv?.stop();
  });

  it('accepts a good token and fetches the key set once for many calls', async () => {
    srv.set({ jwks: jwksOf(rsa, ec) });
    const auth = await createAuthenticator(settings({ jwksUrl: srv.url }));
    const before = srv.requests();
    for (let i = 0; i < 3; i++) expect((await auth.authenticate(await bearer(token()), 'restore:read', { mutating: false })).sub).toBe('alice');
    expect((await auth.authenticate(await bearer(token({ key: ec })), 'restore:read', { mutating: false })).sub).toBe('alice');
    expect(srv.requests() - before).toBe(1);
    expect((await refusal(auth, await bearer(token({ kid: 'no-such-kid' })))).reason).toBe('unknown kid');
    expect((await refusal(auth, await bearer(hmacToken(pem.rsa, 'HS256', claimsOf(defaults()), { kid: rsa.kid })))).reason).toBe('alg HS256 not allowed');
  });

  it('a key server that never answers: a 401 bounded by the timeout, not a hang', async () => {
    srv.set({ hang: true });
    const auth = await createAuthenticator(settings({ jwksUrl: srv.url, jwksTimeoutMs: 300 }));
    const started = Date.now();
    const err = await refusal(auth, await bearer(token()));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err.status).toBe(401);
    expect(err.reason).toBe('jwks fetch timed out');
  });

  it('a key server answering 500, or nothing listening: 401 jwks unavailable', async () => {
    srv.set({ status: 500 });
    const auth = await createAuthenticator(settings({ jwksUrl: srv.url }));
    expect((await refusal(auth, await bearer(token()))).reason).toBe('jwks unavailable');
    const closed = await createAuthenticator(settings({ jwksUrl: `http://127.0.0.1:${await freePort()}/jwks` }));
    expect((await refusal(closed, await bearer(token()))).reason).toBe('jwks unavailable');
  });

  it('a key set with a private key is not used', async () => {
    srv.set({ jwks: { keys: [{ ...rsa.privateJwk, kid: rsa.kid }] } });
    const auth = await createAuthenticator(settings({ jwksUrl: srv.url }));
    const err = await refusal(auth, await bearer(token()));
    expect(err.reason).toBe('jwks invalid');
    expect(err.reason + err.message).not.toContain(String(rsa.privateJwk.d));
  });

  it('reload fetches now: a rotated key works at once; a failed reload keeps the old keys and throws', async () => {
    srv.set({ jwks: jwksOf(rsa) });
    const auth = await createAuthenticator(settings({ jwksUrl: srv.url, jwksTimeoutMs: 300 }));
    await auth.authenticate(await bearer(token()), 'restore:read', { mutating: false });
    srv.set({ jwks: jwksOf(rsaNext) });
    await auth.reload();
    expect((await refusal(auth, await bearer(token()))).reason).toBe('unknown kid');
    await auth.authenticate(await bearer(token({ key: rsaNext })), 'restore:read', { mutating: false });
    srv.set({ hang: true });
    await expect(auth.reload()).rejects.toMatchObject({
      code: 'RESTORE_ERR_CONFIG_INVALID',
      message: expect.stringMatching(/^api\.jwksUrl: http:\/\/127\.0\.0\.1:\d+: .*timed out/),
    });
    await auth.authenticate(await bearer(token({ key: rsaNext })), 'restore:read', { mutating: false });
  });
});

describe('reload of key files (SIGHUP)', () => {
  it('rotating the JWKS file: old kid refused, new one accepted; a broken file keeps the keys and throws', async () => {
    const file = write('rotate.jwks.json', JSON.stringify(jwksOf(rsa)));
    const auth = await createAuthenticator(settings({ jwksFile: file }));
    const read = async (k: TestKey) => auth.authenticate(await bearer(token({ key: k })), 'restore:read', { mutating: false });
    await read(rsa);
    writeFileSync(file, JSON.stringify(jwksOf(rsaNext)));
    await read(rsa); // the file is read at start and on reload only
    await auth.reload();
    expect((await refusal(auth, await bearer(token()))).reason).toBe('unknown kid');
    await read(rsaNext);

    writeFileSync(file, `{"keys": [${SECRET_CLAIM}`);
    const err = await auth.reload().then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ name: 'RestoreError', code: 'RESTORE_ERR_CONFIG_INVALID', message: `api.jwksFile: ${file}: not valid JSON.` });
    expectNothingSecret(err!, undefined);
    await read(rsaNext);

    rmSync(file);
    await expect(auth.reload()).rejects.toMatchObject({ code: 'RESTORE_ERR_CONFIG_INVALID', message: `api.jwksFile: ${file}: cannot read it (ENOENT).` });
    await read(rsaNext);
  });

  it('replacing the PEM file with a key of another type switches the algorithms too', async () => {
    const file = write('rotate.pem', pem.rsa);
    const auth = await createAuthenticator(settings({ jwtPublicKey: file }));
    await auth.authenticate(await bearer(token()), 'restore:read', { mutating: false });
    writeFileSync(file, pem.ec);
    await auth.reload();
    expect((await refusal(auth, await bearer(token()))).reason).toBe('alg RS256 not allowed');
    await auth.authenticate(await bearer(token({ key: ec })), 'restore:read', { mutating: false });
    writeFileSync(file, 'not a key');
    await expect(auth.reload()).rejects.toMatchObject({ code: 'RESTORE_ERR_CONFIG_INVALID', message: expect.stringContaining(file) });
    await auth.authenticate(await bearer(token({ key: ec })), 'restore:read', { mutating: false });
  });
});

describe('configuration', () => {
  const configError = async (s: AuthSettings, message: RegExp, secret?: string) => {
    const err = await createAuthenticator(s).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err, 'the configuration was accepted').toBeDefined();
    expect(err).toMatchObject({ name: 'RestoreError', code: 'RESTORE_ERR_CONFIG_INVALID' });
    expect(err!.message).toMatch(message);
    if (secret) expect(`${err!.message} ${JSON.stringify(err)} ${err!.stack}`).not.toContain(secret);
  };
  const jwksFile = (name: string, keys: unknown[]) => settings({ jwksFile: write(name, JSON.stringify({ keys })) });
  const pemFile = (name: string, text: string) => settings({ jwtPublicKey: write(name, text) });
  const nodePem = (kind: 'rsa-pss' | 'ed448' | 'rsa', bits?: number) =>
    (kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits! })
      : kind === 'rsa-pss'
        ? generateKeyPairSync('rsa-pss', { modulusLength: 2048 })
        : generateKeyPairSync('ed448')
    ).publicKey
      .export({ type: 'spki', format: 'pem' })
      .toString();

  it('no key source, or more than one', async () => {
    const names = /api\.jwksFile, api\.jwksUrl, api\.jwtPublicKey.*none is set/;
    await configError(settings(), names);
    await configError(settings({ jwksFile: '  ' }), names);
    await configError(settings({ jwksFile: '/a', jwtPublicKey: '/b' }), /api\.jwksFile and api\.jwtPublicKey are set/);
    await configError(
      settings({ jwksFile: '/a', jwksUrl: 'https://idp.test/jwks', jwtPublicKey: '/b' }),
      /api\.jwksFile and api\.jwksUrl and api\.jwtPublicKey are set/,
    );
  });

  it('no issuer, no audience, a negative number', async () => {
    const file = write('cfg.jwks.json', JSON.stringify(jwksOf(rsa)));
    await configError(settings({ jwksFile: file, jwtIssuers: [] }), /^api\.jwtIssuers: /);
    await configError(settings({ jwksFile: file, jwtIssuers: ['  '] }), /^api\.jwtIssuers: /);
    await configError(settings({ jwksFile: file, jwtAudience: '' }), /^api\.jwtAudience: /);
    await configError(settings({ jwksFile: file, clockToleranceSec: -1 }), /^api\.clockToleranceSec: /);
  });

  it('JWKS files that cannot be used, named with the reason and never their content', async () => {
    const missing = path.join(dir, 'missing.json');
    await configError(settings({ jwksFile: missing }), new RegExp(`^api\\.jwksFile: ${missing}: cannot read it \\(ENOENT\\)\\.$`));
    const sub = path.join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    await configError(settings({ jwksFile: sub }), /not a regular file/);
    await configError(settings({ jwksFile: write('bad.json', `{"keys":[{"k":"${SECRET_CLAIM}"`) }), /: not valid JSON\.$/, SECRET_CLAIM);
    await configError(settings({ jwksFile: write('one-jwk.json', JSON.stringify(publicJwk(rsa))) }), /not a JWKS/);
    await configError(jwksFile('oct.json', [{ kty: 'oct', kid: 'hmac', k: SECRET_CLAIM }]), /key 0 \(kid hmac\) is a symmetric key \(kty oct\)/, SECRET_CLAIM);
    const priv = { ...rsa.privateJwk, kid: 'leaked' };
    await configError(jwksFile('private.json', [publicJwk(ec), priv]), /key 1 \(kid leaked\) holds private key material/, String(priv.d));
    await configError(jwksFile('empty.json', []), /holds no public signing key/);
    await configError(jwksFile('enc-only.json', [publicJwk(rsa, { use: 'enc' })]), /holds no public signing key/);
    await configError(jwksFile('misfit.json', [publicJwk(rsa, { alg: 'ES256' })]), /key 0 \(kid rsa-1\) has alg ES256, which does not fit a RSA key/);
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    await configError(jwksFile('short.json', [{ ...short, kid: 'short' }]), /shorter than 2048 bits/);
    await configError(jwksFile('broken.json', [{ kty: 'EC', crv: 'P-256', x: 'AAAA', y: 'AAAA', kid: 'b' }]), /not a valid EC public key/);
  });

  it('a JWKS file may hold encryption keys beside the signing keys; they are never used', async () => {
    const auth = await createAuthenticator(
      jwksFile('mixed.json', [publicJwk(rsaNext, { use: 'enc', kid: rsa.kid }), publicJwk(rsa, { use: 'sig', alg: 'RS256' })]),
    );
    await auth.authenticate(await bearer(token()), 'restore:read', { mutating: false });
    expect((await refusal(auth, await bearer(token({ alg: 'PS256' })))).reason).toBe('unknown kid');
  });

  it('PEM files that cannot be used', async () => {
    const privatePem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await configError(pemFile('private.pem', privatePem), /holds a private key/, privatePem.split('\n')[1]);
    await configError(pemFile('garbage.pem', `hello ${SECRET_CLAIM}`), /not a PEM public key/, SECRET_CLAIM);
    await configError(pemFile('two.pem', `${pem.rsa}\n${pem.ec}`), /more than one public key/);
    await configError(pemFile('corrupt.pem', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), /not a valid SPKI public key/);
    await configError(pemFile('pss.pem', nodePem('rsa-pss')), /RSA-PSS-restricted/);
    await configError(pemFile('ed448.pem', nodePem('ed448')), /unsupported key type \(ed448\)/);
    await configError(pemFile('short.pem', nodePem('rsa', 1024)), /shorter than 2048 bits/);
    await configError(settings({ jwtPublicKey: path.join(dir, 'nope.pem') }), /^api\.jwtPublicKey: .*nope\.pem: cannot read it \(ENOENT\)\.$/);
  });

  it('JWKS URLs: https, or http on the loopback only; never fetched at start', async () => {
    await configError(settings({ jwksUrl: 'http://idp.example.com/jwks' }), /^api\.jwksUrl: http:\/\/idp\.example\.com: must be https:\/\//);
    await configError(settings({ jwksUrl: 'ftp://127.0.0.1/jwks' }), /must be https:\/\//);
    await configError(settings({ jwksUrl: 'idp.test/jwks' }), /^api\.jwksUrl: not a URL\.$/);
    await configError(settings({ jwksUrl: 'https://user:pa55word-xyz@idp.test/jwks' }), /must not carry credentials/, 'pa55word-xyz');
    for (const url of ['https://idp.test/jwks?access_token=abc', 'http://localhost:1/jwks', 'http://[::1]:1/jwks', 'http://127.0.0.1:1/jwks']) {
      await expect(createAuthenticator(settings({ jwksUrl: url }))).resolves.toBeDefined();
    }
  });
});
