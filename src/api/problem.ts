import type { Response } from 'express';
import { STATUS_CODES } from 'node:http';
import type { ZodError } from 'zod';
import { ERROR_CATALOGUE, RestoreError, type ErrorCode } from '../lib/errors.js';
import { redactText } from '../lib/secrets.js';

/**
 * Every error answer: application/problem+json (RFC 9457) with the catalogue's stable code and
 * hint. An internal error never shows its message (it is in the server log): no stack trace, no
 * internal detail reaches a caller.
 */
/** The problem+json document (RFC 9457) of an error; also written by listeners outside express. */
export function problemDocument(err: RestoreError, status: number, instance: string | undefined): Record<string, unknown> {
  const internal = err.code === 'RESTORE_ERR_INTERNAL';
  return {
    type: `urn:flightctl-restore-agent:error:${err.code}`,
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code: err.code,
    detail: internal ? 'internal error; the agent log has the details' : redactText(err.message),
    hint: err.hint,
    retryable: err.retryable,
    ...(instance !== undefined ? { instance } : {}),
  };
}

export function sendProblem(res: Response, err: RestoreError, status = err.httpStatus): void {
  res
    .status(status)
    .type('application/problem+json')
    .json(problemDocument(err, status, res.req.originalUrl.split('?')[0]));
}

export function problem(code: ErrorCode, message: string): RestoreError {
  return new RestoreError(code, message);
}

/** A zod failure as one readable sentence naming each field. */
export function invalidRequest(err: ZodError, what: string): RestoreError {
  const parts = err.issues.map((i) => {
    const field = i.path.join('.') || what;
    if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`;
    return `${field}: ${i.message}`;
  });
  return new RestoreError('RESTORE_ERR_REQUEST_INVALID', `invalid ${what}: ${parts.join('; ')}`);
}

export function isErrorCode(code: string): code is ErrorCode {
  return code in ERROR_CATALOGUE;
}
