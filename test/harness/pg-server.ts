import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { stopProcess } from './stop-process.js';

/** Where Debian's postgresql-15 puts initdb and pg_ctl. */
export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

export interface PgServer {
  host: string;
  port: number;
  /** Superuser (postgres) credentials, for the harness only. */
  adminPassword: string;
  dir: string;
  pid: number;
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}

function asPostgres(args: string[], opts: { input?: string } = {}): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'], input: opts.input }).toString();
}

/**
 * A throwaway PostgreSQL 15 on a random 127.0.0.1 port with scram auth. initdb refuses root, so
 * the cluster belongs to user postgres. Durability is off: it only ever holds test data.
 */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PgServer> {
  if (!existsSync(`${PG_BIN_DIR}/initdb`)) throw new Error(`PostgreSQL 15 is not installed (${PG_BIN_DIR}/initdb); run scripts/install-deps.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'fcra-pg-'));
  chmodSync(dir, 0o755);
  const uid = uidOf('postgres');
  chownSync(dir, uid, uid);
  const adminPassword = randomBytes(18).toString('hex');
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, `${adminPassword}\n`, { mode: 0o600 });
  chownSync(pwFile, uid, uid);
  const port = await freePort();
  const extra = Object.entries(settings)
    .map(([k, v]) => ` -c ${k}=${v}`)
    .join('');
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=50${extra}`;
  try {
    asPostgres([
      `${PG_BIN_DIR}/initdb`,
      '-D',
      join(dir, 'data'),
      '-U',
      'postgres',
      `--pwfile=${pwFile}`,
      '--auth=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
    rmSync(pwFile);
    asPostgres([`${PG_BIN_DIR}/pg_ctl`, '-D', join(dir, 'data'), '-l', join(dir, 'pg.log'), '-w', '-o', opts, 'start']);
  } catch (err) {
    // Nothing half-started stays behind: pg_ctl can give up waiting while the postmaster is still
    // coming up (stop it by the PID it wrote), and a failed initdb leaves the password file.
    const pid = postmasterPid(dir);
    if (pid) await stopProcess(pid, 'SIGQUIT', dir);
    else rmSync(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${(err as Error).message.split('\n')[0]}`);
  }
  return { host: '127.0.0.1', port, adminPassword, dir, pid: postmasterPid(dir)! };
}

function postmasterPid(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

/** Stops the server by its PID (fast shutdown), then removes its directory. */
export async function stopPostgres(server: PgServer): Promise<void> {
  await stopProcess(server.pid, 'SIGINT', server.dir);
}
