import path from 'node:path';
import { ENTRY } from '../../../flightctl/archive/format.js';
import { overlayPki } from '../../../flightctl/archive/restore-files.js';
import { archiveFileStep, extracted } from './archive-files.js';

export const restorePkiStep = archiveFileStep({
  name: 'restore-pki',
  async check(ctx) {
    const n = [...(ctx.state.archive?.entries ?? [])].filter(([k, v]) => k.startsWith(`${ENTRY.pki}/`) && v.type === 'file').length;
    return { changed: n > 0, msg: `would overlay ${n} files onto ${path.join(ctx.config.flightctl.etcDir, 'pki')} (files not in the archive stay)` };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'pki');
    const n = await overlayPki(extracted(ctx), dest);
    return { changed: n > 0, msg: `overlaid ${n} files onto ${dest}`, data: { files: n } };
  },
});
