import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256File, writeSidecar } from '../../../src/flightctl/archive/checksum.js';
import { encodeMetadata, ENTRY } from '../../../src/flightctl/archive/format.js';
import { ArchiveWriter } from '../../../src/flightctl/archive/writer.js';
import type { MemoryWorld } from './memory-world.js';

/** What a restore is given on the in-memory host: a dump file or a backup archive, its etc directory, its state directory. */
export interface MemoryFixture {
  dir: string;
  stateDir: string;
  etcDir: string;
  dump: string;
  customDump: string;
  /** Flight Control's files as the archive holds them (relative path -> content). */
  archived: Record<string, string>;
  archive(opts: { databaseIncluded: boolean }): Promise<string>;
  /** Flight Control's files under etcDir now. */
  etc(): Record<string, string>;
  config: Record<string, unknown>;
}

const FILES = { 'pki/ca.crt': 'restored CA\n', 'encryption/key.b64': 'restored-key\n', 'config/service-config.yaml': 'service: restored\n' };

export function memoryFixture(world: MemoryWorld): MemoryFixture {
  const dir = mkdtempSync(path.join(tmpdir(), 'memory-host-'));
  const stateDir = path.join(dir, 'state');
  const etcDir = path.join(dir, 'etc');
  mkdirSync(stateDir);
  for (const [rel, text] of Object.entries({ 'pki/ca.crt': 'live CA\n', 'encryption/key.b64': 'live-key\n', 'service-config.yaml': 'service: live\n' })) {
    mkdirSync(path.dirname(path.join(etcDir, rel)), { recursive: true });
    writeFileSync(path.join(etcDir, rel), text);
  }
  const dump = path.join(dir, 'flightctl.sql');
  writeFileSync(dump, '-- PostgreSQL database dump\nSET statement_timeout = 0;\n');
  const customDump = path.join(dir, 'flightctl.dump');
  writeFileSync(customDump, 'PGDMP\u0001\u000e\u0000 a custom-format dump');
  for (const d of [dump, customDump]) world.dumps.set(d, { origin: 'backup', devices: world.dumpDevices });
  let n = 0;
  return {
    dir,
    stateDir,
    etcDir,
    dump,
    customDump,
    archived: {
      'pki/ca.crt': FILES['pki/ca.crt'],
      'encryption/key.b64': FILES['encryption/key.b64'],
      'service-config.yaml': FILES['config/service-config.yaml'],
    },
    config: { host: { stateDir }, flightctl: { etcDir } },
    async archive({ databaseIncluded }) {
      const file = path.join(dir, `flightctl-backup-2026120${++n}T000000Z.tar.gz`);
      const w = await ArchiveWriter.create(file);
      const at = { mode: 0o600, mtime: new Date(), uid: 0, gid: 0 };
      for (const d of ['config', 'pki', 'encryption', 'volumes', ...(databaseIncluded ? ['db'] : [])]) await w.addDirectory(d, { ...at, mode: 0o700 });
      for (const [name, text] of Object.entries(FILES)) await w.addFile(name, Buffer.from(text), at);
      await w.addFile(ENTRY.pamVolume, Buffer.from('a volume export'), at);
      if (databaseIncluded) await w.addFile(ENTRY.dump, readFileSync(dump), at);
      await w.addFile(
        ENTRY.metadata,
        Buffer.from(encodeMetadata({ timestamp: new Date(), nanos: 0, version: world.version, deploymentType: 'podman', databaseIncluded })),
        at,
      );
      await w.finish();
      await writeSidecar(file, await sha256File(file));
      world.dumps.set(`${file}:${ENTRY.dump}`, { origin: 'backup', devices: world.dumpDevices });
      return file;
    },
    etc() {
      const out: Record<string, string> = {};
      for (const rel of ['pki/ca.crt', 'encryption/key.b64', 'service-config.yaml']) out[rel] = readFileSync(path.join(etcDir, rel), 'utf8');
      return out;
    },
  };
}
