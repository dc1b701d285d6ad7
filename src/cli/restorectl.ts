#!/usr/bin/env node
import { Command } from 'commander';
import { packageVersion } from '../lib/version.js';
import { configureUsageErrors } from './command-runner.js';

// The remote client arrives with the agent's HTTP API; until then it only identifies itself, and
// says so instead of pretending to do work.
const program = new Command('flightctl-restorectl')
  .description('Thin client for flightctl-restore-agent hosts. Remote commands arrive with the agent HTTP API; use flightctl-restore-agent on the host meanwhile.')
  .version(packageVersion());

configureUsageErrors(program);
await program.parseAsync(process.argv);
