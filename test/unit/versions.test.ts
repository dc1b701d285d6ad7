import { describe, expect, it } from 'vitest';
import { imageTag, judgeArchiveVersion, judgeVersion, parseRelease, parseVersion, supportedReleases } from '../../src/flightctl/versions.js';

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

  it('keeps the pre-release part, and drops build metadata', () => {
    expect(parseRelease('v1.3.0-rc4')).toEqual({ core: [1, 3, 0], pre: 'rc4' });
    expect(parseRelease('1.2.3-0.20240101.abcdef')).toEqual({ core: [1, 2, 3], pre: '0.20240101.abcdef' });
    expect(parseRelease('1.2.3+build.7')).toEqual({ core: [1, 2, 3] });
    expect(parseRelease('1.2.3')).toEqual({ core: [1, 2, 3] });
    expect(parseRelease('1.2.x')).toBeUndefined();
  });

  it('judges an archive against the running release by major.minor', () => {
    expect(judgeArchiveVersion('v1.2.3', '1.2.3')).toEqual({ kind: 'same', archive: '1.2.3' });
    expect(judgeArchiveVersion('v1.2.1', '1.2.3')).toEqual({ kind: 'patch-differs', archive: '1.2.1', running: '1.2.3' });
    expect(judgeArchiveVersion('1.2.3-rc1', '1.2.3')).toEqual({ kind: 'patch-differs', archive: '1.2.3-rc1', running: '1.2.3' });
    expect(judgeArchiveVersion('1.3.0', '1.2.3')).toEqual({ kind: 'minor-differs', archive: '1.3.0', running: '1.2.3' });
    expect(judgeArchiveVersion('2.2.3', '1.2.3')).toEqual({ kind: 'minor-differs', archive: '2.2.3', running: '1.2.3' });
    expect(judgeArchiveVersion('latest', '1.2.3')).toEqual({ kind: 'archive-unreadable', text: 'latest' });
    expect(judgeArchiveVersion(undefined, '1.2.3')).toEqual({ kind: 'archive-unreadable', text: '' });
    expect(judgeArchiveVersion('1.2.3', 'latest')).toEqual({ kind: 'running-unknown', archive: '1.2.3' });
    // A backup of a host whose image has no release tag, restored there: nothing to compare.
    expect(judgeArchiveVersion('latest', 'latest')).toEqual({ kind: 'running-unknown', archive: 'latest' });
    expect(judgeArchiveVersion('', undefined)).toEqual({ kind: 'running-unknown', archive: '(not recorded)' });
  });

  it('lists the supported ranges with their schema generation', () => {
    expect(supportedReleases()).toEqual([
      { from: '0.5.0', below: '1.0.0', schema: 'devices.last_seen' },
      { from: '1.0.0', below: '2.0.0', schema: 'device_timestamps' },
    ]);
  });
});
