/**
 * Keys and tokens for the API's tests and benchmark, all made with jose. Times are offsets in
 * seconds from now, so a table of cases reads as "expired a minute ago" rather than as dates.
 */
import { randomUUID } from 'node:crypto';
import { base64url, CompactSign, exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';

export type KeyKind = 'rsa' | 'ec' | 'ed25519';

const GENERATE = {
  rsa: { alg: 'RS256', options: { modulusLength: 2048 } },
  ec: { alg: 'ES256', options: {} },
  ed25519: { alg: 'EdDSA', options: { crv: 'Ed25519' } },
} as const;

export interface TestKey {
  kind: KeyKind;
  kid: string;
  /** The algorithm a token gets when mintToken is not told one. */
  alg: string;
  /** Kept as a JWK so one RSA pair can sign RS* and PS* alike (a CryptoKey is bound to one). */
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function generateTestKey(kind: KeyKind, kid = `${kind}-${randomUUID().slice(0, 8)}`): Promise<TestKey> {
  const { alg, options } = GENERATE[kind];
  const { publicKey, privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
  return { kind, kid, alg, privateJwk: await exportJWK(privateKey), publicJwk: { ...(await exportJWK(publicKey)), kid } };
}

/** The public JWK with its kid; `extra` adds or overrides members (alg, use, a different kid). */
export function publicJwk(key: TestKey, extra: Partial<JWK> = {}): JWK {
  return { ...key.publicJwk, ...extra };
}

export function jwksOf(...keys: Array<TestKey | JWK>): { keys: JWK[] } {
  return { keys: keys.map((k) => ('privateJwk' in k ? publicJwk(k) : k)) };
}

/** SPKI PEM of the public key (rsaEncryption for RSA, so it verifies RS* and PS*). */
export async function spkiPem(key: TestKey): Promise<string> {
  return exportSPKI((await importJWK(key.publicJwk, key.alg)) as CryptoKey);
}

const signingKeys = new WeakMap<TestKey, Map<string, CryptoKey>>();

async function signingKey(key: TestKey, alg: string): Promise<CryptoKey> {
  let byAlg = signingKeys.get(key);
  if (!byAlg) signingKeys.set(key, (byAlg = new Map()));
  let k = byAlg.get(alg);
  if (!k) byAlg.set(alg, (k = (await importJWK(key.privateJwk, alg)) as CryptoKey));
  return k;
}

export interface MintOptions {
  key: TestKey;
  /** Header kid; default the key's; null: no kid. */
  kid?: string | null;
  alg?: string;
  /** null leaves the claim out. */
  iss: string | null;
  aud: string | string[] | null;
  sub: string | null;
  scope?: string | string[];
  /** Seconds from now; default 300; null: no exp. */
  expiresIn?: number | null;
  /** Seconds from now. */
  notBefore?: number;
  /** Seconds from now; default 0; null: no iat. */
  issuedAt?: number | null;
  /** Default 'JWT'; null: no typ header. */
  typ?: string | null;
  jti?: string;
  /** Claims merged last, so they can also replace a standard one with a value of another type. */
  extra?: object;
  /** More protected header members (e.g. crit). */
  header?: Record<string, unknown>;
}

const now = () => Math.floor(Date.now() / 1000);

/** The claims set mintToken would sign; the malformed-token helpers start from it too. */
export function claimsOf(o: Omit<MintOptions, 'key' | 'kid' | 'alg' | 'typ' | 'header'>): Record<string, unknown> {
  const t = now();
  const c: Record<string, unknown> = {};
  if (o.iss !== null) c.iss = o.iss;
  if (o.aud !== null) c.aud = o.aud;
  if (o.sub !== null) c.sub = o.sub;
  if (o.scope !== undefined) c.scope = o.scope;
  const iat = o.issuedAt === undefined ? 0 : o.issuedAt;
  if (iat !== null) c.iat = t + iat;
  const exp = o.expiresIn === undefined ? 300 : o.expiresIn;
  if (exp !== null) c.exp = t + exp;
  if (o.notBefore !== undefined) c.nbf = t + o.notBefore;
  if (o.jti !== undefined) c.jti = o.jti;
  return { ...c, ...o.extra };
}

function headerOf(o: MintOptions, alg: string): Record<string, unknown> {
  const h: Record<string, unknown> = { alg, ...o.header };
  const kid = o.kid === undefined ? o.key.kid : o.kid;
  if (kid !== null) h.kid = kid;
  const typ = o.typ === undefined ? 'JWT' : o.typ;
  if (typ !== null) h.typ = typ;
  return h;
}

export async function mintToken(o: MintOptions): Promise<string> {
  const alg = o.alg ?? o.key.alg;
  const crit = Array.isArray(o.header?.crit) ? Object.fromEntries((o.header.crit as string[]).map((c) => [c, true])) : undefined;
  return new SignJWT(claimsOf(o)).setProtectedHeader(headerOf(o, alg) as { alg: string }).sign(await signingKey(o.key, alg), crit ? { crit } : undefined);
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));
const parts = (token: string) => token.split('.') as [string, string, string];

/** An unsecured JWT (alg none), with an empty signature unless one is given. */
export function unsignedToken(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'none', typ: 'JWT' }, signature = ''): string {
  return `${b64json(header)}.${b64json(claims)}.${signature}`;
}

/** An HMAC-signed JWT: the key confusion attack when `secret` is the verifier's public key PEM. */
export async function hmacToken(
  secret: string | Uint8Array,
  alg: 'HS256' | 'HS384' | 'HS512',
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  return new SignJWT(claims).setProtectedHeader({ typ: 'JWT', ...header, alg }).sign(key);
}

/** A correctly signed JWS whose payload is any bytes (not necessarily a JSON object). */
export async function signRaw(key: TestKey, payload: string, header: Record<string, unknown> = {}): Promise<string> {
  const alg = (header.alg as string | undefined) ?? key.alg;
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ kid: key.kid, ...header, alg }).sign(await signingKey(key, alg));
}

/** The payload changed after signing; the signature stays as it was. */
export function tamperPayload(token: string, patch: Record<string, unknown>): string {
  const [h, p, s] = parts(token);
  return `${h}.${b64json({ ...JSON.parse(new TextDecoder().decode(base64url.decode(p))), ...patch })}.${s}`;
}

/** The protected header changed after signing. */
export function tamperHeader(token: string, patch: Record<string, unknown>): string {
  const [h, p, s] = parts(token);
  return `${b64json({ ...JSON.parse(new TextDecoder().decode(base64url.decode(h))), ...patch })}.${p}.${s}`;
}

/** One signature character changed in the middle, where every bit counts (unlike the last one). */
export function tamperSignature(token: string): string {
  const [h, p, s] = parts(token);
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}
