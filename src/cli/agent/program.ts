import { Command } from 'commander';
import { packageVersion } from '../../lib/version.js';
import { configureUsageErrors } from '../common/errors.js';
import { outputOptions } from '../common/output.js';
import { registerBackup } from './backup.js';
import { configFlags } from './config-flags.js';
import { registerDevices } from './devices.js';
import { registerEndpoints } from './endpoints.js';
import { registerPrepare } from './prepare.js';
import { registerRun } from './run.js';
import { registerRuns } from './runs.js';
import { registerSecrets } from './secrets.js';
import { registerServe } from './serve.js';
import { registerServices } from './services.js';
import { registerVersion } from './version.js';

/**
 * flightctl-restore-agent: argument parsing only, then the domain. Every configuration flag and
 * the output options are the program's own, so every command takes them.
 */
export function agentProgram(): Command {
  const program = new Command('flightctl-restore-agent')
    .description('Restores Flight Control from a backup, safely. Configuration, exit codes and the API: docs/ (README).')
    .version(packageVersion())
    .option('--config <file>', 'YAML configuration file (docs/configuration.md)');
  configFlags(program);
  outputOptions(program);
  configureUsageErrors(program);
  for (const register of [
    registerPrepare,
    registerDevices,
    registerServices,
    registerSecrets,
    registerEndpoints,
    registerRun,
    registerRuns,
    registerServe,
    registerBackup,
    registerVersion,
  ])
    register(program);
  return program;
}
