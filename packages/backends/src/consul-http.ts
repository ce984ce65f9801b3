/**
 * The one door to Consul's HTTP API for the Consul store, the sessions and the leader lock.
 *
 * It wraps the `consul` client (v2, `papi` underneath) and adds what every caller needs the same way:
 * the ACL token header, TLS options, one keep-alive agent per connection (destroyed on close), an
 * absolute request timeout, `AbortSignal` support (through the client's `ctx` cancel event), the
 * `X-Consul-*` response headers, and one error mapping (consul-errors.ts): a refused/reset
 * connection, a timeout, a 5xx or a 429 becomes `BACKEND_UNAVAILABLE` with the cause; 403 becomes
 * `ACCESS_DENIED`; 413 becomes `DOCUMENT_TOO_LARGE`; a 404 on a read is "absent", never an error,
 * except that a 404 on a recursive read or key listing is confirmed first (`#confirmEmpty`): Consul
 * versions without the ACL-filtered header answer a read their ACLs deny with the same 404.
 * The connection options are resolved in consul-connection.ts, the wire format is consul-wire.ts.
 *
 * Sessions, status, key listing, put/acquire/release and delete go through the client's public
 * methods. Key reads, the watch's blocking query and `/v1/txn` go straight to `node:http` on the
 * same agent (see `#fast` for why). The client's `Watch` helper is not used; see consul-watch.ts.
 */
import { EventEmitter } from 'node:events';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isConfigError } from '@summit-config/core';
import { abortReason, errors, onAbort } from '@summit-config/core/internal';
import Consul from 'consul';
import type { ResolvedConnection } from './consul-connection.js';
import { aclDenied, mapStatus, transportError } from './consul-errors.js';
import {
  blockingQuery,
  type CallOptions,
  decodeValue,
  durationOf,
  encodeKey,
  type KvEntry,
  metaOf,
  parseJson,
  type QueryMeta,
  type ResponseHeaders,
  type SessionInfo,
  type TxnError,
  type TxnOp,
  type TxnOutcome,
} from './consul-wire.js';

