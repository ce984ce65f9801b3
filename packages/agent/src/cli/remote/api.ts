/**
 * The CLI's HTTP client of the config server: one request with the bearer token, JSON in and out,
 * and problem+json turned back into the `ConfigError` the server's service threw (same code, message
 * and fields), so a remote command prints and exits as the local one does.
 *
 * - `429`: waits `Retry-After` (at most 10 s) and tries again, up to 3 times.
 * - A connection that fails, or a 5xx: `BACKEND_UNAVAILABLE` naming the server (exit code 5).
 */
import { ConfigError, ERROR_CODES, type ErrorCode } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';

export interface ApiRequest {
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** A body sent as it is (with `contentType`), instead of `body` as JSON. */
  bodyText?: string;
  contentType?: string;
  /** What to accept. Default `application/json`. */
  accept?: string;
  /** Status codes answered with `undefined` instead of an error (e.g. 404 for a lookup). */
  absentOn?: readonly number[];
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ApiClient {
  readonly url: string;
  request<T = unknown>(method: string, path: string, options?: ApiRequest): Promise<T>;
  /** The raw response (streams: SSE, NDJSON); errors are thrown as by `request`. */
  raw(method: string, path: string, options?: ApiRequest): Promise<Response>;
}

/** A failure the server reported, as the `ConfigError` it stands for; `toJSON()` gives the server's fields. */
export class RemoteError extends ConfigError {
  readonly #fields: Record<string, unknown>;
  readonly status: number;
  constructor(code: ErrorCode, message: string, status: number, fields: Record<string, unknown>) {
    super(code, message, {
      ...(typeof fields.ref === 'string' ? { ref: fields.ref } : {}),
      ...(typeof fields.version === 'number' ? { version: fields.version } : {}),
    });
    this.status = status;
    this.#fields = fields;
    // Fields the CLI reads off the error objects (schema issues, guarded environments).
    Object.assign(this, fields);
  }
  override toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.#fields };
  }
}

const PROBLEM_OWN = new Set(['type', 'title', 'status', 'detail', 'code', 'requestId']);
const KNOWN_CODES = new Set<string>(ERROR_CODES);

/** The error a problem+json body stands for. */
export function errorOfProblem(status: number, body: unknown, server: string): ConfigError {
  const p = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof p.code === 'string' ? p.code : '';
  const detail = typeof p.detail === 'string' ? p.detail : `HTTP ${status}`;
  // 501: the server was started without what the route needs (its message says which): the caller's to fix.
  if ((status >= 500 && status !== 501) || !KNOWN_CODES.has(code)) {
    if (code === 'PRECONDITION_FAILED' || status === 412) return errors.versionConflict(detail);
    const requestId = typeof p.requestId === 'string' ? ` (request ${p.requestId})` : '';
    return errors.unavailable(
      `the config server ${server}`,
      new Error(`${status} ${code || 'error'}: ${detail}${requestId}`),
    );
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) if (!PROBLEM_OWN.has(key)) fields[key] = value;
  return new RemoteError(code as ErrorCode, detail, status, fields);
}

function queryString(query: ApiRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

const RETRIES = 3;
const MAX_RETRY_WAIT_MS = 10_000;

export function createApiClient(options: { url: string; token: string; userAgent?: string }): ApiClient {
  const base = options.url.replace(/\/+$/, '');
  const userAgent = options.userAgent ?? 'summit-config-cli';

  async function send(method: string, path: string, o: ApiRequest): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token}`,
      'user-agent': userAgent,
      accept: o.accept ?? 'application/json',
      ...o.headers,
    };
    let payload: string | undefined;
    if (o.bodyText !== undefined) {
      payload = o.bodyText;
      headers['content-type'] = o.contentType ?? 'application/json';
    } else if (o.body !== undefined) {
      payload = JSON.stringify(o.body);
      headers['content-type'] = 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${base}${path}${queryString(o.query)}`, {
          method,
          headers,
          ...(payload !== undefined ? { body: payload } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (error) {
        if (o.signal?.aborted) throw o.signal.reason ?? error;
        const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
        throw errors.unavailable(`the config server ${base}`, new Error(cause));
      }
      if (response.status === 429 && attempt < RETRIES) {
        const seconds = Number(response.headers.get('retry-after') ?? '1');
        await response.body?.cancel();
        await new Promise((r) => setTimeout(r, Math.min(MAX_RETRY_WAIT_MS, Math.max(0, seconds) * 1000)));
        continue;
      }
      if (response.status >= 400 && !(o.absentOn ?? []).includes(response.status)) {
        let body: unknown;
        try {
          body = await response.json();
        } catch {
          body = undefined;
        }
        throw errorOfProblem(response.status, body, base);
      }
      return response;
    }
  }

  return {
    url: base,
    async request<T>(method: string, path: string, o: ApiRequest = {}): Promise<T> {
      const response = await send(method, path, o);
      if ((o.absentOn ?? []).includes(response.status)) {
        await response.body?.cancel();
        return undefined as T;
      }
      const text = await response.text();
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw errors.unavailable(
          `the config server ${base}`,
          new Error(`answered ${response.status} with a body that is not JSON`),
          {
            cause: error,
          },
        );
      }
    },
    raw: (method, path, o = {}) => send(method, path, o),
  };
}

/** A ref as a URL path: `app:billing/db/main` -> `app:billing/db/main` with each segment encoded. */
export function refPath(ref: string | { scope: string; id: string }): string {
  const text = typeof ref === 'string' ? ref : `${ref.scope}/${ref.id}`;
  return text.split('/').map(encodeURIComponent).join('/');
}
