import { existsSync } from 'node:fs';
import path from 'node:path';
import { ENTRY, PAM_VOLUME } from '../../../flightctl/archive/format.js';
import { archiveFileStep, extracted } from './archive-files.js';

export const restorePamVolumeStep = archiveFileStep({
  name: 'restore-pam-volume',
  async check(ctx) {
    const has = ctx.state.archive?.entries.get(ENTRY.pamVolume)?.type === 'file';
    if (has && !ctx.target.volumes)
      return { changed: false, msg: `this ${ctx.target.kind} target keeps no volumes: the archive's PAM issuer volume is not restored` };
    return { changed: has, msg: has ? `would re-import the ${PAM_VOLUME} volume` : 'the archive has no PAM issuer volume' };
  },
  async apply(ctx) {
    const tar = path.join(extracted(ctx), ENTRY.pamVolume);
    if (!existsSync(tar)) return { changed: false, msg: 'the archive has no PAM issuer volume' };
    const volumes = ctx.target.volumes;
    if (!volumes) {
      ctx.warn(`this ${ctx.target.kind} target keeps no volumes: the archive's ${ENTRY.pamVolume} was not restored`);
      return { changed: false, msg: 'no volumes on this target; the PAM issuer volume is not restored', data: { volume: 'unsupported' } };
    }
    if ((await volumes.import(PAM_VOLUME, tar)) === 'in-use') {
      // Not skipped in silence: the user database is what operators log in with.
      ctx.warn(
        `the ${PAM_VOLUME} volume is in use by a running container and was NOT replaced: stop that container and re-import ${ENTRY.pamVolume} from the archive`,
      );
      return { changed: false, msg: `the ${PAM_VOLUME} volume is in use; not replaced`, data: { volume: 'in-use' } };
    }
    return { changed: true, msg: `re-imported the ${PAM_VOLUME} volume`, data: { volume: 'imported' } };
  },
});
