import { extendZodWithOpenApi, OpenApiGeneratorV3, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { packageVersion } from '../lib/version.js';
import { deviceSummarySchema, runEventSchema, runSchema } from '../model/run.js';

extendZodWithOpenApi(z);

/**
 * The API's requests and answers: the same zod schemas validate what comes in, describe what goes
 * out, and generate /openapi.json, so the document cannot drift from the code.
 */
const selector = z.string().max(4096);

export const restoreRequestSchema = z
  .object({
    check: z.boolean().optional().openapi({ description: 'Report what a run would change; change nothing.' }),
    dump: z.string().min(1).max(255).optional().openapi({ description: 'File name of a pg_dump inside the import directory.' }),
    archive: z.string().min(1).max(255).optional().openapi({
      description: 'File name of a Flight Control backup archive inside the import directory, or as GET /v1/backups lists it (its .sha256 beside it).',
    }),
    force: z.boolean().optional(),
    keepOldDb: z.boolean().optional(),
  })
  .strict()
  .openapi('RestoreRequest');

export const backupRequestSchema = z
  .object({ keep: z.number().int().min(0).max(10_000).optional().openapi({ description: 'Then keep only the newest n archives.' }) })
  .strict()
  .openapi('BackupRequest');

export const resumeRequestSchema = z
  .object({
    name: z.string().min(1).max(253).optional(),
    labelSelector: selector.min(1).optional(),
    fieldSelector: selector.min(1).optional(),
    all: z.literal(true).optional(),
    confirm: z.literal('resume-all').optional(),
    orgId: z.string().uuid().optional().openapi({ description: 'Only this organization (default: every organization).' }),
  })
  .strict()
  .superRefine((r, ctx) => {
    const modes = [r.name !== undefined, r.labelSelector !== undefined || r.fieldSelector !== undefined, r.all === true].filter(Boolean).length;
    if (modes !== 1) ctx.addIssue({ code: 'custom', message: 'give exactly one of: name; labelSelector and/or fieldSelector; all (with confirm)' });
    if (r.all && r.confirm !== 'resume-all') ctx.addIssue({ code: 'custom', path: ['confirm'], message: 'all: true needs confirm: "resume-all"' });
    if (!r.all && r.confirm !== undefined) ctx.addIssue({ code: 'custom', path: ['confirm'], message: 'confirm goes with all: true only' });
  })
  .openapi('ResumeRequest');

export const devicesQuerySchema = z
  .object({
    labelSelector: selector.optional(),
    fieldSelector: selector.optional(),
    limit: z
      .string()
      .regex(/^\d{1,6}$/, 'must be a whole number from 0 to 100000')
      .transform(Number)
      .refine((n) => n <= 100_000, 'must be a whole number from 0 to 100000')
      .optional(),
  })
  .strict();

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string().openapi({ description: 'Stable error code, RESTORE_ERR_*.' }),
    detail: z.string(),
    hint: z.string(),
    retryable: z.boolean().openapi({ description: 'The same call may succeed later with nothing changed (another run finishes, a server comes back).' }),
    instance: z.string().optional(),
  })
  .openapi('Problem');

const deviceSchema = z
  .object({
    orgId: z.string(),
    name: z.string(),
    alias: z.string().nullable(),
    summaryStatus: z.string().nullable(),
    updatedStatus: z.string().nullable(),
    lifecycleStatus: z.string().nullable(),
    labels: z.record(z.string()),
    annotations: z.record(z.string()),
  })
  .openapi('Device');

const serviceSchema = z
  .object({ unit: z.string(), loadState: z.string(), activeState: z.string(), subState: z.string(), sourcePath: z.string(), dropIns: z.array(z.string()) })
  .passthrough()
  .openapi('Service');

export const healthSchema = z.object({ status: z.enum(['ready', 'starting', 'stopping']) }).openapi('Health');

function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [String(s), { description: 'problem', content: { 'application/problem+json': { schema: problemSchema } } }]));
}

