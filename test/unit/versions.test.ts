import { describe, expect, it } from 'vitest';
import { imageTag, judgeVersion, parseVersion } from '../../src/flightctl/versions.js';

describe('Flight Control versions', () => {
  it('parses release tags, with or without v and pre-release parts', () => {
    expect(parseVersion('1.2.0')).toEqual([1, 2, 0]);
    expect(parseVersion('v0.9.3-rc2')).toEqual([0, 9, 3]);
    expect(parseVersion('1.1.0-main')).toEqual([1, 1, 0]);
    expect(parseVersion('latest')).toBeUndefined();
    expect(parseVersion('1.2')).toBeUndefined();
  });

  it('maps a version to the schema generation it has, and refuses what it does not know', () => {
    expect(judgeVersion('1.2.0')).toEqual({ kind: 'supported', version: '1.2.0', schema: 'device_timestamps' });
    expect(judgeVersion('v0.9.0')).toEqual({ kind: 'supported', version: '0.9.0', schema: 'devices.last_seen' });
    expect(judgeVersion('2.0.0')).toEqual({ kind: 'unsupported', version: '2.0.0' });
    expect(judgeVersion('0.3.1')).toEqual({ kind: 'unsupported', version: '0.3.1' });
    expect(judgeVersion('latest')).toEqual({ kind: 'unknown', text: 'latest' });
    expect(judgeVersion(undefined).kind).toBe('unknown');
  });

  it('reads the tag of an image reference (registry ports and digests included)', () => {
    expect(imageTag('quay.io/flightctl/flightctl-api:1.2.0')).toBe('1.2.0');
    expect(imageTag('registry.local:5000/flightctl/flightctl-api:v1.0.3@sha256:abcd')).toBe('v1.0.3');
    expect(imageTag('registry.local:5000/flightctl/flightctl-api')).toBeUndefined();
  });
});
