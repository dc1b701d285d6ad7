import { readFileSync } from 'node:fs';
import path from 'node:path';
import { databaseSite, parseServiceConfig, type DatabaseSite } from '../../flightctl/service-config.js';
import { RestoreError } from '../../lib/errors.js';

export type ExternalSite = Extract<DatabaseSite, { kind: 'external' }>;

/**
 * Where this host's Flight Control keeps its database, from <etc>/service-config.yaml. No file:
 * the built-in one (a host whose configuration is elsewhere says so through flightctl.etcDir). A
 * file that cannot be used is kept as its error, raised where the database is first needed, so
 * that commands that do not need it still run.
 */
export function readDatabaseSite(etcDir: string): DatabaseSite | { kind: 'unreadable'; error: RestoreError } {
  const file = path.join(etcDir, 'service-config.yaml');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'builtin', name: 'flightctl' };
    return {
      kind: 'unreadable',
      error: new RestoreError('RESTORE_ERR_FLIGHTCTL_CONFIG_INVALID', `${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
        file,
      }),
    };
  }
  try {
    return databaseSite(parseServiceConfig(text, file), etcDir, file);
  } catch (err) {
    if (err instanceof RestoreError) return { kind: 'unreadable', error: err };
    throw err;
  }
}
