import { createPublicKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, importSPKI, type JWK, type JWTVerifyGetKey } from 'jose';
import { RestoreError } from '../lib/errors.js';

/** RFC 8725 3.1: an explicit allow-list, asymmetric only; `none` and HS* can never be named here. */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type AllowedAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

const RSA_ALGS: AllowedAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALG_BY_CURVE: Record<string, AllowedAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const EC_CURVE_BY_NODE_NAME: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

// Key files are small; a huge file is a wrong path, not a key set worth reading into memory.
const MAX_JWKS_BYTES = 1024 * 1024;
const MAX_PEM_BYTES = 64 * 1024;

/** The keys of one source, ready for jwtVerify: which algorithms they may verify and how to find one. */
export interface KeySet {
  readonly algorithms: readonly AllowedAlgorithm[];
  readonly getKey: JWTVerifyGetKey;
}

/**
 * Thrown by a remote key set's getKey when the JWKS could not be had; carries a log-safe reason.
 * Kept apart from jose's errors so that a network failure is not mistaken for a bad token.
 */
export class KeysUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'KeysUnavailableError';
  }
}

export type KeySourceName = 'api.jwksFile' | 'api.jwksUrl' | 'api.jwtPublicKey';

export interface KeySource {
  readonly name: KeySourceName;
  /** `refresh` makes a remote source fetch now (reload), so a failure is seen and the old keys kept. */
  load(refresh: boolean): Promise<KeySet>;
}

export interface KeySourceSettings {
  jwksFile: string;
  jwksUrl: string;
  jwtPublicKey: string;
  jwksTimeoutMs: number;
  jwksCacheMaxAgeMs: number;
}

function configError(message: string, details: Record<string, unknown>): RestoreError {
  return new RestoreError('RESTORE_ERR_CONFIG_INVALID', message, details);
}

/** Picks the one configured key source; none or several is a configuration error. */
export function keySourceOf(s: KeySourceSettings): KeySource {
  const configured = (
    [
      ['api.jwksFile', s.jwksFile.trim()],
      ['api.jwksUrl', s.jwksUrl.trim()],
      ['api.jwtPublicKey', s.jwtPublicKey.trim()],
    ] as const
  ).filter(([, v]) => v !== '');
  if (configured.length !== 1) {
    const which = configured.length === 0 ? 'none is set' : `${configured.map(([k]) => k).join(' and ')} are set`;
    throw configError(`Exactly one of api.jwksFile, api.jwksUrl, api.jwtPublicKey must be set to verify API tokens; ${which}.`, {
      keys: ['api.jwksFile', 'api.jwksUrl', 'api.jwtPublicKey'],
    });
  }
  const [name, value] = configured[0]!;
  if (name === 'api.jwksFile') return { name, load: () => loadJwksFile(value) };
  if (name === 'api.jwtPublicKey') return { name, load: () => loadPemFile(value) };
  const url = jwksUrlOf(value);
  return { name, load: (refresh) => loadRemote(url, s, refresh) };
}

async function readKeyFile(key: KeySourceName, file: string, maxBytes: number): Promise<string> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw configError(`${key}: ${file}: not a regular file.`, { key, file });
    if (st.size > maxBytes) throw configError(`${key}: ${file}: larger than ${maxBytes} bytes, not a key file.`, { key, file });
    return await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof RestoreError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw configError(`${key}: ${file}: cannot read it (${code}).`, { key, file });
  }
}

// Only names that are plainly identifiers go into messages; anything else from a file stays out.
function safeLabel(v: unknown): string {
  return typeof v === 'string' && /^[\w.:+/=-]{1,64}$/.test(v) ? v : '?';
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv'];

/**
 * Why a JWKS member cannot be used, or undefined when it can (or is not meant for signatures and is
 * simply never picked). Symmetric and private keys are refused outright: either one in a
 * verification set means HMAC confusion or a leaked signing key.
 */
function jwkProblem(jwk: unknown): string | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return 'is not a JSON object';
  const k = jwk as Record<string, unknown>;
  if (k.kty === 'oct') return 'is a symmetric key (kty oct); only public keys of asymmetric algorithms are accepted';
  if (PRIVATE_MEMBERS.some((m) => m in k)) return 'holds private key material; the file must hold public keys only';
  if (k.use !== undefined && k.use !== 'sig') return undefined;
  if (k.alg !== undefined && !(ALLOWED_ALGORITHMS as readonly unknown[]).includes(k.alg)) return undefined;
  const algs = algorithmsOfJwk(k);
  if (typeof algs === 'string') return algs;
  if (typeof k.alg === 'string' && !algs.includes(k.alg as AllowedAlgorithm))
    return `has alg ${safeLabel(k.alg)}, which does not fit a ${safeLabel(k.kty)} key`;
  return undefined;
}

