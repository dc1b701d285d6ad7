import { existsSync } from 'node:fs';
import { RestoreError } from '../../../lib/errors.js';
import type { StepName } from '../../../model/run.js';
import { defineStep, type Step, type StepOutcome } from '../../step.js';
import type { RestoreContext } from '../context.js';
import { notArchive } from './unpack-archive.js';

/** The directory the archive was extracted into, in this run or (rebuilt from its intent) an earlier one. */
export function extracted(ctx: RestoreContext): string {
  const dir = ctx.state.archive?.dir;
  if (!dir) throw new RestoreError('RESTORE_ERR_INTERNAL', 'the archive was not extracted');
  return dir;
}

/**
 * One of Flight Control's files restored from the extracted archive, in the stop window (past the
 * point of no return). Each apply ends in the same state when it runs again, so completing it
 * after an interruption is the apply once more, its warnings included.
 */
export function archiveFileStep(def: {
  name: StepName;
  check(ctx: RestoreContext): Promise<StepOutcome>;
  apply(ctx: RestoreContext): Promise<StepOutcome>;
}): Step<RestoreContext> {
  return defineStep<RestoreContext>({
    name: def.name,
    skip: notArchive,
    check: def.check,
    apply: def.apply,
    async complete(ctx) {
      const dir = ctx.state.archive?.dir;
      if (!dir || !existsSync(dir)) return [`the extracted archive is gone, so ${def.name} was not done again: run the restore from the archive once more`];
      const warnings: string[] = [];
      const out = await def.apply({
        ...ctx,
        warn: (text) => {
          warnings.push(text);
          ctx.warn(text);
        },
      });
      return [out.msg, ...warnings];
    },
  });
}
