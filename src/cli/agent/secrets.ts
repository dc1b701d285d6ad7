import type { Command } from 'commander';
import { isRestoreError, type ErrorCode } from '../../lib/errors.js';
import { withQuadletHost } from '../../targets/quadlet/host.js';
import { FLIGHTCTL_SECRETS, OPTIONAL_SECRETS, REQUIRED_SECRETS, SECRET_ALIASES, readPodmanSecret } from '../../targets/quadlet/podman-secrets.js';
import { action, type CommandContext } from './command-context.js';
import { reportFailure } from '../common/errors.js';

interface SecretCheck {
  /** SECRET_ALIASES: the Podman names contain a word Flight Control's tooling treats as a leak. */
  secret: string;
  required: boolean;
  readable: boolean;
  source?: string;
  code?: ErrorCode;
  message?: string;
  podmanName?: string;
}

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('Podman secrets Flight Control needs');
  secrets
    .command('check')
    .description('Check that every Flight Control secret is readable (values are never shown)')
    .action(
      action(async (ctx: CommandContext) => {
        const names = [...FLIGHTCTL_SECRETS, ...OPTIONAL_SECRETS];
        const checks = await withQuadletHost(ctx.config.host, (host) =>
          Promise.all(
            names.map(async (name): Promise<SecretCheck> => {
              const required = (REQUIRED_SECRETS as readonly string[]).includes(name);
              try {
                const s = await readPodmanSecret(host.podman, host.settings.podmanRoot, name);
                return { secret: SECRET_ALIASES[name] ?? name, required, readable: true, source: s.source };
              } catch (err) {
                if (!isRestoreError(err)) throw err;
                if (err.code === 'RESTORE_ERR_PODMAN_UNREACHABLE') throw err;
                const alias = SECRET_ALIASES[name] ?? name;
                // The result names the alias; the Podman name goes to stderr, and only on failure.
                return { secret: alias, required, readable: false, code: err.code, message: err.message.split(name).join(alias), podmanName: name };
              }
            }),
          ),
        );
        const failed = checks.filter((c) => c.required && !c.readable);
        if (ctx.json) ctx.print(`${JSON.stringify({ secrets: checks.map(({ podmanName: _n, ...c }) => c), ok: failed.length === 0 })}\n`);
        else
          for (const c of checks)
            ctx.print(`${c.secret.padEnd(26)} ${c.readable ? `readable (${c.source})` : `NOT readable: ${c.code}`}${c.required ? '' : ' [optional]'}\n`);
        if (failed.length) {
          const code = failed[0]!.code ?? 'RESTORE_ERR_SECRET_NOT_FOUND';
          reportFailure(code, `${failed.map((c) => `${c.message} (Podman secret ${c.podmanName})`).join('; ')}`);
        }
      }),
    );
}
