import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';
import type { KubeClient } from './kube-client.js';

/** Flight Control's Secrets in the internal namespace (FLIGHTCTL.md §1, the Helm chart) and the keys used. */
export const FLIGHTCTL_SECRETS = {
  dbApp: { name: 'flightctl-db-app-secret', keys: ['user', 'userPassword'] },
  dbAdmin: { name: 'flightctl-db-admin-secret', keys: ['masterUser', 'masterPassword'] },
  kv: { name: 'flightctl-kv-secret', keys: ['password'] },
} as const;

/** User names are not secret (they name things in messages); the passwords are registered for redaction. */
const isCredential = (key: string) => /password/i.test(key);

type SecretSpec = (typeof FLIGHTCTL_SECRETS)[keyof typeof FLIGHTCTL_SECRETS];
export type SecretValues<S extends SecretSpec> = Record<S['keys'][number], string>;

/** Where the values come from: files the Job mounts, or the API. */
export interface SecretSource {
  read<S extends SecretSpec>(spec: S): Promise<SecretValues<S>>;
}

/**
 * The Secrets mounted into the Job (`<dir>/<secret>/<key>`, as a secret volume lays them out):
 * the service account then needs no right on Secrets at all.
 */
export function mountedSecrets(dir: string): SecretSource {
  return {
    async read(spec) {
      const out: Record<string, string> = {};
      for (const key of spec.keys) {
        const file = path.join(dir, spec.name, key);
        try {
          // Exact bytes, as Flight Control itself gets them from secretKeyRef: no trimming.
          out[key] = await fs.readFile(file, 'utf8');
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new RestoreError(
            'RESTORE_ERR_KUBE_SECRET_MISSING',
            `key ${key} of the Secret ${spec.name} is not mounted at ${file} (${code}): mount the Secret at ${path.join(dir, spec.name)}`,
            { secret: spec.name, key },
          );
        }
        if (isCredential(key)) registerSecret(out[key]);
      }
      return out as SecretValues<typeof spec>;
    },
  };
}

/** The Secrets read through the API (get secrets, by name, in the internal namespace). */
export function apiSecrets(client: KubeClient, namespace: string): SecretSource {
  return {
    async read(spec) {
      const secret = await client.get({ verb: 'get', resource: 'secrets', namespace, name: spec.name }, () =>
        client.core.readNamespacedSecret({ name: spec.name, namespace }),
      );
      if (!secret)
        throw new RestoreError('RESTORE_ERR_KUBE_SECRET_MISSING', `the Secret ${spec.name} does not exist in namespace ${namespace}`, { secret: spec.name });
      const out: Record<string, string> = {};
      for (const key of spec.keys) {
        const b64 = secret.data?.[key];
        const value = b64 !== undefined ? Buffer.from(b64, 'base64').toString('utf8') : secret.stringData?.[key];
        if (value === undefined) {
          throw new RestoreError('RESTORE_ERR_KUBE_SECRET_MISSING', `the Secret ${spec.name} in namespace ${namespace} has no key ${key}`, {
            secret: spec.name,
            key,
          });
        }
        if (isCredential(key)) registerSecret(value);
        out[key] = value;
      }
      return out as SecretValues<typeof spec>;
    },
  };
}
