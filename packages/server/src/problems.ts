/**
 * Errors as RFC 9457 `application/problem+json`: `{ type, title, status, detail, code }`, `code` being
 * the `ConfigError` code. One table decides the HTTP status of each code (docs/server.md repeats
 * it); a failure that is not a `ConfigError` is a `500` whose detail says nothing of its cause.
 */
import { type ErrorCode, isConfigError } from '@summit-config/core';

/**
 * A `ConfigError` code, or one of the server's own: `INTERNAL` for a failure that is not a
 * `ConfigError` (always `500`), `RATE_LIMITED` for a principal over its rate limit (always `429`),
 * `REPLAYED` for a webhook delivery received before (always `409`, routes/gitops-webhook.ts).
 */
export type ProblemCode = ErrorCode | 'INTERNAL' | 'RATE_LIMITED' | 'REPLAYED';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  /** `SCHEMA_VALIDATION`: where the document fails. */
  issues?: ReadonlyArray<{ pointer: string; message: string; keyword?: string }>;
  /** `APPROVAL_REQUIRED`: the guarded environments the change touches. */
  environments?: readonly string[];
  /** The ref concerned, `<scope>/<id>`, when the error names one. */
  ref?: string;
  /** The id of the request (also in the `request-id` header). */
  requestId?: string;
}

/** The status of each code. `VERSION_CONFLICT` is `409` here and `412` for a request with `If-Match`. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_CONFIG_REF: 400,
  CONSTRAINT_VIOLATION: 400,
  MISSING_REQUIRED: 400,
  SCHEMA_VALIDATION: 422,
  CIRCULAR_DEPENDENCY: 422,
  NOT_FOUND: 404,
  ENVIRONMENT_NOT_FOUND: 404,
  DOCUMENT_TOO_LARGE: 413,
  VERSION_CONFLICT: 409,
  CONFLICTING_CHANGE: 409,
  APPROVAL_REQUIRED: 409,
  INSUFFICIENT_APPROVERS: 409,
  ACCESS_DENIED: 403,
  BACKEND_UNAVAILABLE: 503,
  CLOSED: 503,
  TIMEOUT: 504,
  SECRET_PROVIDER: 502,
  CHECKSUM_MISMATCH: 500,
  SIGNATURE_INVALID: 500,
};

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const PROBLEM_TYPE_BASE = 'urn:summit-config:problem:';

export function problem(status: number, code: ProblemCode, detail: string): Problem {
  return {
    type: `${PROBLEM_TYPE_BASE}${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
  };
}

/** Fastify's own errors (a body that does not parse or is too large, a failed schema). */
interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  validation?: unknown;
  message?: unknown;
}

/**
 * The problem for any thrown value. `ifMatch`: the request carried `If-Match`, so a lost
 * compare-and-set is `412`. Server-side failures (5xx) never show their message: it may name hosts,
 * files or drivers.
 */
export function problemOf(error: unknown, ifMatch: boolean): Problem {
  if (isConfigError(error)) {
    let status = STATUS_BY_CODE[error.code] ?? 500;
    if (error.code === 'VERSION_CONFLICT' && ifMatch) status = 412;
    const detail = status >= 500 ? serverDetail(error.code) : error.message;
    const p = problem(status, error.code, detail);
    if (error.ref !== undefined && status < 500) p.ref = error.ref;
    const extra = error as { issues?: unknown; environments?: unknown };
    if (error.code === 'SCHEMA_VALIDATION' && Array.isArray(extra.issues)) p.issues = extra.issues as Problem['issues'];
    if (error.code === 'APPROVAL_REQUIRED' && Array.isArray(extra.environments)) {
      p.environments = extra.environments as string[];
    }
    // A client error's own fields (e.g. the permission an ACCESS_DENIED names) go with it, so a remote
    // caller sees what a local one would; a server error's never do (they may name hosts or files).
    if (status < 500) {
      for (const [key, value] of Object.entries(error.toJSON())) {
        if (!(key in p) && key !== 'message') (p as unknown as Record<string, unknown>)[key] = value;
      }
    }
    return p;
  }
  const f = (typeof error === 'object' && error !== null ? error : {}) as FrameworkError;
  const status = typeof f.statusCode === 'number' ? f.statusCode : 500;
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || status === 413) {
    return problem(413, 'DOCUMENT_TOO_LARGE', 'the request body is over the server body limit');
  }
  if (status >= 400 && status < 500 && typeof f.code === 'string' && f.code.startsWith('FST_')) {
    const detail = typeof f.message === 'string' ? f.message : 'the request is malformed';
    return problem(status, status === 404 ? 'NOT_FOUND' : 'CONSTRAINT_VIOLATION', detail);
  }
  if (f.validation !== undefined && status === 400) {
    return problem(400, 'CONSTRAINT_VIOLATION', typeof f.message === 'string' ? f.message : 'invalid request');
  }
  return problem(500, 'INTERNAL', 'the server failed to answer this request');
}

function serverDetail(code: ErrorCode): string {
  switch (code) {
    case 'BACKEND_UNAVAILABLE':
      return 'a storage backend is unavailable; retry later';
    case 'CLOSED':
      return 'the server is shutting down';
    case 'TIMEOUT':
      return 'the operation timed out';
    case 'SECRET_PROVIDER':
      return 'a secret provider failed';
    default:
      return `the server failed to answer this request (${code})`;
  }
}