// The subset of the client (and of papi's request options) this module uses; the package's own
// typings omit `ctx`, `timeout`, `index`, `wait` and `consistent`, which its JavaScript honours.
interface Ctx extends EventEmitter {
  includeResponse?: boolean;
}
interface ClientRequestOptions {
  ctx: Ctx;
  timeout: number;
  consistent?: boolean;
  dc?: string;
  [key: string]: unknown;
}
interface IncomingResponse {
  statusCode: number;
  headers: ResponseHeaders;
  body?: unknown;
}
interface ClientApi {
  kv: {
    get(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    keys(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    set(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    del(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
  };
  transaction: { create(ops: TxnOp[], o: ClientRequestOptions): Promise<[IncomingResponse, unknown]> };
  session: {
    create(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    renew(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    destroy(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
    info(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]>;
  };
  status: { leader(o: ClientRequestOptions): Promise<[IncomingResponse, unknown]> };
}
interface PapiLikeError extends Error {
  code?: string;
  isAbort?: boolean;
  isTimeout?: boolean;
  isResponse?: boolean;
  isValidation?: boolean;
  response?: IncomingResponse;
}

interface RawResponse {
  status: number;
  headers: ResponseHeaders;
  text: string;
}

/**
 * A connection to one Consul agent. Created lazily by its owner; `destroy()` closes its sockets.
 * Every method rejects with a mapped `ConfigError` (see the module comment).
 */
export class ConsulHttp {
  readonly conn: ResolvedConnection;
  readonly #backend: string;
  #client: ClientApi | undefined;
  #agent: HttpAgent | undefined;
  #destroyed = false;
  readonly #failureListeners: Array<() => void> = [];

  constructor(conn: ResolvedConnection, backend = 'consul') {
    this.conn = conn;
    this.#backend = backend;
  }

  get backend(): string {
    return this.#backend;
  }

  /** Called after every request that failed for lack of Consul (connection, timeout, 5xx, 429). */
  onFailure(listener: () => void): void {
    this.#failureListeners.push(listener);
  }

  #failed(): void {
    for (const listener of this.#failureListeners) {
      try {
        listener();
      } catch {
        // Listeners are internal bookkeeping; none may break a request's error path.
      }
    }
  }

  #api(): ClientApi {
    if (this.#destroyed) throw errors.closed(`${this.#backend} connection`);
    if (this.#client) return this.#client;
    const secure = this.conn.baseUrl.protocol === 'https:';
    const tls = this.conn.tls ?? {};
    // Our own keep-alive agent, so destroy() can close every socket (the blocking query included).
    this.#agent = secure
      ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo', ...tls })
      : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
    const ConsulClient = Consul as unknown as new (o: Record<string, unknown>) => ClientApi;
    this.#client = new ConsulClient({
      baseUrl: this.conn.baseUrl.href.replace(/\/$/, ''),
      agent: this.#agent,
      defaults: this.conn.token ? { token: this.conn.token } : undefined,
      ...tls,
    });
    return this.#client;
  }

  /** Runs one client call with timeout, signal, dc and error mapping. */
  async #call<T>(
    operation: string,
    options: CallOptions,
    run: (api: ClientApi, base: ClientRequestOptions) => Promise<[IncomingResponse, unknown]>,
    accept: (res: IncomingResponse, body: unknown) => T,
    onStatus?: (status: number, res: IncomingResponse) => { value: T } | undefined,
  ): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    const api = this.#api();
    const ctx: Ctx = new EventEmitter();
    ctx.includeResponse = true;
    const base: ClientRequestOptions = { ctx, timeout: options.timeoutMs ?? this.conn.timeoutMs };
    if (options.consistent) base.consistent = true;
    if (this.conn.datacenter) base.dc = this.conn.datacenter;
    const off = onAbort(signal, () => ctx.emit('cancel'));
    try {
      const [res, body] = await run(api, base);
      return accept(res, body);
    } catch (caught) {
      if (signal?.aborted) throw abortReason(signal);
      const error = caught as PapiLikeError;
      const res = error?.isResponse ? error.response : undefined;
      if (res) {
        const handled = onStatus?.(res.statusCode, res);
        if (handled) return handled.value;
        const mapped = mapStatus(this.#backend, operation, res);
        if (mapped.code === 'BACKEND_UNAVAILABLE') this.#failed();
        throw mapped;
      }
      this.#failed();
      if (isConfigError(error)) throw error;
      throw errors.unavailable(
        this.#backend,
        this.#transport(error instanceof Error ? error : new Error(String(error))),
      );
    } finally {
      off();
    }
  }

  /**
   * The hot paths (key reads, the watch's blocking query, `/v1/txn`) go straight to `node:http`
   * on the same keep-alive agent, token, TLS options and error mapping. Why: through the client
   * (papi) each request costs about twice the CPU (measured ~170 µs vs ~100 µs per GET on the
   * dev agent) and, on a loaded two-core machine, ~0.3-0.5 ms more latency per request; on the
   * propagation path (txn, then the watcher's wake-up) that alone put the p99 above 1.5x a bare
   * watch. Everything else (sessions, status, keys, put/acquire, delete) uses the client.
   */
  #fast(
    method: 'GET' | 'PUT',
    path: string,
    query: Record<string, string>,
    body: string | undefined,
    options: CallOptions,
    operation: string,
    okStatuses: readonly number[] = [],
  ): Promise<RawResponse> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    this.#api(); // creates the agent (and throws CLOSED after destroy)
    const agent = this.#agent as HttpAgent;
    const q = new URLSearchParams(query);
    if (options.consistent) q.set('consistent', '');
    if (this.conn.datacenter) q.set('dc', this.conn.datacenter);
    const qs = q.toString().replace(/=(&|$)/g, '$1');
    const headers: Record<string, string | number> = {};
    if (this.conn.token) headers['X-Consul-Token'] = this.conn.token;
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    if (payload) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const base = this.conn.baseUrl;
    const transport = base.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeoutMs = options.timeoutMs ?? this.conn.timeoutMs;
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const finish = (error: unknown, res?: RawResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        off();
        if (res) {
          if ((res.status >= 200 && res.status < 300) || res.status === 404 || okStatuses.includes(res.status)) {
            resolve(res);
            return;
          }
          const mapped = mapStatus(this.#backend, operation, { statusCode: res.status, body: res.text });
          if (mapped.code === 'BACKEND_UNAVAILABLE') this.#failed();
          reject(mapped);
          return;
        }
        if (signal?.aborted) {
          reject(abortReason(signal));
          return;
        }
        this.#failed();
        reject(isConfigError(error) ? error : errors.unavailable(this.#backend, this.#transport(error)));
      };
      const req = transport(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port || undefined,
          auth: base.username ? `${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}` : undefined,
          path: `${base.pathname}${path}${qs ? `?${qs}` : ''}`,
          method,
          headers,
          agent,
          ...(this.conn.tls ?? {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => finish(error));
          res.on('end', () =>
            finish(undefined, {
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`${this.#backend} ${operation}: request timed out (${timeoutMs}ms)`));
      }, timeoutMs);
      const off = onAbort(signal, () => req.destroy(new Error('aborted')));
      req.on('error', (error) => finish(error));
      req.end(payload);
    });
  }

  /** A failed connection's cause; a TLS failure becomes a `ConsulTlsError` that names it. */
  #transport(error: unknown): unknown {
    return transportError(error, this.conn.address, this.conn.baseUrl.protocol === 'https:');
  }

  /** Parses a response body; a body that is not JSON means something other than Consul answered. */
  #json(text: string, operation: string): unknown {
    try {
      return parseJson(text);
    } catch (error) {
      throw errors.unavailable(
        this.#backend,
        new Error(`${operation}: the response is not JSON: ${text.slice(0, 100)}`, { cause: error }),
      );
    }
  }

  /**
   * Tells an empty prefix from one the ACLs hide. Consul 1.8.7 answers a recursive read or key
   * listing its ACLs filtered down to nothing with 404 and no `X-Consul-Results-Filtered-By-ACLs`
   * header, exactly like an empty prefix; a plain GET of the prefix as a key answers 403 when the
   * token may not read it (whether or not anything lies below) and 404 (or 200) when it may. So a
   * 404 listing costs one more request, and a denied one rejects `ACCESS_DENIED` instead of "empty".
   */
  async #confirmEmpty(prefix: string, options: CallOptions, meta: QueryMeta): Promise<void> {
    if (meta.filtered) return; // the caller refuses the listing itself
    try {
      await this.#fast(
        'GET',
        `/kv/${encodeKey(prefix)}`,
        {},
        undefined,
        { signal: options.signal, consistent: options.consistent },
        'kv get (ACL check of an empty listing)',
      );
    } catch (error) {
      if (isConfigError(error, 'ACCESS_DENIED')) {
        throw aclDenied(this.#backend, prefix, this.conn.token !== undefined, error);
      }
      throw error;
    }
  }

  /** GET one key. `undefined` when absent (404). With `index`, a blocking query on the key. */
  async kvGet(
    key: string,
    options: CallOptions & { index?: number | undefined; waitMs?: number | undefined } = {},
  ): Promise<{ entry: KvEntry | undefined; meta: QueryMeta }> {
    const res = await this.#fast('GET', `/kv/${encodeKey(key)}`, blockingQuery(options), undefined, options, 'kv get');
    if (res.status === 404) return { entry: undefined, meta: metaOf(res) };
    const list = this.#json(res.text, 'kv get') as KvEntry[] | null;
    const entry = Array.isArray(list) ? list[0] : undefined;
    if (entry) entry.Value = decodeValue(entry.Value);
    return { entry, meta: metaOf(res) };
  }

  /**
   * Recursive GET of a prefix: every entry below it (an empty list on a 404 the ACLs do not explain). With `index`, a
   * blocking query that returns when the prefix changes or after `wait` milliseconds.
   */
  async kvList(
    prefix: string,
    options: CallOptions & { index?: number | undefined; waitMs?: number | undefined } = {},
  ): Promise<{ entries: KvEntry[]; meta: QueryMeta }> {
    const query = { recurse: '', ...blockingQuery(options) };
    const res = await this.#fast('GET', `/kv/${encodeKey(prefix)}`, query, undefined, options, 'kv list');
    if (res.status === 404) {
      const meta = metaOf(res);
      await this.#confirmEmpty(prefix, options, meta);
      return { entries: [], meta };
    }
    const list = this.#json(res.text, 'kv list');
    const entries = Array.isArray(list) ? (list as KvEntry[]) : [];
    for (const entry of entries) entry.Value = decodeValue(entry.Value);
    return { entries, meta: metaOf(res) };
  }

  /** Key names below `prefix`, up to the next `separator` when given (empty on a 404 the ACLs do not explain). */
  async kvKeys(
    prefix: string,
    options: CallOptions & { separator?: string } = {},
  ): Promise<{ keys: string[]; meta: QueryMeta }> {
    const out = await this.#call(
      'kv keys',
      options,
      (api, base) =>
        api.kv.keys({ ...base, key: prefix, ...(options.separator ? { separator: options.separator } : {}) }),
      (res, body) => ({ keys: Array.isArray(body) ? (body as string[]) : [], meta: metaOf(res), absent: false }),
      (status, res) => (status === 404 ? { value: { keys: [], meta: metaOf(res), absent: true } } : undefined),
    );
    if (out.absent) await this.#confirmEmpty(prefix, options, out.meta);
    return { keys: out.keys, meta: out.meta };
  }

