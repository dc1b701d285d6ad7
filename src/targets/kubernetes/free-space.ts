import type { DatabaseShell } from '../target.js';
import type { KubeClient } from './kube-client.js';

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A resource quantity ("10Gi", "500M", "1e9") in bytes; undefined when it is not one. */
export function quantityBytes(q: string | undefined): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(?:([eE][0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?)$/.exec((q ?? '').trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  return Math.floor(m[2] ? base * 10 ** Number(m[2].slice(1)) : base * SUFFIX[m[3] ?? '']!);
}

/**
 * The database's free room, estimated without a shell in its pod: the capacity of the volume
 * claim that flightctl-db mounts, less what PostgreSQL keeps on it (every database and the WAL,
 * read as the admin). Other files on the volume are not counted, so this is an upper bound;
 * restore.spaceFactor keeps a margin. Undefined when there is no such claim to read (an external
 * database, a StatefulSet's volume template, an emptyDir).
 */
export async function estimateFreeBytes(client: KubeClient, namespace: string, shell: DatabaseShell): Promise<number | undefined> {
  const dep = await client.get({ verb: 'get', resource: 'deployments', namespace, name: 'flightctl-db' }, () =>
    client.apps.readNamespacedDeployment({ name: 'flightctl-db', namespace }),
  );
  const claim = dep?.spec?.template?.spec?.volumes?.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
  if (!claim) return undefined;
  const pvc = await client.get({ verb: 'get', resource: 'persistentvolumeclaims', namespace, name: claim }, () =>
    client.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace }),
  );
  const capacity = quantityBytes(pvc?.status?.capacity?.storage ?? pvc?.spec?.resources?.requests?.storage);
  if (capacity === undefined) return undefined;
  const used = Number(
    (
      await shell.sql(`SELECT (SELECT COALESCE(sum(pg_database_size(oid)), 0) FROM pg_database) + (SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir());\n`)
    ).trim(),
  );
  return Number.isFinite(used) ? Math.max(0, capacity - used) : undefined;
}
