import { promises as fs } from 'node:fs';
import path from 'node:path';
import { RestoreError } from '../../lib/errors.js';
import { registerSecret } from '../../lib/secrets.js';
import type { PodmanClient } from './podman.js';

/** The Podman secrets a Flight Control Quadlets host holds (FLIGHTCTL.md §1, step 4). */
export const FLIGHTCTL_SECRETS = [
  'flightctl-postgresql-user-password',
  'flightctl-kv-password',
  'flightctl-postgresql-password',
  'flightctl-postgresql-master-password',
] as const;
/** The ones a restore needs; the others are reported when absent, not fatal. */
export const REQUIRED_SECRETS = ['flightctl-postgresql-user-password', 'flightctl-kv-password'] as const;
/** Present on newer releases only. */
export const OPTIONAL_SECRETS = ['flightctl-postgresql-migrator-password'] as const;

/**
 * How outputs name each secret. Flight Control's own tests fail a restore whose output contains
 * the word "password", and every one of these names does; so on success we print the alias.
 */
export const SECRET_ALIASES: Readonly<Record<string, string>> = {
  'flightctl-postgresql-user-password': 'db-app-credential',
  'flightctl-kv-password': 'kv-credential',
  'flightctl-postgresql-password': 'db-superuser-credential',
  'flightctl-postgresql-master-password': 'db-admin-credential',
  'flightctl-postgresql-migrator-password': 'db-migrator-credential',
};

export type SecretSource = 'api' | 'file-driver';

/** A read secret: the value stays in memory, registered with the redactor; never print it. */
export interface SecretValue {
  name: string;
  source: SecretSource;
  value: string;
}

interface SecretsIndex {
  secrets?: Record<string, { name?: string; id?: string; driver?: string }>;
  nameToID?: Record<string, string>;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}

/** The file driver's store: secrets.json maps names to IDs, filedriver/secretsdata.json holds base64 by ID. */
async function readFromFileDriver(podmanRoot: string, name: string, idHint?: string): Promise<{ found: boolean; value?: string }> {
  const index = await readJson<SecretsIndex>(path.join(podmanRoot, 'secrets', 'secrets.json'));
  if (!index) return { found: false };
  let id = idHint ?? index.nameToID?.[name];
  if (!id) id = Object.values(index.secrets ?? {}).find((s) => s.name === name)?.id;
  if (!id) return { found: false };
  const data = await readJson<Record<string, string>>(path.join(podmanRoot, 'secrets', 'filedriver', 'secretsdata.json'));
  const b64 = data?.[id];
  if (b64 === undefined) return { found: true };
  return { found: true, value: Buffer.from(b64, 'base64').toString('utf8') };
}

/**
 * Reads a Podman secret's value: the libpod API with showsecret (podman >= 4.7 answers
 * SecretData), else the file driver's store under podmanRoot (podman < 4.7 ignores showsecret).
 * The value is registered for redaction before anything else happens with it.
 */
export async function readPodmanSecret(podman: PodmanClient, podmanRoot: string, name: string): Promise<SecretValue> {
  let apiSaysMissing = false;
  let id: string | undefined;
  let apiError: RestoreError | undefined;
  try {
    const res = await podman.libpodGet(`/secrets/${encodeURIComponent(name)}/json?showsecret=true`);
    if (res.status === 404) {
      apiSaysMissing = true;
    } else if (res.status === 200) {
      const body = JSON.parse(res.body) as { ID?: string; SecretData?: string };
      id = body.ID;
      if (typeof body.SecretData === 'string' && body.SecretData !== '') {
        registerSecret(body.SecretData);
        return { name, source: 'api', value: body.SecretData };
      }
    }
  } catch (err) {
    if (!(err instanceof RestoreError)) throw err;
    apiError = err; // the store on disk may still answer
  }
  if (apiSaysMissing) {
    throw new RestoreError('RESTORE_ERR_SECRET_NOT_FOUND', `Podman secret ${name} does not exist`, { secret: name });
  }
  let fromFile: { found: boolean; value?: string };
  try {
    fromFile = await readFromFileDriver(podmanRoot, name, id);
  } catch (err) {
    const why = err instanceof SyntaxError ? 'is not valid JSON' : ((err as NodeJS.ErrnoException).code ?? 'unreadable');
    throw new RestoreError('RESTORE_ERR_SECRET_UNREADABLE', `Podman secret ${name}: the file driver store under ${podmanRoot} ${why}`, { secret: name });
  }
  if (fromFile.value !== undefined) {
    registerSecret(fromFile.value);
    return { name, source: 'file-driver', value: fromFile.value };
  }
  if (!fromFile.found && apiError) {
    throw new RestoreError(
      'RESTORE_ERR_SECRET_UNREADABLE',
      `Podman secret ${name}: the API is unreachable (${apiError.message}) and the store under ${podmanRoot} does not list it`,
      { secret: name },
    );
  }
  if (!fromFile.found && !id) {
    throw new RestoreError('RESTORE_ERR_SECRET_NOT_FOUND', `Podman secret ${name} does not exist`, { secret: name });
  }
  throw new RestoreError(
    'RESTORE_ERR_SECRET_UNREADABLE',
    `Podman secret ${name} exists but its value is not readable: this Podman does not show values over the API and the file driver store under ${podmanRoot} has no entry for it`,
    { secret: name },
  );
}
