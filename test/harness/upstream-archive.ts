/**
 * Builds a backup archive the way Flight Control's own flightctl-backup does (internal/backup:
 * metadata.json written into the staging directory, then filepath.Walk in lexical order with the
 * root skipped, tar.FileInfoHeader with the name replaced by the slash-separated relative path, so
 * directories have no trailing slash; one gzip stream; a sha256sum-format sidecar). It is written
 * with Python's tarfile, not with the agent's own writer, so that reading it is a real test of
 * interoperability.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const SCRIPT = `
import os, pwd, grp, sys, tarfile, hashlib

class GoInfo(tarfile.TarInfo):
    # Go's writer keeps the name as given: no trailing slash on directories.
    def get_info(self):
        info = super().get_info()
        info['name'] = info['name'].rstrip('/')
        return info

staging, out = sys.argv[1], sys.argv[2]
entries = []
def walk(rel):
    for name in sorted(os.listdir(os.path.join(staging, rel))):
        r = os.path.join(rel, name) if rel else name
        entries.append(r)
        if os.path.isdir(os.path.join(staging, r)):
            walk(r)
walk('')
with tarfile.open(out, 'w:gz', format=tarfile.USTAR_FORMAT, tarinfo=GoInfo) as t:
    for r in entries:
        full = os.path.join(staging, r)
        st = os.lstat(full)
        ti = GoInfo(r)
        ti.mode = st.st_mode & 0o7777
        ti.uid, ti.gid = st.st_uid, st.st_gid
        ti.uname = pwd.getpwuid(st.st_uid).pw_name
        ti.gname = grp.getgrgid(st.st_gid).gr_name
        ti.mtime = int(st.st_mtime)
        if os.path.isdir(full):
            ti.type = tarfile.DIRTYPE
            t.addfile(ti)
        else:
            ti.size = st.st_size
            with open(full, 'rb') as f:
                t.addfile(ti, f)
os.chmod(out, 0o600)
h = hashlib.sha256(open(out, 'rb').read()).hexdigest()
with open(out + '.sha256', 'w') as f:
    f.write('%s  %s\\n' % (h, os.path.basename(out)))
os.chmod(out + '.sha256', 0o644)
`;

export interface UpstreamMetadata {
  /** As Go marshals time.Now(): RFC 3339 with up to nine fraction digits. */
  timestamp: string;
  version: string;
  deploymentType: 'podman' | 'kubernetes';
  databaseIncluded: boolean;
}

/** Writes metadata.json into `staging` (as CreateArchive does), then the archive and its sidecar. */
export function buildUpstreamArchive(staging: string, outputDir: string, metadata: UpstreamMetadata): string {
  writeFileSync(path.join(staging, 'metadata.json'), JSON.stringify(metadata, null, 2), { mode: 0o600 });
  const stamp = metadata.timestamp.replace(/[-:]/g, '').replace(/\.\d+/, '').replace(/Z$/, 'Z');
  const out = path.join(outputDir, `flightctl-backup-${stamp}.tar.gz`);
  execFileSync('python3', ['-c', SCRIPT, staging, out]);
  return out;
}
