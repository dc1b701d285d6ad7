import { Transform } from 'node:stream';
import { ENTRY } from './format.js';

/** The largest size one archive entry may declare, and what to tell when it is over. */
export interface EntryLimit {
  maxBytes: number;
  /** What kind of entry it is, for the refusal. */
  what: string;
  /** The configuration key that sets the bound, when one does. */
  key?: string;
}

export interface EntryLimitSettings {
  /** Certificates, keys, configuration: every file but the dump and the PAM volume. */
  maxFileBytes: number;
  /** volumes/pam-issuer-etc.tar: the PAM issuer's /etc. */
  maxVolumeBytes: number;
}

/** metadata.json is a handful of keys. */
const MAX_METADATA_BYTES = 64 * 1024;

/**
 * The bound of each entry of a Flight Control backup by its kind. The dump has none of its own: it
 * is the one large part, bounded by the archive's whole (restore.archiveMaxBytes), and never written.
 */
export function backupEntryLimits(s: EntryLimitSettings): (name: string) => EntryLimit | undefined {
  return (name) => {
    if (name === ENTRY.dump) return undefined;
    if (name === ENTRY.metadata) return { maxBytes: MAX_METADATA_BYTES, what: 'metadata.json (a handful of keys)' };
    if (name === ENTRY.pamVolume) return { maxBytes: s.maxVolumeBytes, what: 'the PAM issuer volume', key: 'restore.archiveMaxVolumeBytes' };
    return { maxBytes: s.maxFileBytes, what: 'a certificate, key or configuration file', key: 'restore.archiveMaxFileBytes' };
  };
}

/**
 * Inflated data beyond what the headers parsed so far declare (each entry's header, padding and an
 * extended header fit in the per-entry allowance; the slack covers what is buffered between the
 * inflater and the parser and the end-of-archive padding).
 */
const SLACK_BYTES = 16 * 1024 * 1024;

/**
 * Counts the inflated bytes as they come: once they pass `declared()` (the headers' sizes so far,
 * with their overhead) by more than the slack, `onOver` is told and the stream fails. A bomb whose
 * headers lie (zeros after the end, a huge extended header) stops there, not at the end of the data.
 */
export function inflatedBound(declared: () => number, onOver: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (seen > declared() + SLACK_BYTES) {
        onOver();
        return done(new Error('inflated data beyond what the archive declares'));
      }
      seen += chunk.length;
      done(null, chunk);
    },
  });
}
