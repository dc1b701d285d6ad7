import type { LastSeenLocation } from './prepare/schema.js';

/**
 * The Flight Control releases this agent knows, by the schema generation their database has.
 * device_timestamps arrived in 1.0.0 (upstream "Separate last seen from device"); before it,
 * last_seen was a column of devices. A release outside these ranges has a schema this agent was
 * not built for.
 */
const SUPPORTED: { from: [number, number, number]; below: [number, number, number]; schema: LastSeenLocation }[] = [
  { from: [0, 5, 0], below: [1, 0, 0], schema: 'devices.last_seen' },
  { from: [1, 0, 0], below: [2, 0, 0], schema: 'device_timestamps' },
];

export const SUPPORTED_RANGE_TEXT = '0.5.0 to 1.x';

export type Semver = [number, number, number];

/** "v1.2.3", "1.2.3-rc1", "1.2.3-0.20240101.abcdef" -> [1, 2, 3]; anything else: undefined. */
export function parseVersion(text: string | undefined): Semver | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+.~][0-9A-Za-z.+~-]*)?$/.exec((text ?? '').trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Semver, b: Semver): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export type VersionVerdict =
  { kind: 'supported'; version: string; schema: LastSeenLocation } | { kind: 'unsupported'; version: string } | { kind: 'unknown'; text: string };

export function judgeVersion(text: string | undefined): VersionVerdict {
  const v = parseVersion(text);
  if (!v) return { kind: 'unknown', text: text ?? '' };
  const version = v.join('.');
  const range = SUPPORTED.find((r) => compare(v, r.from) >= 0 && compare(v, r.below) < 0);
  return range ? { kind: 'supported', version, schema: range.schema } : { kind: 'unsupported', version };
}

/** The tag of an image reference: quay.io/flightctl/flightctl-api:1.2.0@sha256:... -> 1.2.0. */
export function imageTag(image: string): string | undefined {
  const noDigest = image.split('@')[0] ?? '';
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(colon + 1) : undefined;
}