function algorithmsOfJwk(k: Record<string, unknown>): AllowedAlgorithm[] | string {
  if (k.kty !== 'RSA' && k.kty !== 'EC' && k.kty !== 'OKP') return `has an unsupported key type (${safeLabel(k.kty)})`;
  let key;
  try {
    key = createPublicKey({ key: k as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    return `is not a valid ${safeLabel(k.kty)} public key`;
  }
  const algs = algorithmsOfKey(key.asymmetricKeyType, key.asymmetricKeyDetails);
  return typeof algs === 'string' ? `is ${algs}` : algs;
}

function algorithmsOfKey(type: string | undefined, details: import('node:crypto').AsymmetricKeyDetails | undefined): AllowedAlgorithm[] | string {
  switch (type) {
    case 'rsa':
      // jose refuses shorter RSA keys at verification; say so now rather than fail every token later.
      if ((details?.modulusLength ?? 0) < 2048) return 'an RSA key shorter than 2048 bits';
      return RSA_ALGS;
    case 'ec': {
      const alg = EC_ALG_BY_CURVE[EC_CURVE_BY_NODE_NAME[details?.namedCurve ?? ''] ?? ''];
      return alg ? [alg] : `an EC key on an unsupported curve (${safeLabel(details?.namedCurve)}); P-256, P-384 and P-521 are supported`;
    }
    case 'ed25519':
      return ['EdDSA'];
    case 'rsa-pss':
      return 'an RSA-PSS-restricted key (id-RSASSA-PSS); export it as a plain RSA public key (rsaEncryption)';
    default:
      return `an unsupported key type (${safeLabel(type)}); RSA, EC (P-256/384/521) and Ed25519 keys are supported`;
  }
}

async function loadJwksFile(file: string): Promise<KeySet> {
  const key = 'api.jwksFile';
  const text = await readKeyFile(key, file, MAX_JWKS_BYTES);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse quotes the text it choked on, so its message stays out.
    throw configError(`${key}: ${file}: not valid JSON.`, { key, file });
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (typeof json !== 'object' || json === null || !Array.isArray(keys)) {
    throw configError(`${key}: ${file}: not a JWKS (a JSON object with a "keys" array).`, { key, file });
  }
  let usable = 0;
  keys.forEach((jwk: unknown, i) => {
    const problem = jwkProblem(jwk);
    const kid = safeLabel((jwk as Record<string, unknown> | null)?.kid);
    if (problem) throw configError(`${key}: ${file}: key ${i} (kid ${kid}) ${problem}.`, { key, file, index: i });
    const k = jwk as Record<string, unknown>;
    if ((k.use === undefined || k.use === 'sig') && (k.alg === undefined || (ALLOWED_ALGORITHMS as readonly unknown[]).includes(k.alg))) usable += 1;
  });
  if (usable === 0) throw configError(`${key}: ${file}: holds no public signing key for ${ALLOWED_ALGORITHMS.join(', ')}.`, { key, file });
  return { algorithms: ALLOWED_ALGORITHMS, getKey: createLocalJWKSet(json as { keys: JWK[] }) };
}

async function loadPemFile(file: string): Promise<KeySet> {
  const key = 'api.jwtPublicKey';
  const text = await readKeyFile(key, file, MAX_PEM_BYTES);
  const fail = (why: string) => configError(`${key}: ${file}: ${why}.`, { key, file });
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw fail('holds a private key; configure the public key (SPKI PEM) only');
  if (/-----BEGIN CERTIFICATE-----/.test(text)) throw fail('is a certificate; extract its public key (openssl x509 -pubkey -noout)');
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length !== 1) throw fail(blocks.length === 0 ? 'not a PEM public key (-----BEGIN PUBLIC KEY-----, SPKI)' : 'holds more than one public key');
  const pem = blocks[0]!;
  let nodeKey;
  try {
    nodeKey = createPublicKey(pem);
  } catch {
    throw fail('not a valid SPKI public key');
  }
  const algs = algorithmsOfKey(nodeKey.asymmetricKeyType, nodeKey.asymmetricKeyDetails);
  if (typeof algs === 'string') throw fail(`is ${algs}`);
  // One imported key per algorithm: a CryptoKey is bound to its algorithm, and the header's alg
  // (already on the allow-list of this key type) picks it, so no token can choose another use.
  const byAlg = new Map<string, CryptoKey>();
  for (const alg of algs) {
    try {
      byAlg.set(alg, await importSPKI(pem, alg));
    } catch {
      throw fail(`cannot be used for ${alg}`);
    }
  }
  return {
    algorithms: algs,
    getKey: async (header) => {
      const k = byAlg.get(header.alg ?? '');
      if (!k) throw new KeysUnavailableError(`no key for alg ${safeLabel(header.alg)}`);
      return k;
    },
  };
}

const LOCAL_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

function jwksUrlOf(value: string): URL {
  const key = 'api.jwksUrl';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configError(`${key}: not a URL.`, { key });
  }
  // The origin alone goes into messages: a path or query may carry an access token.
  if (url.username || url.password) throw configError(`${key}: must not carry credentials (user:password@).`, { key, origin: url.origin });
  const local = url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !local) {
    throw configError(`${key}: ${url.origin}: must be https:// (http:// only on 127.0.0.1, ::1 or localhost).`, { key, origin: url.origin });
  }
  return url;
}

function fetchFailureReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_JWKS_TIMEOUT') return 'jwks fetch timed out';
  if (code === 'ERR_JWKS_INVALID') return 'jwks invalid';
  return 'jwks unavailable';
}

async function loadRemote(url: URL, s: KeySourceSettings, refresh: boolean): Promise<KeySet> {
  const remote = createRemoteJWKSet(url, { timeoutDuration: s.jwksTimeoutMs, cacheMaxAge: s.jwksCacheMaxAgeMs });
  if (refresh) {
    try {
      await remote.reload();
    } catch (err) {
      throw configError(`api.jwksUrl: ${url.origin}: could not fetch the JWKS (${fetchFailureReason(err)}); the keys loaded before stay in use.`, {
        key: 'api.jwksUrl',
        origin: url.origin,
      });
    }
  }
  return {
    algorithms: ALLOWED_ALGORITHMS,
    getKey: async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        // A missing key is the token's problem; a fetch that failed is the key server's.
        if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || code === 'ERR_JOSE_NOT_SUPPORTED') throw err;
        throw new KeysUnavailableError(fetchFailureReason(err));
      }
    },
  };
}
