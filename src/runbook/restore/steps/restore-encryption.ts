import path from 'node:path';
import { ENTRY } from '../../../flightctl/archive/format.js';
import { replaceEncryption } from '../../../flightctl/archive/restore-files.js';
import { archiveFileStep, extracted } from './archive-files.js';

export const restoreEncryptionStep = archiveFileStep({
  name: 'restore-encryption',
  async check(ctx) {
    const has = ctx.state.archive?.entries.get(ENTRY.encryption)?.type === 'directory';
    return {
      changed: has,
      msg: has
        ? `would replace ${path.join(ctx.config.flightctl.etcDir, 'encryption')} with the archive's keys`
        : 'the archive has no encryption keys; the live ones stay',
    };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'encryption');
    const n = await replaceEncryption(extracted(ctx), dest, ctx.run.id);
    if (n === undefined) {
      ctx.warn(
        'the archive has no encryption keys (a backup from before data-at-rest encryption?): the live keys stay; fields encrypted with other keys would be unreadable',
      );
      return { changed: false, msg: 'the archive has no encryption keys; the live ones stay' };
    }
    return { changed: true, msg: `replaced ${dest} with the archive's ${n} key files (atomically)`, data: { files: n } };
  },
});
