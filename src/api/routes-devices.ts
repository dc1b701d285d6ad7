import type { Express, RequestHandler } from 'express';
import { FlightctlApi } from '../flightctl/api-client.js';
import { withPostgres, type PostgresEndpoint } from '../flightctl/datastores/postgres.js';
import { listDevices, type DeviceRow } from '../flightctl/devices/report.js';
import { ALL_DEVICES, resumeInDatabase, selectionForName, type ResumeSelection } from '../flightctl/devices/resume.js';
import { parseSelector } from '../model/selector.js';
import { DEVICE_SUMMARY_JSON_SQL, parseSummaryJson } from '../flightctl/devices/summary-sql.js';
import { postgresAt } from '../targets/data-endpoints.js';
import type { AppDeps } from './app-deps.js';
import { invalidRequest } from './problem.js';
import { devicesQuerySchema, resumeRequestSchema } from './schemas.js';

/** How many devices one GET /v1/devices answers at most (the CLI streams; an API answer is one document). */
const MAX_DEVICES = 100_000;

/** Where the database answers reads without anything restarting, as the application's user. */
async function readEndpoint(deps: AppDeps): Promise<PostgresEndpoint> {
  return postgresAt(deps.target, await deps.target.readEndpoint(), deps.config.db.name, deps.config);
}

/** The organizations, for a resume through Flight Control's API (which acts on one at a time). */
async function organizations(deps: AppDeps): Promise<string[]> {
  const out = await deps.target.database.sql('SELECT id FROM organizations ORDER BY 1;\n', { database: deps.config.db.name });
  return out.split('\n').filter(Boolean);
}

export function registerDeviceRoutes(app: Express, deps: AppDeps, guards: { read: RequestHandler; resume: RequestHandler[] }): void {
  const flightctlApi = FlightctlApi.fromConfig(deps.config.flightctl);

  app.get('/v1/services', guards.read, async (_req, res) => {
    res.json({ services: await deps.target.services() });
  });

  app.get('/v1/devices/summary', guards.read, async (_req, res) => {
    res.json(parseSummaryJson(await deps.target.database.sql(DEVICE_SUMMARY_JSON_SQL, { database: deps.config.db.name })));
  });

  app.get('/v1/devices', guards.read, async (req, res) => {
    const parsed = devicesQuerySchema.safeParse(req.query);
    if (!parsed.success) throw invalidRequest(parsed.error, 'query');
    const q = parsed.data;
    // Parsed before any database call: a malformed selector is a 400, never a query.
    if (q.labelSelector !== undefined) parseSelector('label', q.labelSelector);
    if (q.fieldSelector !== undefined) parseSelector('field', q.fieldSelector);
    const limit = Math.min(q.limit ?? MAX_DEVICES, MAX_DEVICES);
    const devices = await withPostgres(await readEndpoint(deps), async (db) => {
      const rows: DeviceRow[] = [];
      for await (const d of listDevices(db, { labelSelector: q.labelSelector, fieldSelector: q.fieldSelector, limit })) rows.push(d);
      return rows;
    });
    res.json({ devices });
  });

  app.post('/v1/devices/resume', ...guards.resume, async (req, res) => {
    const parsed = resumeRequestSchema.safeParse(req.body);
    if (!parsed.success) throw invalidRequest(parsed.error, 'resume request');
    const r = parsed.data;
    const sel: ResumeSelection =
      r.name !== undefined ? selectionForName(r.name) : r.all ? { ...ALL_DEVICES } : { labelSelector: r.labelSelector, fieldSelector: r.fieldSelector };
    if (sel.labelSelector !== undefined) parseSelector('label', sel.labelSelector);
    if (sel.fieldSelector !== undefined) parseSelector('field', sel.fieldSelector);
    let resumedDevices = 0;
    if (flightctlApi) {
      // Flight Control's own resume, so its server does the bookkeeping (events, caches).
      for (const org of r.orgId ? [r.orgId] : await organizations(deps)) resumedDevices += await flightctlApi.resume(sel, org);
    } else {
      resumedDevices = await withPostgres(await readEndpoint(deps), (db) =>
        resumeInDatabase(db, { ...sel, orgId: r.orgId }, `restore-agent:${req.principal?.sub ?? 'anonymous'}`),
      );
    }
    res.json({ resumedDevices });
  });
}
