import { randomUUID } from 'node:crypto';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { RestoreError } from '../lib/errors.js';
import { wallClockMs } from '../lib/clock.js';

export interface MintRequest {
  keyFile: string;
  issuer: string;
  audience: string;
  subject: string;
  scopes: string[];
  ttlSec: number;
  kid?: string | undefined;
}

const SCOPES = new Set(['restore:read', 'restore:run', 'devices:resume']);

/** The signing algorithm a private key implies (the agent accepts asymmetric ones only). */
function algorithmOf(key: KeyObject): string {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const alg = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[curve ?? ''];
    if (alg) return alg;
  }
  throw new RestoreError('RESTORE_ERR_USAGE', `the key is of a type the agent does not accept (${type}); use RSA, EC P-256/384/521 or Ed25519`);
}

/**
 * A short-lived token for the agent's API, signed with a private key whose public half the agent
 * trusts (--jwt-public-key or a JWKS). For operators and tests; the token is printed, never logged.
 */
export async function mintToken(req: MintRequest): Promise<string> {
  for (const s of req.scopes) if (!SCOPES.has(s)) throw new RestoreError('RESTORE_ERR_USAGE', `unknown scope ${s}; use ${[...SCOPES].join(', ')}`);
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(req.keyFile));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'not a private key in PEM';
    throw new RestoreError('RESTORE_ERR_USAGE', `cannot use ${req.keyFile} as a signing key (${why})`);
  }
  const alg = algorithmOf(key);
  return new SignJWT({ scope: req.scopes.join(' ') })
    .setProtectedHeader({ alg, typ: 'JWT', ...(req.kid ? { kid: req.kid } : {}) })
    .setIssuer(req.issuer)
    .setAudience(req.audience)
    .setSubject(req.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(wallClockMs() / 1000) + req.ttlSec)
    .setJti(randomUUID())
    .sign(key);
}

/** "10m", "1h", "90s", "3600" -> seconds (at most a day: tokens are meant to be short-lived). */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smh]?)$/.exec(text.trim());
  const sec = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2]!]! : NaN;
  if (!Number.isInteger(sec) || sec < 1 || sec > 86_400)
    throw new RestoreError('RESTORE_ERR_USAGE', `--ttl "${text}": use seconds or 90s, 10m, 1h (at most 24h)`);
  return sec;
}
