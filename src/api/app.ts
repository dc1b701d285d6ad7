import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Logger } from 'winston';
import { asRestoreError, RestoreError } from '../lib/errors.js';
import type { AppDeps } from './app-deps.js';
import { AuthError, type Principal, type Scope } from './auth.js';
import { sendProblem } from './problem.js';
import { registerDeviceRoutes } from './routes-devices.js';
import { registerRestoreRoutes } from './routes-restores.js';
import { openApiDocument } from './schemas.js';
import { wallClockMs } from '../lib/clock.js';

export type { AppDeps, Readiness } from './app-deps.js';

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    /** Set by a handler for the audit record. */
    runId?: string;
    /** The request came with a body of zero bytes (Content-Length: 0): not the same as `{}`. */
    bodyEmpty?: boolean;
  }
}

/** What an audit line keeps of a path: enough to tell the call, not the ~16 KB a client may send. */
const AUDIT_PATH_CHARS = 200;

function auditPath(req: Request): string {
  const p = req.originalUrl.split('?')[0] ?? '';
  return p.length > AUDIT_PATH_CHARS ? `${p.slice(0, AUDIT_PATH_CHARS)}...(${p.length} chars)` : p;
}

/** The audit record of a call: who, what, the decision and the outcome. Never a body, never a token. */
function audit(logger: Logger, req: Request, decision: 'allow' | 'deny', status: number, reason?: string): void {
  logger.info('audit', {
    audit: true,
    time: new Date().toISOString(),
    sub: req.principal?.sub,
    iss: req.principal?.iss,
    jti: req.principal?.jti,
    remote: req.socket.remoteAddress || 'unix',
    method: req.method,
    path: auditPath(req),
    runId: req.runId,
    decision,
    outcome: status,
    ...(reason ? { reason } : {}),
  });
}

const REALM = 'Bearer realm="flightctl-restore-agent"';

