import type { Command } from 'commander';
import { supportedReleases } from '../../flightctl/versions.js';
import { packageVersion } from '../../lib/version.js';
import { printError } from '../common/errors.js';
import { outputFormat } from '../common/output.js';

/** judgeArchiveVersion's policy, in words (text) and as data (JSON). */
const ARCHIVE_POLICY = {
  restored: 'the same major.minor release',
  warning: 'another patch or pre-release of it',
  refusedUnlessForce: ['another minor or major release', 'a version that cannot be read'],
};

/**
 * `version`: the agent's own version and the Flight Control releases it restores, as upstream's
 * `flightctl-restore version` answers (the runbook's first step compares the two). It reads no
 * configuration, so it answers on a host whose configuration is broken.
 */
export function registerVersion(program: Command): void {
  program
    .command('version')
    .description("The agent's version and the Flight Control releases it supports")
    .action((_opts: unknown, cmd: Command) => {
      const all = cmd.optsWithGlobals() as Record<string, unknown>;
      try {
        const releases = supportedReleases();
        if (outputFormat(all) === 'json') {
          process.stdout.write(`${JSON.stringify({ agent: packageVersion(), flightctl: { supported: releases, archives: ARCHIVE_POLICY } })}\n`);
          return;
        }
        const lines = [
          `flightctl-restore-agent ${packageVersion()}`,
          'Flight Control releases supported:',
          ...releases.map((r) => `  ${r.from} up to (not including) ${r.below}: schema ${r.schema}`),
          `Archives: restored onto ${ARCHIVE_POLICY.restored} (${ARCHIVE_POLICY.warning}: a warning); ${ARCHIVE_POLICY.refusedUnlessForce.join(' or ')}: refused unless --force`,
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } catch (err) {
        printError(err, all.json === true);
      }
    });
}
