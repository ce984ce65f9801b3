/**
 * Consul's HTTP wire format as the Consul modules use it: KV entries, `/v1/txn` operations and
 * outcomes, the `X-Consul-*` response headers, sessions, and the encodings (base64 values, key
 * paths, durations, blocking-query parameters).
 */

/** One KV entry as Consul returns it, with `Value` decoded to UTF-8 (null when empty). */
export interface KvEntry {
  Key: string;
  Value: string | null;
  Flags: number;
  CreateIndex: number;
  ModifyIndex: number;
  LockIndex: number;
  Session?: string;
}

/** A `/v1/txn` operation in Consul's wire format (`Value` base64). */
export interface TxnOp {
  KV: {
    Verb:
      | 'set'
      | 'cas'
      | 'lock'
      | 'unlock'
      | 'get'
      | 'get-tree'
      | 'check-index'
      | 'check-session'
      | 'check-not-exists'
      | 'delete'
      | 'delete-tree'
      | 'delete-cas';
    Key: string;
    Value?: string;
    Index?: number;
    Session?: string;
    Flags?: number;
  };
}

export interface TxnError {
  OpIndex: number;
  What: string;
}

export type TxnOutcome =
  | { ok: true; results: Array<{ KV?: { Key: string; Value: string | null; ModifyIndex: number; LockIndex: number } }> }
  | { ok: false; errors: TxnError[] };

/** Meta from Consul's response headers. */
export interface QueryMeta {
  /** `X-Consul-Index`, or 0 when absent. */
  index: number;
  /** `X-Consul-Results-Filtered-By-ACLs: true`: a recursive read left keys out. */
  filtered: boolean;
  /** Length of the response body (what a watcher was sent). */
  bytes: number;
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Overrides the connection's timeout for this call (blocking queries). */
  timeoutMs?: number | undefined;
  consistent?: boolean | undefined;
}

export interface SessionInfo {
  ID: string;
  Name: string;
  TTL: string;
  Behavior: 'release' | 'delete';
  LockDelay: number;
}

/** Response headers as Node reports them. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** A key in a URL path: each segment percent-encoded, `/` kept. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export function parseJson(text: string): unknown {
  if (text.length === 0) return null;
  return JSON.parse(text);
}

/** `index` (never 0: clamped to 1, since 0 would be a non-blocking read and spin) and `wait`. */
export function blockingQuery(options: {
  index?: number | undefined;
  waitMs?: number | undefined;
}): Record<string, string> {
  if (options.index === undefined) return {};
  return { index: String(Math.max(1, options.index)), wait: durationOf(options.waitMs ?? 60_000) };
}

function header(res: { headers: ResponseHeaders } | undefined, name: string): string | undefined {
  const v = res?.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function metaOf(res: { headers: ResponseHeaders; text?: string } | undefined): QueryMeta {
  const index = Number(header(res, 'x-consul-index') ?? 0);
  return {
    index: Number.isFinite(index) && index > 0 ? index : 0,
    filtered: header(res, 'x-consul-results-filtered-by-acls') === 'true',
    bytes: typeof res?.text === 'string' ? res.text.length : 0,
  };
}

/** A base64 value from Consul, decoded to UTF-8 (null when empty). */
export function decodeValue(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Consul's duration syntax for a millisecond count (`15000ms` style is accepted everywhere). */
export function durationOf(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Base64 of a UTF-8 string, as `/v1/txn` wants values. */
export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
