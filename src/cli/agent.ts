#!/usr/bin/env node
import { Command } from 'commander';
import { packageVersion } from '../lib/version.js';
import { configureUsageErrors } from './command-runner.js';
import { registerBackup } from './backup-command.js';
import { registerDevices } from './devices-command.js';
import { registerEndpoints } from './endpoints-command.js';
import { registerPrepare } from './prepare-command.js';
import { registerRun } from './run-command.js';
import { registerRuns } from './runs-command.js';
import { registerServe } from './serve-command.js';
import { registerSecrets } from './secrets-command.js';
import { registerServices } from './services-command.js';

const program = new Command('flightctl-restore-agent')
  .description('Restores Flight Control from a backup, safely. Exit codes and configuration: see the README.')
  .version(packageVersion())
  .option('--config <file>', 'YAML configuration file (keys as in the README)')
  .option('--log-level <level>', 'error, warn, info or debug (default info); logs go to stderr as JSON lines');

configureUsageErrors(program);
registerPrepare(program);
registerDevices(program);
registerServices(program);
registerSecrets(program);
registerEndpoints(program);
registerRun(program);
registerRuns(program);
registerServe(program);
registerBackup(program);

await program.parseAsync(process.argv);
