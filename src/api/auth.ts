import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { CONFIG_DEFAULTS } from '../config/schema.js';
import { RestoreError, type ErrorCode } from '../lib/errors.js';
import { KeysUnavailableError, keySourceOf, type KeySet } from './auth-keys.js';
import { wallClockMs } from '../lib/clock.js';

export type Scope = 'restore:read' | 'restore:run' | 'devices:resume';

export interface AuthSettings {
  jwksFile: string;
  jwksUrl: string;
  jwtPublicKey: string;
  jwtIssuers: string[];
  jwtAudience: string;
  clockToleranceSec: number;
  maxTokenAgeSec: number;
  /** Longest exp - iat (exp - now without iat) accepted for any call; default api.maxTokenLifetimeSec's. */
  maxTokenLifetimeSec?: number;
  jwksTimeoutMs: number;
  jwksCacheMaxAgeMs: number;
}

export interface Principal {
  sub: string;
  iss: string;
  jti?: string;
  scopes: string[];
}

/**
 * A refused request. The message is the same for every token problem so that nothing about the
 * check leaks to the caller; `reason` is for the server log and never holds the token or a claim
 * value that could be secret.
 */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly reason: string,
    /** Set on a 403: the token was valid, only its scope was short. */
    readonly principal?: Principal,
  ) {
    super(status === 401 ? 'Authentication failed.' : 'The token lacks the scope this call needs.');
    this.name = 'AuthError';
  }

  get code(): ErrorCode {
    return this.status === 401 ? 'RESTORE_ERR_UNAUTHENTICATED' : 'RESTORE_ERR_FORBIDDEN';
  }
}

export interface Authenticator {
  /** Verifies `Authorization` header value; throws AuthError (401 for every token problem, 403 for a missing scope). */
  authenticate(authorization: string | undefined, need: Scope, opts: { mutating: boolean }): Promise<Principal>;
  /** Re-reads key files (SIGHUP). A failed reload keeps the old keys and throws a RestoreError naming the file. */
  reload(): Promise<void>;
}

// Far above any real access token, well below what would make parsing it costly.
const MAX_TOKEN_CHARS = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// RFC 8725 3.11: explicit typing. Access tokens (RFC 9068) and plain JWTs, with or without the
// application/ prefix RFC 7515 allows; every other typ names another kind of token.
const ACCEPTED_TYP = new Set(['jwt', 'at+jwt', 'application/jwt', 'application/at+jwt']);

const unauthenticated = (reason: string) => new AuthError(401, reason);

/** Attacker-chosen header and claim values go into the log only when plainly harmless. */
function loggable(v: unknown): string {
  return typeof v === 'string' && /^[\x21-\x7e]{1,80}$/.test(v) ? v : '(unprintable)';
}

function bearerToken(authorization: string | undefined): string {
  const value = authorization?.trim() ?? '';
  if (value === '') throw unauthenticated('no Authorization header');
  const space = value.search(/\s/);
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw unauthenticated(`scheme ${/^[A-Za-z-]{1,20}$/.test(scheme) ? scheme : '(other)'} is not Bearer`);
  const token = space < 0 ? '' : value.slice(space).trim();
  if (token === '') throw unauthenticated('empty bearer token');
  if (/[\s,]/.test(token)) throw unauthenticated('more than one token');
  if (token.length > MAX_TOKEN_CHARS) throw unauthenticated('token too large');
  if (!COMPACT_JWS.test(token)) throw unauthenticated('malformed token (not a compact JWS)');
  return token;
}

function checkHeader(token: string, keys: KeySet): void {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw unauthenticated('malformed token header');
  }
  const { alg, typ } = header;
  if (typeof alg !== 'string' || !(keys.algorithms as readonly string[]).includes(alg)) {
    throw unauthenticated(`alg ${loggable(alg)} not allowed`);
  }
  if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase()))) {
    throw unauthenticated(`typ ${loggable(typ)} not allowed`);
  }
}

