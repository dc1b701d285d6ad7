import { RestoreError } from '../../../src/lib/errors.js';
import type { RestoreContext } from '../../../src/runbook/restore/context.js';
import type { RestoreData } from '../../../src/runbook/restore/data-stores.js';
import type { MemoryProcess } from './memory-world.js';

/**
 * The data stores of the in-memory host, with the semantics the steps rely on: a load fills the
 * temporary database from its dump, marking is idempotent, FLUSHALL empties every KV database,
 * SWAPDB exchanges two, the swap renames both databases at once.
 */
export function memoryDataStores(proc: MemoryProcess, access: Pick<RestoreContext, 'canConnect'>, reachRestartsDatabase: boolean): RestoreData {
  const w = proc.world;
  const db = (name: string) => {
    const d = w.databases.get(name);
    if (!d) throw new RestoreError('RESTORE_ERR_DB_NOT_FLIGHTCTL', `database ${name} does not exist`);
    return d;
  };
  // Over the network unless reaching the database restarts it: then only the KV store's own client.
  const kvOverNetwork = () => !reachRestartsDatabase;
  const requireReach = () => {
    if (!access.canConnect()) throw new RestoreError('RESTORE_ERR_INTERNAL', 'the database was reached outside the stop window');
  };
  const flushAll = () => {
    for (const s of w.kv.values()) s.clear();
  };

  return {
    inspectLive: (name) =>
      proc.read(() => ({
        bytes: 1000 * db(name).devices.length,
        dataDir: '/var/lib/pgsql/data',
        leftovers: w.databaseNames().filter((n) => n.startsWith(`${name}_restore_`)).length,
      })),
    freeBytes: () => proc.read(() => w.freeBytes),
    ping: () => proc.read(() => (access.canConnect() ? 'network' : 'kv-client')),
    reachable: (name) => proc.read(() => void (requireReach(), db(name))),
    existing: (names) => proc.read(() => new Set(names.filter((n) => w.databases.has(n)))),
    // The in-memory database's user is its superuser.
    missingLoadPrivileges: () => proc.read(() => []),
    createTemp: (names) =>
      proc.change(`create ${names.temp}`, () => {
        db(names.live);
        w.databases.set(names.temp, { origin: 'empty', devices: [], marked: false });
      }),
    load: async (name, dump, opts) => {
      const from = w.dumps.get(dump.path);
      if (!from) throw new RestoreError('RESTORE_ERR_DUMP_INVALID', `no dump ${dump.path} in the in-memory host`);
      if (dump.format === 'custom') {
        const file = `/var/lib/pgsql/.flightctl-restore-${name}.dump`;
        await opts.recordContainerFile(file);
        await proc.change(`copy the dump to ${file}`, () => void w.containerFiles.add(file));
      }
      await proc.change(`load ${dump.path} into ${name}`, async () => {
        await opts.onBytes(Math.floor(dump.size / 2));
        Object.assign(db(name), { origin: from.origin, devices: [...from.devices] });
        await opts.onBytes(dump.size);
      });
      if (dump.format === 'custom') await proc.change(`remove the dump copy`, () => void w.containerFiles.clear());
    },
    removeDumpCopy: (file) => proc.change(`remove ${file}`, () => void w.containerFiles.delete(file)),
    schemaOf: (name) => proc.read(() => (db(name).devices ? 'device_timestamps' : undefined)),
    markDevices: (name, check) => {
      const run = () => {
        requireReach();
        const d = db(name);
        const n = d.marked ? 0 : d.devices.length;
        if (!check) d.marked = true;
        return { devicesUpdated: n, enrollmentRequestsUpdated: 0, eventCreated: n > 0, schema: 'device_timestamps' };
      };
      return check ? proc.read(run) : proc.change(`mark the devices of ${name}`, run);
    },
    summary: (name) =>
      proc.read(() => {
        const d = db(name);
        return { total: d.devices.length, byStatus: d.devices.length ? { [d.marked ? 'AwaitingReconnect' : 'Online']: d.devices.length } : {} };
      }),
    keys: (name) =>
      proc.read(() => {
        if (!kvOverNetwork()) return undefined;
        const want = w.keysOf(name);
        const kv0 = w.kvDb(0);
        const present = [...want].filter((k) => kv0.has(k)).length;
        const total = [...w.kv.values()].reduce((n, s) => n + s.size, 0);
        return { expected: want.size, present, other: total - present };
      }),
    writeKeys: (name, onProgress) =>
      proc.change(`write the keys of ${name}`, async () => {
        requireReach();
        const want = w.keysOf(name);
        flushAll();
        await onProgress?.(Math.floor(want.size / 2), want.size);
        for (const k of want) w.kvDb(0).add(k);
        await onProgress?.(want.size, want.size);
        return { keys: want.size, method: kvOverNetwork() ? ('write' as const) : ('client-pipe' as const) };
      }),
    kvSize: () => proc.read(() => (kvOverNetwork() ? w.kvDb(0).size : undefined)),
    stageKeys: (name, kvDb, onProgress) =>
      kvDb >= w.kvDatabases
        ? proc.read(() => ({ staged: false as const, reason: 'no-such-database' as const }))
        : proc.change(`stage the keys of ${name} in KV database ${kvDb}`, async () => {
            const want = w.keysOf(name);
            w.kvDb(kvDb).clear();
            await onProgress?.(Math.floor(want.size / 2), want.size);
            for (const k of want) w.kvDb(kvDb).add(k);
            await onProgress?.(want.size, want.size);
            return { staged: true as const, keys: want.size };
          }),
    swapInStaged: (kvDb, keys) =>
      proc.change(`SWAPDB 0 ${kvDb}`, () => {
        if (w.kvDb(kvDb).size !== keys)
          return { swapped: false as const, reason: `the spare KV database ${kvDb} holds ${w.kvDb(kvDb).size} keys, ${keys} were staged`, lost: true };
        const staged = w.kvDb(kvDb);
        w.kv.set(kvDb, w.kvDb(0));
        w.kv.set(0, staged);
        for (const [n, s] of w.kv) if (n !== 0) s.clear();
        return { swapped: true as const, keys };
      }),
    clearStaging: (kvDb) => {
      if (!w.kvDb(kvDb).size) return proc.read(() => false);
      return proc.change(`empty KV database ${kvDb}`, () => (w.kvDb(kvDb).clear(), true));
    },
    swap: (names) =>
      proc.change(`swap ${names.temp} in`, () => {
        const live = db(names.live);
        const temp = db(names.temp);
        w.databases.delete(names.temp);
        w.databases.set(names.old, live);
        w.databases.set(names.live, temp);
      }),
    renameBack: (names) =>
      proc.change(`rename ${names.old} back`, () => {
        w.databases.set(names.live, db(names.old));
        w.databases.delete(names.old);
      }),
    drop: (name) => proc.change(`drop ${name}`, () => void w.databases.delete(name)),
  };
}
