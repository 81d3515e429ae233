/**
 * One error shape for every HTTP failure: `{ error: { code, message } }`, with the status chosen
 * from the error's stable code. Engine errors keep their own code (clients switch on it);
 * framework errors (bad JSON, oversize body, schema violations) get codes of their own here.
 */
import type { FastifyError } from 'fastify';
import { FlowError } from '../../errors.js';

export interface ErrorBody {
  error: { code: string; message: string };
}

/** The HTTP status of each engine error code; anything unlisted is a 500. */
const STATUS_OF_FLOW_CODE: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  MALFORMED_JSON: 400,
  INVALID_NUMBER: 400,
  RUN_NOT_FOUND: 404,
  FLOW_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  INVALID_RUN_STATE: 409,
  AMBIGUOUS_RESUME: 409,
  LOCK_BUSY: 409,
  STALE_RUN: 409,
  IDEMPOTENCY_KEY_CONFLICT: 409,
  DEFINITION_CONFLICT: 409,
  SCHEDULE_CONTENDED: 409,
  SERIALIZATION_ERROR: 422,
  FLOW_CONTROL_KEY: 422,
  INVALID_DEFINITION: 422,
  ENGINE_CLOSED: 503,
};

/** Fastify's own error codes that describe a bad request, with the code clients see instead. */
const FRAMEWORK_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'MALFORMED_JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'BAD_REQUEST' },
  // Raised by the router before any route or hook runs (see `frameworkErrors` in server.ts).
  FST_ERR_BAD_URL: { status: 400, code: 'BAD_URL' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'URI_TOO_LONG' },
};

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Headers the answer carries (e.g. Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/** Decides status and body for anything a route threw. `internal` = log it, it is our bug or an outage. */
export function toHttpError(err: unknown): { status: number; body: ErrorBody; internal: boolean; headers?: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.statusCode, body: errorBody(err.code, err.message), internal: false, headers: err.headers };
  if (err instanceof FlowError) {
    const status = STATUS_OF_FLOW_CODE[err.code] ?? 500;
    // A storage outage's message can name hosts or SQL: say what failed, not how.
    const message = status === 500 ? `Internal error (${err.code})` : err.message;
    return { status, body: errorBody(err.code, message), internal: status >= 500 };
  }
  const fe = err as Partial<FastifyError> & { validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    return { status: 400, body: errorBody('INVALID_REQUEST', fe.message ?? 'Invalid request'), internal: false };
  }
  const known = fe?.code ? FRAMEWORK_CODES[fe.code] : undefined;
  if (known) return { status: known.status, body: errorBody(known.code, fe.message ?? known.code), internal: false };
  // The JSON parser reports a syntax error as a plain SyntaxError with statusCode 400.
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const code = fe.statusCode === 400 && err instanceof SyntaxError ? 'MALFORMED_JSON' : 'BAD_REQUEST';
    return { status: fe.statusCode, body: errorBody(code, fe.message ?? 'Bad request'), internal: false };
  }
  return { status: 500, body: errorBody('INTERNAL_ERROR', 'Internal error'), internal: true };
}