/** Maps what jose threw to a short, log-safe reason (never jose's message, never a claim value but iss/aud). */
function reasonOf(err: unknown, kid: boolean): string {
  if (err instanceof KeysUnavailableError) return err.reason;
  const e = err as { code?: unknown; claim?: unknown; reason?: unknown; payload?: JWTPayload };
  switch (e?.code) {
    case 'ERR_JWT_EXPIRED':
      return e.claim === 'iat' ? 'token too old for a call that changes something (iat)' : 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claimReason(String(e.claim), String(e.reason), e.payload);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'bad signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return kid ? 'unknown kid' : 'no kid and no key for this alg';
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'no kid and several keys match';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'alg not allowed';
    case 'ERR_JOSE_NOT_SUPPORTED':
      // The alg was checked before; what is left is mostly an unknown critical header (crit).
      return 'unsupported token feature';
    case 'ERR_JWS_INVALID':
      return 'malformed token (JWS)';
    case 'ERR_JWT_INVALID':
      return 'malformed token (claims set)';
    default:
      // Key/algorithm mismatches surface as TypeErrors from jose or WebCrypto.
      return `unusable token or key (${err instanceof Error ? err.name : 'error'})`;
  }
}

function claimReason(claim: string, why: string, payload: JWTPayload | undefined): string {
  if (why === 'missing') return `missing ${claim}`;
  if (why === 'invalid') return `invalid ${claim}`;
  switch (claim) {
    case 'iss':
      return `wrong issuer ${loggable(payload?.iss)}`;
    case 'aud': {
      const aud = payload?.aud;
      return `wrong audience ${Array.isArray(aud) ? aud.slice(0, 5).map(loggable).join(',') : loggable(aud)}`;
    }
    case 'nbf':
      return 'not yet valid (nbf)';
    case 'iat':
      return 'iat in the future';
    default:
      return `${claim} check failed`;
  }
}

/** `scope` as a space-separated string (RFC 8693 4.2) or an array of strings; anything else grants nothing. */
function scopesOf(scope: unknown): string[] {
  if (typeof scope === 'string') return scope.split(' ').filter((s) => s !== '');
  if (Array.isArray(scope) && scope.every((s) => typeof s === 'string')) return scope as string[];
  return [];
}

function checkSettings(s: AuthSettings): { issuers: string[]; audience: string } {
  const issuers = s.jwtIssuers.map((i) => i.trim()).filter((i) => i !== '');
  if (issuers.length === 0) {
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', 'api.jwtIssuers: at least one accepted token issuer is required.', { key: 'api.jwtIssuers' });
  }
  const audience = s.jwtAudience.trim();
  if (audience === '') {
    throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', 'api.jwtAudience: the audience tokens must name is required.', { key: 'api.jwtAudience' });
  }
  const numbers = [
    ['api.clockToleranceSec', s.clockToleranceSec],
    ['api.maxTokenAgeSec', s.maxTokenAgeSec],
    ['api.maxTokenLifetimeSec', s.maxTokenLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC],
    ['api.jwksTimeoutMs', s.jwksTimeoutMs],
    ['api.jwksCacheMaxAgeMs', s.jwksCacheMaxAgeMs],
  ] as const;
  for (const [key, n] of numbers) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RestoreError('RESTORE_ERR_CONFIG_INVALID', `${key}: must be a whole number of 0 or more.`, { key });
    }
  }
  return { issuers, audience };
}

/** For callers that do not come from the configuration. */
const DEFAULT_MAX_LIFETIME_SEC = CONFIG_DEFAULTS.api.maxTokenLifetimeSec;

/** How many verified tokens are remembered, and for how long at most (also bounded by their exp). */
const CACHE_ENTRIES = 1024;
const CACHE_MS = 60_000;

interface Verified {
  payload: JWTPayload;
  /** The key set that verified it: a reload (new keys) makes the entry useless. */
  keys: KeySet;
  until: number;
}

