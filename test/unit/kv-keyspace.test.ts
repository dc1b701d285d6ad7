import { describe, expect, it } from 'vitest';
import { keyspaceDatabases, keyspaceTotal } from '../../src/flightctl/prepare/kv-keys.js';

describe('INFO keyspace', () => {
  const info = '# Keyspace\r\ndb0:keys=5,expires=0,avg_ttl=0\r\ndb1:keys=12,expires=1,avg_ttl=100\r\ndb15:keys=1,expires=0,avg_ttl=0\r\n';
  it('sums keys over every database and lists the databases that hold some', () => {
    expect(keyspaceTotal(info)).toBe(18);
    expect(keyspaceDatabases(info)).toEqual([0, 1, 15]);
    expect(keyspaceTotal('# Keyspace\r\n')).toBe(0);
  });
});

describe('Redis protocol for the KV client pipe mode', () => {
  it('encodes SETNX with byte lengths (names may hold multi-byte characters)', async () => {
    const { setnxCommand } = await import('../../src/flightctl/prepare/kv-pipe.js');
    expect(setnxCommand('v1/o/device/a/awaiting-reconnect')).toBe('*3\r\n$5\r\nSETNX\r\n$32\r\nv1/o/device/a/awaiting-reconnect\r\n$4\r\ntrue\r\n');
    expect(setnxCommand('ü')).toBe('*3\r\n$5\r\nSETNX\r\n$2\r\nü\r\n$4\r\ntrue\r\n');
  });
});