/** The OpenAPI 3 document of the API, built once. */
export function openApiDocument(): unknown {
  const registry = new OpenAPIRegistry();
  const run = registry.register('Run', runSchema);
  const event = registry.register('RunEvent', runEventSchema);
  const summary = registry.register('DeviceSummary', deviceSummarySchema);
  const bearer = registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  const security = [{ [bearer.name]: [] }];
  const json = (schema: z.ZodTypeAny, description: string) => ({ description, content: { 'application/json': { schema } } });
  const idParam = z.object({ id: z.string().openapi({ example: '20261128T061500Z-1a2b3c4d' }) });
  registry.registerPath({
    method: 'post',
    path: '/v1/restores',
    summary: 'Start a restore (scope restore:run)',
    security,
    request: { body: { content: { 'application/json': { schema: restoreRequestSchema } } } },
    responses: { 202: json(run, 'the run, recorded; follow it at Location'), ...problems(400, 401, 403, 409, 413, 429) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/restores',
    summary: 'Past and current runs, newest first (restore:read)',
    security,
    responses: { 200: json(z.object({ runs: z.array(run) }), 'runs'), ...problems(401, 403) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/restores/{id}',
    summary: 'One run (restore:read)',
    security,
    request: { params: idParam },
    responses: { 200: json(run, 'the run'), ...problems(401, 403, 404) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/restores/{id}/events',
    summary: "The run's events: Server-Sent Events (Last-Event-ID resumes), or NDJSON with Accept: application/x-ndjson (restore:read)",
    security,
    request: { params: idParam },
    responses: {
      200: { description: 'events until run-finished', content: { 'text/event-stream': { schema: event }, 'application/x-ndjson': { schema: event } } },
      ...problems(401, 403, 404),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/restores/{id}/continue',
    summary: 'Tell a run waiting for its external database that it is restored (restore:run)',
    security,
    request: { params: idParam },
    responses: { 202: json(z.object({ continued: z.string() }), 'the run goes on'), ...problems(400, 401, 403, 404, 429) },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/backups',
    summary: 'Back up Flight Control in its own archive format, while it runs (restore:run); answers when the archive is complete',
    security,
    request: { body: { content: { 'application/json': { schema: backupRequestSchema } } } },
    responses: {
      201: json(z.object({ archive: z.string(), sha256: z.string(), bytes: z.number() }).passthrough(), 'the archive'),
      ...problems(400, 401, 403, 409, 429, 500),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/backups',
    summary: 'Archives in the backup directory, newest first (restore:read)',
    security,
    responses: {
      200: json(
        z.object({ backups: z.array(z.object({ name: z.string(), bytes: z.number(), createdAt: z.string(), sha256: z.string().optional() })) }),
        'archives',
      ),
      ...problems(401, 403),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/services',
    summary: 'Flight Control units (restore:read)',
    security,
    responses: { 200: json(z.object({ services: z.array(serviceSchema) }), 'units'), ...problems(401, 403, 503) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/devices/summary',
    summary: 'Devices by status (restore:read)',
    security,
    responses: { 200: json(summary, 'counts'), ...problems(401, 403, 503) },
  });
  registry.registerPath({
    method: 'get',
    path: '/v1/devices',
    summary: 'Devices matching selectors (restore:read)',
    security,
    request: { query: z.object({ labelSelector: z.string().optional(), fieldSelector: z.string().optional(), limit: z.string().optional() }) },
    responses: { 200: json(z.object({ devices: z.array(deviceSchema) }), 'devices'), ...problems(400, 401, 403, 503) },
  });
  registry.registerPath({
    method: 'post',
    path: '/v1/devices/resume',
    summary: 'Resume devices left ConflictPaused (devices:resume)',
    security,
    request: { body: { content: { 'application/json': { schema: resumeRequestSchema } } } },
    responses: { 200: json(z.object({ resumedDevices: z.number().int() }), 'how many were resumed'), ...problems(400, 401, 403, 413, 429, 502) },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (restore:read)',
    security,
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } }, ...problems(401, 403) },
  });
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    summary: 'Whether the agent is ready (no authentication)',
    responses: { 200: json(healthSchema, 'ready'), 503: json(healthSchema, 'starting or stopping') },
  });
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'flightctl-restore-agent', version: packageVersion(), description: 'Restores Flight Control from a backup, on this host.' },
  });
}
