import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { openDump, type DumpFile } from '../../flightctl/database/dump-format.js';
import { classifyPostgresError, connectPostgres, type PostgresEndpoint } from '../../flightctl/datastores/postgres.js';
import { RestoreError, isRestoreError } from '../../lib/errors.js';
import type { DatabaseShell, LoadOptions, ShellOptions } from '../target.js';
import { CopyFromStdin } from './copy-in.js';
import { ScriptSplitter, splitScript, type ScriptItem } from './sql-script.js';
import { byteCounter } from '../../lib/byte-counter.js';

/** Every value as the server's text, as psql prints it (t/f, not true/false; numbers unparsed). */
const TEXT_TYPES = { getTypeParser: () => (value: string) => value };
const COPY_CHUNK = 64 * 1024;

/** The admin user's address and credentials, read when first needed. */
export type AdminEndpoint = (database: string) => Promise<PostgresEndpoint>;

/**
 * A database shell over the PostgreSQL protocol, for a database the agent reaches over the
 * network: the Kubernetes target's (as the database's admin, at the Service address, from the Job
 * itself: no exec into the database's pod, which is the strongest right in a namespace, and the
 * image needs no psql) and an external database of a Quadlets host (as the application's user,
 * with the TLS service-config.yaml asks for). psql's part is done here: a script is split
 * into statements where psql splits it, `\gexec` runs what a query returns, and a plain dump's
 * COPY data is streamed as CopyData. Custom-format dumps need pg_restore: refused in preflight.
 */
export class ProtocolDatabaseShell implements DatabaseShell {
  readonly loadableFormats = ['plain'] as const;

  constructor(
    private readonly admin: AdminEndpoint,
    private readonly freeSpace: (shell: ProtocolDatabaseShell) => Promise<number | undefined>,
  ) {}

  async sql(sql: string, opts: ShellOptions = {}): Promise<string> {
    // Not the live database: a session in it would keep it from being renamed.
    const ep = await this.admin(opts.database ?? 'postgres');
    const client = await connectPostgres(ep);
    const abort = () => void client.end().catch(() => undefined);
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      // A bound like the exec's timeout on a host: the server ends the statement, not just we.
      await client.query(`SET statement_timeout = ${Math.max(0, Math.round(opts.timeoutMs ?? 120_000))}`);
      const out: string[] = [];
      for (const item of splitScript(sql)) out.push(...(await runItem(client, item)));
      return out.map((l) => `${l}\n`).join('');
    } catch (err) {
      if (opts.signal?.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', 'interrupted while SQL ran in the database');
      throw isRestoreError(err) ? err : classifyPostgresError(err, ep);
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
    }
  }

  /** Streams a plain dump into the database, as psql -v ON_ERROR_STOP=1 -f would: the first error ends it. */
  async load(database: string, dump: DumpFile, opts: LoadOptions): Promise<void> {
    if (dump.format !== 'plain') throw new RestoreError('RESTORE_ERR_DUMP_UNSUPPORTED', `${dump.path} is not a plain SQL dump`);
    const ep = await this.admin(database);
    const client = await connectPostgres(ep);
    const input = openDump(dump);
    const abort = () => {
      input.destroy();
      void client.end().catch(() => undefined);
    };
    opts.signal?.addEventListener('abort', abort, { once: true });
    let lineNo = 0;
    try {
      const counted = input.pipe(byteCounter(opts.onBytes));
      const splitter = new ScriptSplitter();
      let copy: CopyFromStdin | undefined;
      let pending: string[] = [];
      let pendingBytes = 0;
      const flush = async () => {
        if (!pending.length) return;
        const chunk = Buffer.from(pending.join(''), 'utf8');
        pending = [];
        pendingBytes = 0;
        await copy!.send(chunk);
      };
      for await (const line of createInterface({ input: counted, crlfDelay: Infinity })) {
        lineNo++;
        if (copy) {
          if (line === '\\.') {
            await flush();
            await copy.end();
            copy = undefined;
          } else {
            pending.push(`${line}\n`);
            pendingBytes += line.length + 1;
            if (pendingBytes >= COPY_CHUNK) await flush();
          }
          continue;
        }
        for (const item of splitter.pushLine(line)) {
          if (item.kind === 'copy') {
            copy = new CopyFromStdin(item.text);
            void client.query(copy);
          } else await runItem(client, item);
        }
      }
      if (copy) throw new RestoreError('RESTORE_ERR_DUMP_INVALID', `${path.basename(dump.path)} ends inside the data of a COPY (no \\. line): it is cut off`);
      for (const item of splitter.end()) await runItem(client, item);
    } catch (err) {
      if (opts.signal?.aborted) throw new RestoreError('RESTORE_ERR_CANCELLED', `interrupted while loading ${path.basename(dump.path)}`);
      const e = isRestoreError(err) ? err : classifyPostgresError(err, ep);
      throw new RestoreError(e.code, `${e.message} (line ${lineNo} of ${path.basename(dump.path)})`, { ...e.details, line: lineNo });
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      input.destroy();
      await client.end().catch(() => undefined);
    }
  }

  dump(): { stream: Readable; done: Promise<void> } {
    throw new RestoreError(
      'RESTORE_ERR_USAGE',
      "the agent does not dump a database it reaches over the network (a Kubernetes deployment, an external database): back it up with Flight Control's own backup or the database's own tools",
    );
  }

  freeBytes(): Promise<number | undefined> {
    return this.freeSpace(this);
  }

  /** No file is ever copied next to the database: nothing to remove. */
  async removeFile(): Promise<void> {}
}

/** One item of a script: its rows as psql -A -t prints them. */
async function runItem(client: pg.Client, item: ScriptItem): Promise<string[]> {
  if (item.kind === 'meta') return [];
  if (item.kind === 'copy') throw new RestoreError('RESTORE_ERR_INTERNAL', 'COPY FROM stdin needs its data: only a dump load can run it');
  const r = await client.query({ text: item.text, rowMode: 'array', types: TEXT_TYPES });
  const rows = (r.rows as (string | null)[][]) ?? [];
  if (!item.gexec) return rows.map((row) => row.map((v) => v ?? '').join('|'));
  // \gexec: every non-null value of the result is itself a statement, row by row, left to right.
  const out: string[] = [];
  for (const row of rows) {
    for (const v of row) if (v !== null) out.push(...(await runItem(client, { kind: 'sql', text: v, gexec: false })));
  }
  return out;
}
