#!/usr/bin/env node
import os from 'node:os';
import { Command } from 'commander';
import { mintToken, parseTtl } from '../client/token-mint.js';
import { asRestoreError } from '../lib/errors.js';
import { packageVersion } from '../lib/version.js';
import { configureUsageErrors, reportFailure } from './command-runner.js';

// The remote client: today it mints tokens for the agent's API; the fleet commands (restore,
// status, events, resume over many hosts) come with the fleet client issue.
const program = new Command('flightctl-restorectl')
  .description('Client for flightctl-restore-agent hosts. Today: token mint. Remote restores: use the API with curl (README) meanwhile.')
  .version(packageVersion());

configureUsageErrors(program);

program
  .command('token')
  .description('Tokens for the agent API')
  .command('mint')
  .description('Print a short-lived token signed with a private key the agent trusts')
  .requiredOption('--key <pem>', 'private key (PEM: RSA, EC or Ed25519) whose public key the agent has (--jwt-public-key or a JWKS)')
  .requiredOption('--issuer <iss>', 'issuer, one the agent accepts (--jwt-issuer)')
  .requiredOption('--audience <aud>', 'audience the agent expects (--jwt-audience, default its host name)')
  .option('--scope <scope...>', 'restore:read, restore:run, devices:resume', ['restore:read'])
  .option('--subject <sub>', 'who the token stands for (default user@host)')
  .option('--kid <kid>', 'key id header (when the agent has a JWKS with several keys)')
  .option('--ttl <duration>', 'lifetime: 90s, 10m, 1h (default 10m; at most 24h)', '10m')
  .action(async (opts: { key: string; issuer: string; audience: string; scope: string[]; subject?: string; kid?: string; ttl: string }) => {
    try {
      const scopes = opts.scope.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
      const token = await mintToken({
        keyFile: opts.key,
        issuer: opts.issuer,
        audience: opts.audience,
        subject: opts.subject ?? `${os.userInfo().username}@${os.hostname()}`,
        scopes,
        ttlSec: parseTtl(opts.ttl),
        kid: opts.kid,
      });
      process.stdout.write(`${token}\n`);
    } catch (err) {
      const e = asRestoreError(err);
      reportFailure(e.code, e.message);
    }
  });

await program.parseAsync(process.argv);