export function createApp(deps: AppDeps): express.Express {
  const { logger, metrics, config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple'); // no nested objects from ?a[b]=c

  app.use((req, res, next) => {
    // Answers hold run state and device names: never cached, never sniffed into another type.
    res.set({ 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      metrics.requests.inc({ route, method: req.method, status: String(res.statusCode) });
      // Every call that changes something and every refused call is audited once, here.
      const mutating = req.method !== 'GET' && req.method !== 'HEAD';
      if (mutating || res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 429) {
        audit(logger, req, res.statusCode < 400 ? 'allow' : 'deny', res.statusCode, res.locals.denyReason as string | undefined);
      }
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    const status = deps.readiness();
    const reason = status === 'recovering' ? deps.readinessReason?.() : undefined;
    res.status(status === 'ready' ? 200 : 503).json({ status, ...(reason ? { reason } : {}) });
  });
  const openapi = openApiDocument();
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  // Refused calls (bad or missing token, missing scope) per remote address: guessing tokens and
  // filling the audit log cost the caller its access for the rest of the minute. /healthz above stays.
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: config.api.refusedPerMinute,
      // No RateLimit headers on every answer of every client: only the refusal says when to retry.
      standardHeaders: false,
      legacyHeaders: false,
      keyGenerator: (req) => `peer:${req.socket.remoteAddress ?? 'unix'}`,
      skipSuccessfulRequests: true,
      requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.statusCode !== 403,
      handler: (req, res) => {
        const reset = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime?.getTime();
        res.set('Retry-After', String(reset ? Math.max(1, Math.ceil((reset - wallClockMs()) / 1000)) : 60));
        res.locals.denyReason = 'too many refused calls from this address';
        sendProblem(
          res,
          new RestoreError('RESTORE_ERR_REFUSED_TOO_OFTEN', `more than ${config.api.refusedPerMinute} calls from this address were refused in a minute`),
        );
      },
      validate: { keyGeneratorIpFallback: false },
    }),
  );

  const guard =
    (scope: Scope, mutating = false) =>
    async (req: Request, res: Response, next: NextFunction) => {
      const readiness = deps.readiness();
      if (readiness === 'recovering' && mutating) {
        // Reads answer (what is the state of the runs?); nothing new starts before the old run is finished.
        const why = deps.readinessReason?.();
        res.set('Retry-After', '10');
        return sendProblem(
          res,
          new RestoreError('RESTORE_ERR_RECOVERING', `the agent is finishing an interrupted run first${why ? `; it waits for: ${why}` : ''}`),
        );
      }
      if (readiness !== 'ready' && readiness !== 'recovering') return sendProblem(res, new RestoreError('RESTORE_ERR_NOT_READY', `the agent is ${readiness}`));
      if (!deps.auth) return next();
      try {
        req.principal = await deps.auth.authenticate(req.get('authorization'), scope, { mutating });
        next();
      } catch (err) {
        if (!(err instanceof AuthError)) return next(err);
        // Every reason looks the same from outside; the reason goes to the server log only.
        res.locals.denyReason = err.reason;
        if (err.principal) req.principal = err.principal;
        if (err.status === 401) {
          res.set('WWW-Authenticate', req.get('authorization') ? `${REALM}, error="invalid_token"` : REALM);
          return sendProblem(res, new RestoreError('RESTORE_ERR_UNAUTHENTICATED', 'missing or invalid bearer token'));
        }
        res.set('WWW-Authenticate', `${REALM}, error="insufficient_scope", scope="${scope}"`);
        sendProblem(res, new RestoreError('RESTORE_ERR_FORBIDDEN', `this call needs the scope ${scope}`));
      }
    };
  const limiter = rateLimit({
    windowMs: 60_000,
    limit: config.api.mutationsPerMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Per client: the token's subject (after authentication), else its address.
    keyGenerator: (req) => (req.principal ? `${req.principal.iss}\u0000${req.principal.sub}` : `addr:${req.socket.remoteAddress ?? 'unix'}`),
    handler: (_req, res) => {
      res.locals.denyReason = 'rate limit';
      sendProblem(res, new RestoreError('RESTORE_ERR_RATE_LIMITED', `more than ${config.api.mutationsPerMinute} calls that change something in a minute`));
    },
    validate: { keyGeneratorIpFallback: false },
  });
  const json = express.json({
    limit: config.api.bodyLimitBytes,
    strict: true,
    type: () => true,
    verify: (req, _res, buf) => void ((req as Request).bodyEmpty = buf.length === 0),
  });
  const requireJson = (req: Request, _res: Response, next: NextFunction) => {
    if (!req.is('application/json')) return next(new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'send the body as JSON with Content-Type: application/json'));
    next();
  };
  const mutation = (scope: Scope) => [guard(scope, true), limiter, requireJson, json];

  registerRestoreRoutes(app, deps, { read: guard('restore:read'), run: mutation('restore:run') });
  registerDeviceRoutes(app, deps, { read: guard('restore:read'), resume: mutation('devices:resume') });
  app.get('/metrics', guard('restore:read'), async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.text());
  });

  app.use((req, res) => sendProblem(res, new RestoreError('RESTORE_ERR_NOT_FOUND', `no endpoint ${req.method} ${req.path}`)));
  // Errors: bad input is a 4xx with its code, anything else a 5xx without its message.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large')
      return sendProblem(res, new RestoreError('RESTORE_ERR_BODY_TOO_LARGE', `the body is larger than ${config.api.bodyLimitBytes} bytes`));
    if (type === 'entity.parse.failed') return sendProblem(res, new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'the body is not valid JSON'));
    if (type && /encoding|charset|request\.aborted|stream/.test(type))
      return sendProblem(res, new RestoreError('RESTORE_ERR_REQUEST_INVALID', `the body cannot be read (${type})`));
    // A body that does not inflate (zlib, brotli): body-parser marks it 400 without a type.
    if (!type && (err as { status?: unknown }).status === 400 && req.get('content-encoding'))
      return sendProblem(res, new RestoreError('RESTORE_ERR_REQUEST_INVALID', 'the body cannot be decompressed as its Content-Encoding says'));
    const e = asRestoreError(err);
    if (e.code === 'RESTORE_ERR_INTERNAL') logger.error('API request failed', { method: req.method, path: req.path, error: (err as Error)?.message });
    if (res.headersSent) return res.end();
    sendProblem(res, e);
  });
  return app;
}
