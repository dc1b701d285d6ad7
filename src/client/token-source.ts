import { readFileSync, statSync } from 'node:fs';
import { RestoreError } from '../lib/errors.js';
import { registerSecret } from '../lib/secrets.js';

export const TOKEN_ENV = 'FLIGHTCTL_RESTORE_TOKEN';
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function checked(token: string, from: string): string {
  const t = token.trim();
  if (!t) throw new RestoreError('RESTORE_ERR_SECRET_MISSING', `${from} is empty; it must hold the bearer token (flightctl-restorectl token mint makes one)`);
  if (!JWT.test(t)) throw new RestoreError('RESTORE_ERR_SECRET_MISSING', `${from} does not hold a JWT (three base64url parts separated by dots)`);
  // Every output of this process is redacted against it from here on.
  registerSecret(t);
  registerSecret(t.split('.')[2]);
  return t;
}

/**
 * The bearer token, read once: from a file (never a flag with the token itself, which every
 * user could read in the process list) or from FLIGHTCTL_RESTORE_TOKEN, which is then removed
 * from the environment.
 */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    if (statSync(file).size > 64 * 1024) throw new RestoreError('RESTORE_ERR_SECRET_MISSING', `token file ${file} is too large to hold a token`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof RestoreError) throw err;
    throw new RestoreError('RESTORE_ERR_SECRET_MISSING', `cannot read the token file ${file} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  return checked(text, `token file ${file}`);
}

export function takeTokenFromEnv(): string | undefined {
  const value = process.env[TOKEN_ENV];
  delete process.env[TOKEN_ENV];
  return value === undefined ? undefined : checked(value, TOKEN_ENV);
}

/** Per-host token files from the inventory are read once each. */
export class TokenSource {
  private files = new Map<string, string>();

  constructor(private readonly global: string | undefined) {}

  tokenFor(tokenFile: string | undefined, host: string): string {
    if (tokenFile) {
      let t = this.files.get(tokenFile);
      if (!t) this.files.set(tokenFile, (t = readTokenFile(tokenFile)));
      return t;
    }
    if (this.global) return this.global;
    throw new RestoreError(
      'RESTORE_ERR_SECRET_MISSING',
      `no token for ${host}: pass --token-file FILE or set ${TOKEN_ENV} (flightctl-restorectl token mint makes one)`,
    );
  }
}
