/**
 * The agent's HTTP API on `node:http` (no framework), bound to 127.0.0.1 by default.
 *
 *   GET /v1/config/<scope>/<id>?app=&environment=      resolved JSON, ETag, 304 on If-None-Match
 *       &index=<etag|version>&wait=30s                 long-poll: held until the value changes or the wait ends
 *       &explain=1                                     which layer set every leaf
 *       &ctx.<attribute>=<value>                       evaluation context for rollouts
 *   GET /v1/status                                      leadership, stores, clients, jobs
 *   GET /healthz                                        the process is up (no token needed)
 *   GET /readyz                                         the stores answer and the clients are loaded (no token needed)
 *   GET /metrics                                        Prometheus text format
 *
 * With a token configured, `/v1/*` and `/metrics` need `Authorization: Bearer <token>` (401
 * otherwise). Error bodies are `{"error":{"code":"<ConfigError code>","message":...}}`.
 *
 * Before any route, on TCP, the `Host` header must name the agent (loopback names, the bind host,
 * `http.allowedHosts`): 421 otherwise, so a page that rebinds its DNS name to 127.0.0.1 reads nothing.
 * A non-loopback bind needs a token. With `http.socket` the agent listens on that Unix socket instead
 * (mode 0600), where the file's permissions guard it and no `Host` is checked.
 *
 * An app with `secrets: resolve` (`http-secrets.ts`) is served only with a token or over the socket
 * (403 otherwise), every answer about it is `Cache-Control: no-store`, its ETag is a keyed digest,
 * and its explain shows the stored references in place of the resolved value.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ConfigError,
  type EvaluationContext,
  isConfigError,
  type ResolveDetails,
  type Scope,
} from '@summit-config/core';
import { errors, parseEnvironmentName, parseId, parseScope } from '@summit-config/core/internal';
import type { AppConfig, HttpConfig } from './config.js';
import { HostGuard, listenGuarded, removeSocket } from './http-guard.js';
import { layeredValue, SECRET_TAG_KEY } from './http-secrets.js';
import { etagOf, normaliseTag, parseWait, tagMatches } from './http-tags.js';
import type { AgentMetrics } from './metrics.js';
import type { ServedClient } from './served.js';
import { type AgentLogger, toConfigError } from './util.js';

export interface HttpServerDeps {
  config: HttpConfig;
  apps: readonly AppConfig[];
  /** The served client of (app, environment), if that pair is served. */
  served: (app: string, environment: string) => ServedClient | undefined;
  metrics: AgentMetrics;
  /** Readiness: ready, plus a JSON body (the failover status and client states). */
  readiness: () => Promise<{ ready: boolean; body: unknown }>;
  status: () => unknown;
  logger?: AgentLogger;
}

const STATUS_OF: Partial<Record<ConfigError['code'], number>> = {
  INVALID_CONFIG_REF: 400,
  CONSTRAINT_VIOLATION: 400,
  SCHEMA_VALIDATION: 400,
  NOT_FOUND: 404,
  ENVIRONMENT_NOT_FOUND: 404,
  ACCESS_DENIED: 401,
  BACKEND_UNAVAILABLE: 503,
  CLOSED: 503,
  TIMEOUT: 504,
  CHECKSUM_MISMATCH: 502,
};

interface Poll {
  finish(): void;
}

interface ConfigRequest {
  scope: Scope;
  id: string;
  served: ServedClient;
  context: EvaluationContext | undefined;
  /** The app resolves secrets: its values are private (see `http-secrets.ts`). */
  secret: boolean;
}

interface Lookup {
  details: ResolveDetails;
  etag: string;
  /** The version of the document of the requested scope. */
  version: number | undefined;
  error?: ConfigError;
}

export { etagOf, parseWait };

export class AgentHttpServer {
  readonly #deps: HttpServerDeps;
  readonly #server: Server;
  readonly #polls = new Set<Poll>();
  readonly #tokenDigest: Buffer | undefined;
  /** The `Host` check on TCP; none on a Unix socket. */
  readonly #hostGuard: HostGuard | undefined;
  #closing: Promise<void> | undefined;
  /** The socket file this server created (removed at close). */
  #socketFile: string | undefined;

