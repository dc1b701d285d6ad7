import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator, type AuthSettings } from '../../src/api/auth.js';
import { generateTestKey, jwksOf, mintToken } from '../harness/tokens.js';

/**
 * Verified tokens are remembered (their signature is not checked again on every call), but the
 * rules that depend on time are applied on every call, and new keys forget everything.
 */
describe('API authentication: the cache of verified tokens', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  async function setup(maxTokenAgeSec = 900) {
    const dir = mkdtempSync(path.join(tmpdir(), 'auth-cache-'));
    const key = await generateTestKey('ec');
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify(jwksOf(key)));
    const settings: AuthSettings = {
      jwksFile: file,
      jwksUrl: '',
      jwtPublicKey: '',
      jwtIssuers: ['https://i'],
      jwtAudience: 'a',
      clockToleranceSec: 5,
      maxTokenAgeSec,
      jwksTimeoutMs: 1000,
      jwksCacheMaxAgeMs: 60_000,
    };
    const auth = await createAuthenticator(settings);
    const token = await mintToken({ key, iss: 'https://i', aud: 'a', sub: 's', scope: 'restore:read restore:run', expiresIn: 3600 });
    return { auth, token, file };
  }

  it('a remembered token still expires', async () => {
    const { auth, token } = await setup();
    expect((await auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false })).sub).toBe('s');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 3600_000 + 10_000);
    await expect(auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false })).rejects.toMatchObject({ status: 401, reason: 'expired' });
  });

  it('a token remembered from a read is too old for a change once maxTokenAge has passed', async () => {
    const { auth, token } = await setup(10);
    await auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false });
    vi.useFakeTimers({ toFake: ['Date'] });
    // Still remembered (well within a minute), but 20 s old: too old for a change (10 s + 5 s tolerance).
    vi.setSystemTime(Date.now() + 20_000);
    expect((await auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false })).sub).toBe('s');
    await expect(auth.authenticate(`Bearer ${token}`, 'restore:run', { mutating: true })).rejects.toMatchObject({
      status: 401,
      reason: expect.stringMatching(/too old/),
    });
  });

  it('scopes are checked on every call, also for a remembered token', async () => {
    const { auth, token } = await setup();
    await auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false });
    await expect(auth.authenticate(`Bearer ${token}`, 'devices:resume', { mutating: false })).rejects.toMatchObject({ status: 403 });
  });

  it('new keys (reload) forget every remembered token', async () => {
    const { auth, token, file } = await setup();
    await auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false });
    writeFileSync(file, JSON.stringify(jwksOf(await generateTestKey('ec'))));
    await auth.reload();
    await expect(auth.authenticate(`Bearer ${token}`, 'restore:read', { mutating: false })).rejects.toMatchObject({ status: 401, reason: 'unknown kid' });
  });
});
