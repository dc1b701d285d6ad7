import os from 'node:os';
import { Command } from 'commander';
import { mintToken, parseTtl } from '../../client/token-mint.js';
import { packageVersion } from '../../lib/version.js';
import { configureUsageErrors, printError } from '../common/errors.js';
import { outputFormat, outputOptions } from '../common/output.js';
import { registerReads } from './reads.js';
import { remoteOptions } from './remote.js';
import { registerRestore } from './restore.js';
import { registerResume } from './resume.js';
import { wallClockMs } from '../../lib/clock.js';

/**
 * The remote client: one agent or a fleet of them, over the agent's HTTP API (docs/fleet.md).
 * Argument parsing only; what it does lives in src/client. Where to, the token and the output
 * options are the program's own, so every command takes them.
 */
export function restorectlProgram(): Command {
  const program = new Command('flightctl-restorectl')
    .description('Restore Flight Control hosts through their flightctl-restore-agent: one host (--host, --socket) or a fleet (--inventory, --limit)')
    .version(packageVersion());
  remoteOptions(program);
  outputOptions(program);
  configureUsageErrors(program);
  registerRestore(program);
  registerReads(program);
  registerResume(program);

  program
    .command('token')
    .description('Tokens for the agent API')
    .command('mint')
    .description('Print a short-lived token signed with a private key the agent trusts (the token alone, or with -o json {"token", "expiresAt"})')
    .requiredOption('--key <pem>', 'private key (PEM: RSA, EC or Ed25519) whose public key the agent has (--jwt-public-key or a JWKS)')
    .requiredOption('--issuer <iss>', 'issuer, one the agent accepts (--jwt-issuer)')
    .requiredOption('--audience <aud>', 'audience the agent expects (--jwt-audience, default its host name)')
    .option('--scope <scope...>', 'restore:read, restore:run, devices:resume', ['restore:read'])
    .option('--subject <sub>', 'who the token stands for (default user@host)')
    .option('--kid <kid>', 'key id header (when the agent has a JWKS with several keys)')
    .option('--ttl <duration>', 'lifetime: 90s, 10m, 1h (default 10m; at most 24h)', '10m')
    .action(async (opts: { key: string; issuer: string; audience: string; scope: string[]; subject?: string; kid?: string; ttl: string }, cmd: Command) => {
      let json = false;
      try {
        // The token alone by default, whoever reads it: TOKEN=$(flightctl-restorectl token mint ...).
        json = outputFormat(cmd.optsWithGlobals(), 'text') === 'json';
        const scopes = opts.scope.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
        const ttlSec = parseTtl(opts.ttl);
        const token = await mintToken({
          keyFile: opts.key,
          issuer: opts.issuer,
          audience: opts.audience,
          subject: opts.subject ?? `${os.userInfo().username}@${os.hostname()}`,
          scopes,
          ttlSec,
          kid: opts.kid,
        });
        // Printing the token is this command's purpose; it is written with process.stdout
        // directly because `print` redacts registered secrets (none are registered here).
        process.stdout.write(json ? `${JSON.stringify({ token, expiresAt: new Date(wallClockMs() + ttlSec * 1000).toISOString() })}\n` : `${token}\n`);
      } catch (err) {
        printError(err, json);
      }
    });
  return program;
}