  constructor(deps: HttpServerDeps) {
    this.#deps = deps;
    this.#tokenDigest = deps.config.token === undefined ? undefined : digest(deps.config.token);
    this.#hostGuard = deps.config.socket ? undefined : new HostGuard(deps.config.host, deps.config.allowedHosts);
    // Host is checked here (with a JSON error), and a request without one is fine on the socket.
    this.#server = createServer({ keepAliveTimeout: 5000, requireHostHeader: false }, (req, res) => {
      void this.#handle(req, res).catch((error: unknown) => {
        this.#deps.logger?.error?.({ err: toConfigError(error).toJSON(), url: req.url }, 'request failed');
        if (!res.headersSent) this.#error(res, toConfigError(error), 'error');
        else res.destroy();
      });
    });
  }

  /**
   * Starts listening; resolves with the bound address (port 0 picks a free port). On a Unix socket
   * the address is the socket's path, with family `unix` and port 0. A non-loopback bind without a
   * token is refused (`CONSTRAINT_VIOLATION`) before anything listens.
   */
  async listen(): Promise<AddressInfo> {
    await listenGuarded(this.#server, this.#deps.config);
    this.#socketFile = this.#deps.config.socket?.path;
    return this.address as AddressInfo;
  }

  get address(): AddressInfo | undefined {
    const a = this.#server.address();
    if (typeof a === 'string') return { address: a, family: 'unix', port: 0 };
    return a ?? undefined;
  }

  /** Long-poll requests being held. */
  get pendingPolls(): number {
    return this.#polls.size;
  }

  /**
   * Stops accepting connections, answers every held long-poll now (with the current value), closes
   * idle keep-alive connections, and destroys whatever is still open after `graceMs`.
   */
  close(graceMs = 300): Promise<void> {
    const socketFile = this.#socketFile;
    this.#closing ??= new Promise<void>((resolve) => {
      const done = () => {
        if (socketFile) void removeSocket(socketFile).then(() => resolve());
        else resolve();
      };
      if (!this.#server.listening) {
        done();
        return;
      }
      const timer = setTimeout(() => this.#server.closeAllConnections(), graceMs);
      timer.unref();
      this.#server.close(() => {
        clearTimeout(timer);
        done();
      });
      for (const poll of [...this.#polls]) poll.finish();
      this.#server.closeIdleConnections();
      // The answers to the polls just finished are flushed on the next turn; then their
      // keep-alive connections are idle too.
      setImmediate(() => this.#server.closeIdleConnections());
    });
    return this.#closing;
  }

  // ------------------------------------------------------------------ routing

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent.local');
    const path = url.pathname;
    const route = path.startsWith('/v1/config/')
      ? 'config'
      : ['/healthz', '/readyz', '/metrics', '/v1/status'].includes(path)
        ? path.slice(1)
        : 'other';
    res.on('finish', () => this.#deps.metrics.httpRequests.inc({ route, status: String(res.statusCode) }));
    if (this.#hostGuard) {
      const refusal = this.#hostGuard.refusal(req.rawHeaders, this.address?.port ?? this.#deps.config.port);
      if (refusal) {
        this.#error(res, new ConfigError('ACCESS_DENIED', refusal), route, 421);
        return;
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.#error(res, errors.constraint(`method ${req.method} is not allowed`), route, 405);
      return;
    }
    if (path === '/healthz') {
      this.#json(res, 200, { status: 'ok' });
      return;
    }
    if (path === '/readyz') {
      const { ready, body } = await this.#deps.readiness();
      this.#json(res, ready ? 200 : 503, body);
      return;
    }
    if (!this.#authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="summit-agent"');
      this.#error(res, new ConfigError('ACCESS_DENIED', 'a bearer token is required'), route, 401);
      return;
    }
    if (path === '/metrics') {
      const text = await this.#deps.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.#deps.metrics.registry.contentType, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    if (path === '/v1/status') {
      this.#json(res, 200, this.#deps.status());
      return;
    }
    if (route === 'config') {
      await this.#config(req, res, url);
      return;
    }
    this.#error(res, errors.notFound(`no route ${path}`), route);
  }

  #authorized(req: IncomingMessage): boolean {
    if (!this.#tokenDigest) return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    return timingSafeEqual(digest(m[1] as string), this.#tokenDigest);
  }

  // ------------------------------------------------------------------ /v1/config

  async #config(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const started = performance.now();
    const q = url.searchParams;
    const rest = url.pathname.slice('/v1/config/'.length);
    const slash = rest.indexOf('/');
    let scopeText: string;
    let id: string;
    try {
      scopeText = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      id = slash < 0 ? '' : decodeURIComponent(rest.slice(slash + 1));
    } catch {
      this.#error(res, errors.invalidRef('the path is not valid percent-encoding'), 'config');
      return;
    }
    let request: ConfigRequest;
    try {
      request = this.#parseConfigRequest(scopeText, id, q);
    } catch (error) {
      this.#error(res, toConfigError(error), 'config');
      return;
    }
    const { served, context } = request;
    if (request.secret && !this.#tokenDigest && this.#hostGuard) {
      // Over TCP without a token anyone local could read the secrets (config.ts refuses this set-up).
      this.#error(
        res,
        new ConfigError(
          'ACCESS_DENIED',
          `app ${served.app} resolves secrets: served only with http.token or http.socket`,
        ),
        'config',
        403,
      );
      return;
    }
    const client = served.client;
    if (!client) {
      const cause = served.lastError;
      this.#error(
        res,
        errors.unavailable('agent', cause ?? new Error('still loading'), {}),
        'config',
        503,
        `the configuration of ${served.app} in ${served.environment} is not loaded yet${cause ? `: ${cause.message}` : ''}`,
      );
      return;
    }
    const current = () => this.#lookup(request, client.resolve(request.id, context));

    if (q.has('explain') && q.get('explain') !== '0' && q.get('explain') !== 'false') {
      const state = this.#lookup(request, client.resolve(request.id, context), 'explain');
      if (state.error) {
        this.#error(res, state.error, 'config');
        return;
      }
      const explain = client.explain(request.id, context);
      res.setHeader('ETag', state.etag);
      this.#json(res, 200, {
        ref: `${request.scope}/${request.id}`,
        app: served.app,
        environment: served.environment,
        // The layers hold references; the resolved value of a secret-resolving app is never shown here.
        value: request.secret ? layeredValue(explain) : state.details.value,
        explain,
        versions: state.details.versions,
        checksum: state.details.checksum,
        source: state.details.source,
        stale: state.details.stale,
        reason: state.details.reason,
        ...(state.details.ruleId ? { ruleId: state.details.ruleId } : {}),
        ...(state.details.variant ? { variant: state.details.variant } : {}),
      });
      this.#deps.metrics.readLatency.observe({ status: '200' }, (performance.now() - started) / 1000);
      return;
    }

    const index = q.get('index');
    if (index !== null && index !== '') {
      let waitMs = this.#deps.config.defaultWaitMs;
      const waitText = q.get('wait');
      if (waitText !== null && waitText !== '') {
        try {
          waitMs = parseWait(waitText);
        } catch (error) {
          this.#error(res, toConfigError(error), 'config');
          return;
        }
      }
      waitMs = Math.min(waitMs, this.#deps.config.maxWaitMs);
      const changed = () => {
        const state = current();
        if (state.error) return true;
        return /^\d+$/.test(index) ? String(state.version ?? 0) !== index : normaliseTag(index) !== state.etag;
      };
      if (!changed() && waitMs > 0 && !this.#closing) {
        await this.#hold(req, res, client, request.id, changed, waitMs);
        if (res.writableEnded || res.destroyed) return;
        this.#respond(req, res, current(), undefined, request.secret);
        return;
      }
    }
    this.#respond(req, res, current(), started, request.secret);
  }

  #parseConfigRequest(scopeText: string, idText: string, q: URLSearchParams): ConfigRequest {
    const scope = parseScope(scopeText);
    const id = parseId(idText);
    const scopeApp = scope === 'global' ? undefined : scope.slice(4);
    const appParam = q.get('app') ?? undefined;
    if (scopeApp !== undefined && appParam !== undefined && appParam !== scopeApp) {
      throw errors.constraint(`app=${appParam} does not match the scope ${scope}`);
    }
    let app = scopeApp ?? appParam;
    if (app === undefined) {
      if (this.#deps.apps.length !== 1) {
        throw errors.constraint(
          'the app query parameter is required for the global scope (this agent serves several apps)',
        );
      }
      app = this.#deps.apps[0]?.app as string;
    }
    const appConfig = this.#deps.apps.find((a) => a.app === app);
    if (!appConfig) throw errors.notFound(`app ${JSON.stringify(app)} is not served by this agent`);
    const envParam = q.get('environment');
    const environment = envParam === null || envParam === '' ? appConfig.environment : parseEnvironmentName(envParam);
    const served = this.#deps.served(app, environment);
    if (!served) {
      throw new ConfigError(
        'ENVIRONMENT_NOT_FOUND',
        `environment ${JSON.stringify(environment)} of app ${app} is not served by this agent (served: ${appConfig.environments.join(', ')})`,
      );
    }
    let context: EvaluationContext | undefined;
    for (const [key, value] of q) {
      if (!key.startsWith('ctx.') || key.length === 4) continue;
      context ??= {};
      const attr = key.slice(4);
      const prev = context[attr];
      context[attr] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev as string, value];
    }
    return { scope, id, served, context, secret: appConfig.secrets === 'resolve' };
  }

  #lookup(request: ConfigRequest, details: ResolveDetails, kind: 'value' | 'explain' = 'value'): Lookup {
    const version = request.scope === 'global' ? details.versions.global : details.versions.app;
    const { app, environment } = request.served;
    const shape = { kind, app, environment, ref: `${request.scope}/${request.id}` };
    const etag = etagOf(details, shape, request.secret ? SECRET_TAG_KEY : undefined);
    if (details.value === undefined || version === undefined) {
      return {
        details,
        etag,
        version,
        error: errors.notFound(`${request.scope}/${request.id} does not exist`, {
          ref: `${request.scope}/${request.id}`,
        }),
      };
    }
    return { details, etag, version };
  }

  /** Holds a long-poll until `changed()`, the wait ends, the client goes away, or the server closes. */
  #hold(
    req: IncomingMessage,
    res: ServerResponse,
    client: NonNullable<ServedClient['client']>,
    id: string,
    changed: () => boolean,
    waitMs: number,
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      let unwatch = () => {};
      const poll: Poll = { finish: () => end() };
      const timer = setTimeout(() => end(), waitMs);
      const end = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        unwatch();
        req.off('close', end);
        res.off('close', end);
        this.#polls.delete(poll);
        this.#deps.metrics.longPolls.dec();
        resolve();
      };
      this.#polls.add(poll);
      this.#deps.metrics.longPolls.inc();
      try {
        unwatch = client.watch(id, () => {
          if (changed()) end();
        });
      } catch {
        end(); // the client closed under us: answer with what is there
        return;
      }
      // A change may have landed between the check and the watch.
      if (changed()) end();
      res.on('close', end);
    });
  }

  #respond(
    req: IncomingMessage,
    res: ServerResponse,
    state: Lookup,
    started: number | undefined,
    secret: boolean,
  ): number {
    let status: number;
    if (state.error) {
      status = this.#error(res, state.error, 'config');
    } else {
      const d = state.details;
      const headers: Record<string, string> = {
        ETag: state.etag,
        'Cache-Control': secret ? 'no-store' : 'no-cache',
        'X-Summit-Version': String(state.version),
        'X-Summit-Versions': `global=${d.versions.global ?? 0}, app=${d.versions.app ?? 0}`,
        'X-Summit-Checksum': d.checksum,
        'X-Summit-Source': d.source,
        'X-Summit-Stale': String(d.stale),
        'X-Summit-Reason': d.reason,
      };
      if (d.variant) headers['X-Summit-Variant'] = d.variant;
      if (tagMatches(req.headers['if-none-match'], state.etag)) {
        status = 304;
        res.writeHead(304, headers);
        res.end();
      } else {
        status = 200;
        const body = JSON.stringify(d.value);
        res.writeHead(200, {
          ...headers,
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': String(Buffer.byteLength(body)),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      }
    }
    if (started !== undefined) {
      this.#deps.metrics.readLatency.observe({ status: String(status) }, (performance.now() - started) / 1000);
    }
    return status;
  }

  // ------------------------------------------------------------------ responses

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
      'Cache-Control': 'no-store',
    });
    res.end(text);
  }

  #error(res: ServerResponse, error: ConfigError, _route: string, status?: number, message?: string): number {
    const code = status ?? STATUS_OF[error.code] ?? 500;
    const body = { ...error.toJSON(), ...(message ? { message } : {}) };
    if (isConfigError(error, 'BACKEND_UNAVAILABLE')) res.setHeader('Retry-After', '1');
    this.#json(res, code, { error: body });
    return code;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
