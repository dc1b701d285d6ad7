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

/** A release as its tag names it: the numbers, and the pre-release part (after "-") if any. */
export interface Release {
  core: Semver;
  pre?: string;
}

/** "v1.2.3", "1.2.3-rc1", "1.2.3-0.20240101.abcdef", "1.2.3+build" -> a Release; anything else: undefined. */
export function parseRelease(text: string | undefined): Release | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.~-]+))?(?:[+.~][0-9A-Za-z.+~-]*)?$/.exec((text ?? '').trim());
  if (!m) return undefined;
  const core: Semver = [Number(m[1]), Number(m[2]), Number(m[3])];
  return m[4] ? { core, pre: m[4] } : { core };
}

/** "v1.2.3", "1.2.3-rc1" -> [1, 2, 3]; anything else: undefined. */
export function parseVersion(text: string | undefined): Semver | undefined {
  return parseRelease(text)?.core;
}

export function releaseText(r: Release): string {
  return r.pre ? `${r.core.join('.')}-${r.pre}` : r.core.join('.');
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

/** The ranges above as data, for `version` and the docs. */
export function supportedReleases(): { from: string; below: string; schema: LastSeenLocation }[] {
  return SUPPORTED.map((r) => ({ from: r.from.join('.'), below: r.below.join('.'), schema: r.schema }));
}

/**
 * What a restore does with an archive of one release onto another (docs/backups.md, "Versions"):
 * the same major.minor has the same schema and is restored, with a warning when the patch or the
 * pre-release differs; another minor or major is refused unless forced, and so is an archive whose
 * version cannot be read. A running version that cannot be read leaves only the schema check of
 * the load, so it is a warning.
 */
export type ArchiveVersionVerdict =
  | { kind: 'same'; archive: string }
  | { kind: 'patch-differs'; archive: string; running: string }
  | { kind: 'minor-differs'; archive: string; running: string }
  | { kind: 'archive-unreadable'; text: string }
  | { kind: 'running-unknown'; archive: string };

export function judgeArchiveVersion(archived: string | undefined, running: string | undefined): ArchiveVersionVerdict {
  const a = parseRelease(archived);
  const r = parseRelease(running);
  // Nothing to compare with (a host whose image has no release tag): only the dump's schema is checked.
  if (!r) return { kind: 'running-unknown', archive: a ? releaseText(a) : archived || '(not recorded)' };
  if (!a) return { kind: 'archive-unreadable', text: archived ?? '' };
  const archive = releaseText(a);
  const run = releaseText(r);
  if (archive === run) return { kind: 'same', archive };
  const sameMinor = a.core[0] === r.core[0] && a.core[1] === r.core[1];
  return { kind: sameMinor ? 'patch-differs' : 'minor-differs', archive, running: run };
}
