import { describe, expect, it } from 'vitest';
import { parseAgentAddress, targetFromHostFlag } from '../../src/client/agent-target.js';
import { boundedPool } from '../../src/client/fleet/pool.js';
import { parseSerial, serialBatches } from '../../src/client/fleet/serial.js';

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);

describe("--serial batches like Ansible's serial", () => {
  it('numbers, percentages (rounded down, at least 1), the last size repeating, 0 for all the rest', () => {
    expect(serialBatches(hosts(5), parseSerial(['1', '100%']))).toEqual([['h1'], ['h2', 'h3', 'h4', 'h5']]);
    expect(serialBatches(hosts(7), parseSerial(['2']))).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5', 'h6'], ['h7']]);
    expect(serialBatches(hosts(10), parseSerial(['1,30%']))).toEqual([['h1'], ['h2', 'h3', 'h4'], ['h5', 'h6', 'h7'], ['h8', 'h9', 'h10']]);
    expect(serialBatches(hosts(3), parseSerial(['10%']))).toEqual([['h1'], ['h2'], ['h3']]);
    expect(serialBatches(hosts(4), parseSerial(['1', '0']))).toEqual([['h1'], ['h2', 'h3', 'h4']]);
    expect(serialBatches(hosts(4), [])).toEqual([hosts(4)]);
    expect(() => parseSerial(['a'])).toThrow(expect.objectContaining({ code: 'RESTORE_ERR_USAGE' }));
  });
});

describe('bounded pool', () => {
  it('never runs more than the limit at once, and starts nothing once told to stop', async () => {
    let running = 0;
    let peak = 0;
    let started = 0;
    const left = await boundedPool(
      hosts(10),
      3,
      async () => {
        started++;
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      () => started < 7,
    );
    expect(peak).toBe(3);
    expect(started).toBe(7);
    expect(left).toEqual([7, 8, 9]);
  });
});

describe('agent addresses', () => {
  it('takes https, loopback http and unix sockets, and names a target', () => {
    expect(parseAgentAddress('https://fc1.example.com:8443', 'x')).toEqual({ kind: 'https', host: 'fc1.example.com', port: 8443 });
    expect(parseAgentAddress('https://[2001:db8::1]', 'x')).toEqual({ kind: 'https', host: '2001:db8::1', port: 443 });
    expect(parseAgentAddress('http://127.0.0.1:9000', 'x')).toEqual({ kind: 'http', host: '127.0.0.1', port: 9000 });
    expect(parseAgentAddress('unix:/run/a.sock', 'x')).toEqual({ kind: 'unix', socketPath: '/run/a.sock' });
    expect(targetFromHostFlag('east=https://fc1:8443', undefined)).toMatchObject({ name: 'east', url: 'https://fc1:8443' });
    expect(targetFromHostFlag('https://fc1:8443', undefined).name).toBe('fc1:8443');
  });

  it('refuses plain http off loopback, credentials or paths in the URL, relative sockets, other schemes', () => {
    for (const bad of [
      'http://10.0.0.5:8080',
      'http://fc1.example.com:80',
      'https://u:p@fc1:8443',
      'https://fc1:8443/api',
      'unix:rel.sock',
      'ftp://fc1',
      'fc1:8443',
    ]) {
      expect(() => parseAgentAddress(bad, '--host'), bad).toThrow(expect.objectContaining({ code: 'RESTORE_ERR_USAGE' }));
    }
  });
});
