import path from 'node:path';
import { writeServiceConfig } from '../../../flightctl/archive/restore-files.js';
import { archiveFileStep, extracted } from './archive-files.js';

export const restoreConfigStep = archiveFileStep({
  name: 'restore-config',
  async check(ctx) {
    return { changed: true, msg: `would write ${path.join(ctx.config.flightctl.etcDir, 'service-config.yaml')} from the archive` };
  },
  async apply(ctx) {
    const dest = path.join(ctx.config.flightctl.etcDir, 'service-config.yaml');
    await writeServiceConfig(extracted(ctx), dest);
    return { changed: true, msg: `wrote ${dest}` };
  },
});