  /** PUT a key; with `acquire`/`release`/`cas` the answer says whether it took effect. */
  async kvPut(
    key: string,
    value: string,
    options: CallOptions & { acquire?: string; release?: string; cas?: number } = {},
  ): Promise<boolean> {
    return this.#call(
      'kv put',
      options,
      (api, base) => {
        const o: ClientRequestOptions = { ...base, key, value };
        if (options.acquire) o.acquire = options.acquire;
        if (options.release) o.release = options.release;
        if (options.cas !== undefined) o.cas = options.cas;
        return api.kv.set(o);
      },
      (_res, body) => body === true || body === 'true',
    );
  }

  /** DELETE a key (or a tree with `recurse`). */
  async kvDelete(key: string, options: CallOptions & { recurse?: boolean; cas?: number } = {}): Promise<boolean> {
    return this.#call(
      'kv delete',
      options,
      (api, base) => {
        const o: ClientRequestOptions = { ...base, key };
        if (options.recurse) o.recurse = true;
        if (options.cas !== undefined) o.cas = options.cas;
        return api.kv.del(o);
      },
      (_res, body) => body === true || body === 'true' || body === undefined,
    );
  }

  /**
   * PUT /v1/txn. A 409 (rolled back) is an outcome, not an error: `{ ok: false, errors }` names each
   * failing operation by `OpIndex`. Result values are decoded from base64. `consistent` applies to
   * read-only transactions.
   */
  async txn(ops: TxnOp[], options: CallOptions = {}): Promise<TxnOutcome> {
    const res = await this.#fast('PUT', '/txn', {}, JSON.stringify(ops), options, 'txn', [409]);
    const body = (this.#json(res.text, 'txn') ?? {}) as { Results?: unknown; Errors?: unknown };
    if (Array.isArray(body.Errors) && body.Errors.length > 0) return { ok: false, errors: body.Errors as TxnError[] };
    if (res.status === 409) return { ok: false, errors: [{ OpIndex: -1, What: 'rolled back' }] };
    const results = (Array.isArray(body.Results) ? body.Results : []) as Array<{
      KV?: { Key: string; Value: unknown; ModifyIndex: number; LockIndex: number };
    }>;
    return {
      ok: true,
      results: results.map((r) => (r.KV ? { KV: { ...r.KV, Value: decodeValue(r.KV.Value) } } : {})),
    };
  }

  async sessionCreate(
    body: { name?: string; ttlMs?: number; lockDelayMs?: number; behavior?: 'release' | 'delete' },
    options: CallOptions = {},
  ): Promise<string> {
    return this.#call(
      'session create',
      options,
      (api, base) => {
        const o: ClientRequestOptions = { ...base };
        if (body.name) o.name = body.name;
        if (body.ttlMs !== undefined) o.ttl = durationOf(body.ttlMs);
        if (body.lockDelayMs !== undefined) o.lockdelay = durationOf(body.lockDelayMs);
        if (body.behavior) o.behavior = body.behavior;
        return api.session.create(o);
      },
      (_res, result) => {
        const id = (result as { ID?: unknown } | undefined)?.ID;
        if (typeof id !== 'string' || id.length === 0) {
          throw errors.unavailable(this.#backend, new Error('session create returned no ID'));
        }
        return id;
      },
    );
  }

  /** Renews a TTL session; `undefined` when the session no longer exists. */
  async sessionRenew(id: string, options: CallOptions = {}): Promise<SessionInfo | undefined> {
    return this.#call(
      'session renew',
      options,
      (api, base) => api.session.renew({ ...base, id }),
      (_res, body) => (Array.isArray(body) && body.length > 0 ? (body[0] as SessionInfo) : undefined),
      (status) => (status === 404 ? { value: undefined } : undefined),
    );
  }

  /** Session details; `undefined` when it no longer exists. */
  async sessionInfo(id: string, options: CallOptions = {}): Promise<SessionInfo | undefined> {
    return this.#call(
      'session info',
      options,
      (api, base) => api.session.info({ ...base, id }),
      (_res, body) => {
        const item = Array.isArray(body) ? body[0] : body;
        return item && typeof item === 'object' ? (item as SessionInfo) : undefined;
      },
      (status) => (status === 404 ? { value: undefined } : undefined),
    );
  }

  async sessionDestroy(id: string, options: CallOptions = {}): Promise<void> {
    await this.#call(
      'session destroy',
      options,
      (api, base) => api.session.destroy({ ...base, id }),
      () => undefined,
    );
  }

  /** The raft leader's address; rejects `BACKEND_UNAVAILABLE` when there is none. */
  async leader(options: CallOptions = {}): Promise<string> {
    return this.#call(
      'status leader',
      options,
      (api, base) => api.status.leader(base),
      (_res, body) => {
        if (typeof body !== 'string' || body.length === 0) {
          throw errors.unavailable(this.#backend, new Error('no cluster leader'));
        }
        return body;
      },
    );
  }

  /** Closes every socket (in-flight requests fail). Idempotent. */
  destroy(): void {
    this.#destroyed = true;
    this.#agent?.destroy();
    this.#agent = undefined;
    this.#client = undefined;
  }
}
