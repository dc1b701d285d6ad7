import path from 'node:path';
import type { Express, RequestHandler, Request, Response } from 'express';
import { createBackup } from '../runbook/backup/create-backup.js';
import { listBackups } from '../runbook/backup/list-backups.js';
import { isRunId, type RunEvent } from '../model/run.js';
import { RestoreError } from '../lib/errors.js';
import type { AppDeps } from './app-deps.js';
import { resolveImport, type ImportPlace } from './import-dir.js';
import { invalidRequest } from './problem.js';
import { backupRequestSchema, restoreRequestSchema } from './schemas.js';

const HEARTBEAT_MS = 15_000;

function runId(req: Request): string {
  const id = String(req.params.id);
  if (!isRunId(id)) throw new RestoreError('RESTORE_ERR_RUN_NOT_FOUND', `no run ${id.slice(0, 80)}`);
  return id;
}

/** Last-Event-ID (SSE reconnect; also honoured for NDJSON): the seq of the last event the client has. */
function lastEventId(req: Request): number {
  const raw = req.get('last-event-id');
  if (raw === undefined) return 0;
  if (!/^\d{1,10}$/.test(raw.trim())) throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'Last-Event-ID must be the seq number of an event');
  return Number(raw);
}

/**
 * Events as Server-Sent Events (`id:` is the seq, so a reconnect resumes), or NDJSON for
 * `Accept: application/x-ndjson`; either way the stream ends after run-finished.
 */
async function streamEvents(deps: AppDeps, req: Request, res: Response): Promise<void> {
  const id = runId(req);
  const after = lastEventId(req);
  await deps.runs.get(id); // a 404 before any byte is sent
  const ndjson = req.accepts(['text/event-stream', 'application/x-ndjson']) === 'application/x-ndjson';
  const closed = new AbortController();
  res.on('close', () => closed.abort());
  res.status(200).set({
    'Content-Type': ndjson ? 'application/x-ndjson' : 'text/event-stream',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  const heartbeat = setInterval(() => res.write(ndjson ? '\n' : ': keep-alive\n\n'), HEARTBEAT_MS);
  try {
    const write = (e: RunEvent) => res.write(ndjson ? `${JSON.stringify(e)}\n` : `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    for await (const e of deps.runs.events(id, after, closed.signal)) write(e);
  } finally {
    clearInterval(heartbeat);
    res.end();
  }
}

export function registerRestoreRoutes(app: Express, deps: AppDeps, guards: { read: RequestHandler; run: RequestHandler[] }): void {
  const importDir = { dir: deps.config.api.importDir || path.join(deps.config.host.stateDir, 'imports'), label: 'import directory' };
  const backupDir = deps.config.backup.outputDir || path.join(deps.config.host.stateDir, 'backups');
  // An archive may also be named as GET /v1/backups lists it: the agent's own backups restore without a copy.
  const dumpPlace: ImportPlace = { field: 'dump', dirs: [importDir] };
  const archivePlace: ImportPlace = { field: 'archive', dirs: [importDir, { dir: backupDir, label: 'backup directory' }] };

  app.post('/v1/restores', ...guards.run, async (req, res) => {
    // An empty body is no request: a restore with every default needs an explicit {}.
    if (req.bodyEmpty)
      throw new RestoreError(
        'RESTORE_ERR_REQUEST_INVALID',
        'the body is empty: send a JSON object, e.g. {"dump": "<file in the import directory>"} or {"archive": "<file>"}, with "check": true to only check; {} prepares the live database with every default',
      );
    const parsed = restoreRequestSchema.safeParse(req.body);
    if (!parsed.success) throw invalidRequest(parsed.error, 'restore request');
    const body = parsed.data;
    if (body.dump !== undefined && body.archive !== undefined) throw new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'give either dump or archive, not both');
    const dump = body.dump !== undefined ? await resolveImport(dumpPlace, body.dump) : undefined;
    const archive = body.archive !== undefined ? await resolveImport(archivePlace, body.archive) : undefined;
    const run = await deps.runs.start({
      dump,
      archive,
      check: body.check === true,
      force: body.force === true,
      keepOldDb: body.keepOldDb ?? deps.config.restore.keepOldDb,
      requestedBy: `api:${req.principal?.sub ?? 'anonymous'}`,
    });
    req.runId = run.id;
    res.status(202).location(`/v1/restores/${run.id}`).json(run);
  });

  app.get('/v1/restores', guards.read, async (_req, res) => {
    res.json({ runs: await deps.runs.list() });
  });

  app.get('/v1/restores/:id', guards.read, async (req, res) => {
    res.json(await deps.runs.get(runId(req)));
  });

  app.get('/v1/restores/:id/events', guards.read, (req, res) => streamEvents(deps, req, res));

  app.post('/v1/restores/:id/continue', ...guards.run, async (req, res) => {
    const id = runId(req);
    req.runId = id;
    await deps.runs.continue(id);
    res.status(202).json({ continued: id });
  });

  app.post('/v1/backups', ...guards.run, async (req, res) => {
    const parsed = backupRequestSchema.safeParse(req.body);
    if (!parsed.success) throw invalidRequest(parsed.error, 'backup request');
    // The host lock makes a backup and a restore exclude each other (409 while one runs).
    const r = await createBackup(
      { config: deps.config, logger: deps.logger, target: deps.target, store: deps.store },
      backupDir,
      parsed.data.keep ?? deps.config.backup.keep,
    );
    res
      .status(201)
      .location(`/v1/backups/${path.basename(r.archive)}`)
      .json(r);
  });

  app.get('/v1/backups', guards.read, async (_req, res) => {
    res.json({ backups: await listBackups(backupDir) });
  });
}
