import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../src/api/auth.js';
import { mintToken, parseTtl } from '../../src/client/token-mint.js';

function keyFiles(type: 'ec' | 'ed25519' | 'rsa') {
  const dir = mkdtempSync(path.join(tmpdir(), 'mint-'));
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  writeFileSync(path.join(dir, 'k.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(path.join(dir, 'k.pub'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return { key: path.join(dir, 'k.pem'), pub: path.join(dir, 'k.pub') };
}

describe('flightctl-restorectl token mint', () => {
  for (const type of ['ec', 'ed25519', 'rsa'] as const) {
    it(`mints a token the agent accepts (${type} key)`, async () => {
      const f = keyFiles(type);
      const token = await mintToken({
        keyFile: f.key,
        issuer: 'https://ops.example',
        audience: 'agent-host',
        subject: 'alice',
        scopes: ['restore:read', 'restore:run'],
        ttlSec: 600,
      });
      const auth = await createAuthenticator({
        jwksFile: '',
        jwksUrl: '',
        jwtPublicKey: f.pub,
        jwtIssuers: ['https://ops.example'],
        jwtAudience: 'agent-host',
        clockToleranceSec: 30,
        maxTokenAgeSec: 900,
        jwksTimeoutMs: 1000,
        jwksCacheMaxAgeMs: 60_000,
      });
      expect(await auth.authenticate(`Bearer ${token}`, 'restore:run', { mutating: true })).toMatchObject({
        sub: 'alice',
        iss: 'https://ops.example',
        scopes: ['restore:read', 'restore:run'],
      });
    });
  }

  it('refuses an unknown scope, a public key, and a lifetime over a day', async () => {
    const f = keyFiles('ec');
    const base = { keyFile: f.key, issuer: 'i', audience: 'a', subject: 's', ttlSec: 60 };
    await expect(mintToken({ ...base, scopes: ['admin'] })).rejects.toMatchObject({
      code: 'RESTORE_ERR_USAGE',
      message: expect.stringMatching(/unknown scope admin/),
    });
    await expect(mintToken({ ...base, keyFile: f.pub, scopes: ['restore:read'] })).rejects.toMatchObject({ code: 'RESTORE_ERR_USAGE' });
    expect(parseTtl('10m')).toBe(600);
    expect(parseTtl('90s')).toBe(90);
    expect(() => parseTtl('2d')).toThrow(/at most 24h/);
    expect(() => parseTtl('25h')).toThrow(/at most 24h/);
  });
});
