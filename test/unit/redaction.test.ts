import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { clearSecretsForTest, redactText, redactValue, registerSecret } from '../../src/lib/secrets.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().trim().split('\n'));
      done();
    },
  });
  return { stream, lines };
}

afterEach(() => clearSecretsForTest());

describe('secret redaction', () => {
  it('replaces registered values, their URL-encoded and base64 forms', () => {
    registerSecret('s3cr3t/value');
    expect(redactText('a s3cr3t/value b')).toBe('a [REDACTED] b');
    expect(redactText(`url ${encodeURIComponent('s3cr3t/value')}`)).toBe('url [REDACTED]');
    expect(redactText(Buffer.from('s3cr3t/value').toString('base64'))).toBe('[REDACTED]');
  });

  it('walks nested objects and arrays without changing the input', () => {
    registerSecret('topsecret');
    const input = { a: ['x topsecret'], b: { c: 'topsecret' }, n: 3 };
    expect(redactValue(input)).toEqual({ a: ['x [REDACTED]'], b: { c: '[REDACTED]' }, n: 3 });
    expect(input.b.c).toBe('topsecret');
  });

  it('ignores values too short to redact safely', () => {
    registerSecret('ab');
    expect(redactText('ab cab')).toBe('ab cab');
  });

  it('the logger writes one JSON object a line with msg and no secret anywhere', async () => {
    registerSecret('hunter2-long');
    const { stream, lines } = capture();
    const log = createLogger('debug', stream);
    log.info('connecting with hunter2-long', { detail: { nested: 'hunter2-long' }, runId: 'r1' });
    log.error('failed', { error: new Error('bad hunter2-long').message });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ level: 'info', msg: 'connecting with [REDACTED]', runId: 'r1', detail: { nested: '[REDACTED]' } });
    expect(lines.join('\n')).not.toContain('hunter2-long');
  });

  it('the logger respects its level', async () => {
    const { stream, lines } = capture();
    const log = createLogger('warn', stream);
    log.info('hidden');
    log.warn('shown');
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['shown']);
  });
});