/** The time rules jose applies, for a payload whose signature and other claims were verified before. */
function timesHold(p: JWTPayload, nowSec: number, toleranceSec: number, maxAgeSec: number | undefined): boolean {
  if (typeof p.exp !== 'number' || nowSec - toleranceSec >= p.exp) return false;
  if (typeof p.nbf === 'number' && nowSec + toleranceSec < p.nbf) return false;
  if (maxAgeSec !== undefined && (typeof p.iat !== 'number' || nowSec - p.iat - toleranceSec > maxAgeSec)) return false;
  return true;
}

export async function createAuthenticator(settings: AuthSettings): Promise<Authenticator> {
  const { issuers, audience } = checkSettings(settings);
  const source = keySourceOf(settings);
  let keys = await source.load(false);
  const tolerance = settings.clockToleranceSec;
  const maxLifetime = settings.maxTokenLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC;
  // A client sends the same token with every call: checking its signature once, and only its
  // times after that, keeps authentication cheap (signature checks dominate the cost of a call).
  const verified = new Map<string, Verified>();

  return {
    async authenticate(authorization, need, opts) {
      const token = bearerToken(authorization);
      // One key set for the whole call, even if a reload swaps it meanwhile.
      const current = keys;
      const now = wallClockMs();
      const maxAge = opts.mutating ? settings.maxTokenAgeSec : undefined;
      const hit = verified.get(token);
      let payload: JWTPayload;
      if (hit && hit.keys === current && now < hit.until && timesHold(hit.payload, now / 1000, tolerance, maxAge)) {
        payload = hit.payload;
      } else {
        checkHeader(token, current);
        try {
          ({ payload } = await jwtVerify(token, current.getKey, {
            algorithms: [...current.algorithms],
            issuer: issuers,
            audience,
            clockTolerance: tolerance,
            requiredClaims: ['exp', 'sub'],
            // A token lifted from a log or a proxy stays usable until exp; changes need a fresh one.
            ...(maxAge !== undefined ? { maxTokenAge: maxAge } : {}),
          }));
        } catch (err) {
          verified.delete(token);
          throw unauthenticated(reasonOf(err, hasKid(token)));
        }
        if (verified.size >= CACHE_ENTRIES) verified.delete(verified.keys().next().value!);
        verified.set(token, { payload, keys: current, until: Math.min(now + CACHE_MS, (payload.exp as number) * 1000) });
      }
      // jose checks a future iat only together with maxTokenAge; reads get the same rule.
      if (typeof payload.iat === 'number' && payload.iat > wallClockMs() / 1000 + tolerance) throw unauthenticated('iat in the future');
      // A token valid for years is a standing credential: whoever lifts it from a log keeps it.
      const lifetime = (payload.exp as number) - (typeof payload.iat === 'number' ? payload.iat : wallClockMs() / 1000);
      if (lifetime > maxLifetime + tolerance) throw unauthenticated(`lifetime ${Math.round(lifetime)} s over api.maxTokenLifetimeSec (${maxLifetime} s)`);
      if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthenticated('invalid sub');
      if (payload.jti !== undefined && typeof payload.jti !== 'string') throw unauthenticated('invalid jti');
      const scopes = scopesOf((payload as Record<string, unknown>).scope);
      // jwtVerify matched iss against the configured issuers, so it is one of those strings.
      const principal: Principal = { sub: payload.sub, iss: payload.iss as string, scopes };
      if (payload.jti !== undefined) principal.jti = payload.jti;
      // A valid token without the scope: who it was is known, for the audit record.
      if (!scopes.includes(need)) throw new AuthError(403, `missing scope ${need}`, principal);
      return principal;
    },

    async reload() {
      keys = await source.load(true);
      verified.clear();
    },
  };
}

function hasKid(token: string): boolean {
  try {
    return decodeProtectedHeader(token).kid !== undefined;
  } catch {
    return false;
  }
}
