/**
 * The options of `createConfigServer`, checked at construction: a bad option throws
 * `CONSTRAINT_VIOLATION` naming it.
 */
import type { ConfigService, ConfigStore, Rbac } from '@summit-config/core';
import { errors, type TokenStore } from '@summit-config/core/internal';
import type { Authenticator } from './auth.js';
import { type CheckedGitopsWebhook, checkGitopsWebhook, type GitopsWebhookOptions } from './routes/gitops-webhook.js';
import { type CheckedOidcLogin, checkOidcLogin, type OidcLoginOptions } from './routes/oidc-login.js';
import type { DriftSource, GitopsSource, LeaderSource } from './routes/operations.js';
import type { ServerSecretsOptions } from './routes/secrets.js';
import { type ConsoleOptions, checkConsole } from './routes/ui.js';
import type { SessionManager } from './sessions.js';

export interface CorsOptions {
  /** Origins (`scheme://host[:port]`, compared exactly) a browser may call the API from. Default: none. */
  origins: readonly string[];
}

export interface RateLimitOptions {
  /** Tokens added to a principal's bucket per second (the sustained rate). Positive. */
  perSecond: number;
  /** Bucket size: requests a principal may make at once after being idle. A positive integer. */
  burst: number;
  /**
   * The clock, in milliseconds (default `Date.now`); for tests, so a bucket can refill without sleeping.
   */
  clock?: () => number;
  /**
   * Most principals whose buckets are kept (default 10 000). Full (idle) buckets are evicted first;
   * over this bound the least recently seen principal's bucket is dropped.
   */
  maxPrincipals?: number;
}

export interface ConfigServerOptions {
  /** The change service every route goes through (it checks RBAC for the authenticated actor). Borrowed. */
  service: ConfigService;
  /**
   * Tried in order on every `/api/v1` request; the first that returns a result authenticates it. None
   * answering is `401`. At least one.
   */
  authenticators: readonly Authenticator[];
  /**
   * The store the service writes, for resolved reads (`/api/v1/resolved/...`): a `ConfigClient` is
   * built over it. Without it those routes answer `501`. Borrowed.
   */
  store?: ConfigStore;
  /** Largest request body, in bytes. Default 1 MiB (1 048 576). Larger is `413`. */
  bodyLimit?: number;
  /** Largest body of `POST /api/v1/import` (NDJSON), in bytes. Default 64 MiB. Larger is `413`. */
  importBodyLimit?: number;
  /** The event streams of `GET /api/v1/watch`. */
  watch?: WatchStreamOptions;
  /**
   * Host names (without port, case-insensitive) the server answers; another `Host` is `421`.
   * Default: `localhost`, `127.0.0.1`, `::1`.
   */
  allowedHosts?: readonly string[];
  /** Cross-origin access. Default: closed (no `Access-Control-*` header is ever sent). */
  cors?: CorsOptions;
  /**
   * A token bucket per authenticated principal (its credential, else its id), in this process (so
   * per replica). Over it is `429` with `Retry-After`. Default 50 per second, burst 100. `false`:
   * no limit.
   */
  rateLimit?: RateLimitOptions | false;
  /**
   * Longest a route handler may run, in milliseconds; longer is `504` (`TIMEOUT`) and the service
   * call's `AbortSignal` is aborted. Also Node's `requestTimeout` (receiving the whole request).
   * Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * API token administration over the API (`/api/v1/tokens`): the token store (the same one the
   * token authenticator reads); `rbac` decides `token:read` and `token:manage`. Without it those
   * routes answer `501`. Borrowed.
   */
  tokens?: TokenStore;
  /** Serve HTTPS with this PEM certificate and key (Node's `tls` options). Default: plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * The change service's access checker (the same definition), for the routes that do not go through
   * the service: status and drift (`config:audit:read`), secrets metadata (`secrets:read`,
   * `secrets:write`). Without it those routes answer `501`. Needed by `secrets` and `drift`.
   */
  rbac?: Rbac;
  /** Secrets metadata, rotation policies and a rotation trigger (`/api/v1/secrets`); never values. Borrowed. */
  secrets?: ServerSecretsOptions;
  /** The latest drift report (`/api/v1/drift`), e.g. what the agent's leader kept of its last run. */
  drift?: DriftSource;
  /**
   * Who leads the agents (`leader` in `/api/v1/status`): e.g. the holder of the agents' Consul leader
   * lock. Without it the status has no `leader` field.
   */
  leader?: LeaderSource;
  /**
   * The GitOps sync loop's status (`gitops` in `/api/v1/status` and the console's status page), e.g.
   * the agent's sync loop beside the server. Without it the status has no `gitops` field.
   */
  gitops?: GitopsSource;
  /**
   * The web console at `/ui` and its cookie sessions (`/api/v1/session`, docs/console.md). Default:
   * on, with sessions in this process's memory. `false`: no `/ui`, and no cookie is accepted.
   */
  console?: ConsoleOptions | false;
  /**
   * Console sign-in by OpenID Connect (authorization code with PKCE, `/api/v1/session/oidc`,
   * docs/console.md). The access token it obtains must be accepted by one of `authenticators` (an
   * OIDC authenticator for the same issuer). Needs the console. Default: none.
   */
  oidcLogin?: OidcLoginOptions;
  /**
   * The GitOps push webhook, `POST /api/v1/gitops/webhook` (docs/gitops-webhook.md): GitHub and
   * GitLab deliveries verified with `secret`, replays refused, and `onPush` called for each push.
   * Default: none (the route answers `401`).
   */
  gitopsWebhook?: GitopsWebhookOptions;
}

export interface CheckedRateLimit {
  perSecond: number;
  burst: number;
  clock: () => number;
  maxPrincipals: number;
}

export interface CheckedOptions {
  service: ConfigService;
  authenticators: readonly Authenticator[];
  store: ConfigStore | undefined;
  bodyLimit: number;
  importBodyLimit: number;
  watch: Required<WatchStreamOptions>;
  allowedHosts: ReadonlySet<string>;
  corsOrigins: ReadonlySet<string>;
  rateLimit: CheckedRateLimit | false;
  requestTimeoutMs: number;
  tokens: TokenStore | undefined;
  rbac: Rbac | undefined;
  secrets: ServerSecretsOptions | undefined;
  drift: DriftSource | undefined;
  leader: LeaderSource | undefined;
  gitops: GitopsSource | undefined;
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** The console's assets folder and sessions; `undefined` when `console: false`. */
  console: { assetsDir: string | undefined; sessions: SessionManager } | undefined;
  /** The console's OIDC sign-in; `undefined` when not configured. */
  oidcLogin: CheckedOidcLogin | undefined;
  gitopsWebhook: CheckedGitopsWebhook | undefined;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_RATE_LIMIT: Readonly<{ perSecond: number; burst: number }> = { perSecond: 50, burst: 100 };
export const DEFAULT_MAX_PRINCIPALS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Largest timeout `setTimeout` keeps (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];

export function checkOptions(options: ConfigServerOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null)
    throw errors.constraint('config server options must be an object');
  const { service, authenticators, store } = options;
  if (typeof service?.get !== 'function' || typeof service.set !== 'function') {
    throw errors.constraint('config server option service must be a ConfigService');
  }
  if (
    !Array.isArray(authenticators) ||
    authenticators.length === 0 ||
    authenticators.some((a) => typeof a !== 'function')
  ) {
    throw errors.constraint('config server option authenticators must be a non-empty list of functions');
  }
  if (store !== undefined && typeof store?.listHeads !== 'function') {
    throw errors.constraint('config server option store must be a ConfigStore');
  }
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isSafeInteger(bodyLimit) || bodyLimit < 1) {
    throw errors.constraint('config server option bodyLimit must be a positive integer (bytes)');
  }
  const hosts = options.allowedHosts ?? DEFAULT_ALLOWED_HOSTS;
  if (!Array.isArray(hosts) || hosts.length === 0 || hosts.some((h) => typeof h !== 'string' || h.length === 0)) {
    throw errors.constraint('config server option allowedHosts must be a non-empty list of host names');
  }
  const origins = options.cors?.origins ?? [];
  if (!Array.isArray(origins) || origins.some((o) => typeof o !== 'string' || o === '*' || o.length === 0)) {
    throw errors.constraint('config server option cors.origins must be a list of origins (no wildcard)');
  }
  const rateLimit = checkRateLimit(options.rateLimit);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isSafeInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > MAX_TIMEOUT_MS) {
    throw errors.constraint(
      `config server option requestTimeoutMs must be a positive integer (milliseconds, at most ${MAX_TIMEOUT_MS})`,
    );
  }
  return {
    service,
    authenticators: [...authenticators],
    store,
    bodyLimit,
    importBodyLimit: positiveInteger(options.importBodyLimit ?? DEFAULT_IMPORT_BODY_LIMIT, 'importBodyLimit'),
    watch: checkWatch(options.watch),
    allowedHosts: new Set(hosts.map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1'))),
    corsOrigins: new Set(origins),
    rateLimit,
    requestTimeoutMs,
    tokens: checkTokens(options),
    tls: checkTls(options.tls),
    console: checkConsole(options.console, options.tls !== undefined),
    oidcLogin: checkOidcLogin(options.oidcLogin, options.console !== false),
    gitopsWebhook: checkGitopsWebhook(options.gitopsWebhook),
    ...checkOperations(options),
  };
}

function checkOperations(
  options: ConfigServerOptions,
): Pick<CheckedOptions, 'rbac' | 'secrets' | 'drift' | 'leader' | 'gitops'> {
  const { rbac, secrets, drift, leader, gitops } = options;
  if (rbac !== undefined && (typeof rbac?.check !== 'function' || typeof rbac.can !== 'function')) {
    throw errors.constraint('config server option rbac must be an Rbac (createRbac)');
  }
  if (secrets !== undefined) {
    if (typeof secrets?.provider?.listVersions !== 'function' || typeof secrets.provider.name !== 'string') {
      throw errors.constraint('config server option secrets.provider must be a SecretProvider');
    }
    if (secrets.rotation !== undefined && typeof secrets.rotation?.rotate !== 'function') {
      throw errors.constraint('config server option secrets.rotation must be a RotationManager');
    }
    if (secrets.providers !== undefined) {
      if (!Array.isArray(secrets.providers)) {
        throw errors.constraint('config server option secrets.providers must be an array of SecretProvider');
      }
      const names = new Set([secrets.provider.name]);
      for (const p of secrets.providers) {
        if (typeof p?.listVersions !== 'function' || typeof p.name !== 'string') {
          throw errors.constraint('config server option secrets.providers must be an array of SecretProvider');
        }
        if (names.has(p.name)) {
          throw errors.constraint(`config server option secrets.providers names provider "${p.name}" twice`);
        }
        names.add(p.name);
      }
    }
    if (secrets.listNames !== undefined && typeof secrets.listNames !== 'function') {
      throw errors.constraint('config server option secrets.listNames must be a function');
    }
  }
  if (drift !== undefined && typeof drift !== 'function') {
    throw errors.constraint('config server option drift must be a function returning the latest drift report');
  }
  if (leader !== undefined && typeof leader !== 'function') {
    throw errors.constraint('config server option leader must be a function returning who leads');
  }
  if ((secrets !== undefined || drift !== undefined) && rbac === undefined) {
    throw errors.constraint('config server options secrets and drift need the option rbac (the access checker)');
  }
  if (gitops !== undefined && typeof gitops !== 'function') {
    throw errors.constraint('config server option gitops must be a function returning the sync loop status');
  }
  return { rbac, secrets: secrets && { ...secrets }, drift, leader, gitops };
}

function checkTokens(options: ConfigServerOptions): TokenStore | undefined {
  const given = options.tokens;
  if (given === undefined) return undefined;
  if (typeof given?.create !== 'function' || typeof given.revoke !== 'function') {
    throw errors.constraint('config server option tokens must be a TokenStore');
  }
  if (options.rbac === undefined) {
    throw errors.constraint('config server option tokens needs the option rbac (the access checker)');
  }
  return given;
}

function checkTls(given: ConfigServerOptions['tls']): CheckedOptions['tls'] {
  if (given === undefined) return undefined;
  const pem = (v: unknown) => (typeof v === 'string' && v.length > 0) || Buffer.isBuffer(v);
  if (!pem(given?.cert) || !pem(given?.key)) {
    throw errors.constraint('config server option tls must be { cert, key } (PEM text or buffers)');
  }
  return { cert: given.cert, key: given.key };
}

export interface WatchStreamOptions {
  /** A comment line is sent this often (ms) so proxies keep the connection. Default 15 000. */
  heartbeatMs?: number;
  /**
   * A stream ends after this long (ms); the client reconnects with `Last-Event-ID` (and is
   * authenticated again). Default 600 000.
   */
  maxStreamMs?: number;
}

export const DEFAULT_IMPORT_BODY_LIMIT = 64 * 1024 * 1024;
export const DEFAULT_WATCH_HEARTBEAT_MS = 15_000;
export const DEFAULT_WATCH_MAX_STREAM_MS = 600_000;

function positiveInteger(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw errors.constraint(`config server option ${name} must be a positive integer (at most ${max})`);
  }
  return value as number;
}

function checkWatch(given: WatchStreamOptions | undefined): Required<WatchStreamOptions> {
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw errors.constraint('config server option watch must be { heartbeatMs?, maxStreamMs? }');
  }
  const ms = (value: number | undefined, fallback: number, name: string) =>
    positiveInteger(value ?? fallback, `watch.${name}`, MAX_TIMEOUT_MS);
  return {
    heartbeatMs: ms(given?.heartbeatMs, DEFAULT_WATCH_HEARTBEAT_MS, 'heartbeatMs'),
    maxStreamMs: ms(given?.maxStreamMs, DEFAULT_WATCH_MAX_STREAM_MS, 'maxStreamMs'),
  };
}

function checkRateLimit(given: RateLimitOptions | false | undefined): CheckedRateLimit | false {
  if (given === false) return false;
  if (given !== undefined && (typeof given !== 'object' || given === null)) {
    throw errors.constraint('config server option rateLimit must be { perSecond, burst } or false');
  }
  const perSecond = given?.perSecond ?? DEFAULT_RATE_LIMIT.perSecond;
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0) {
    throw errors.constraint('config server option rateLimit.perSecond must be a positive number');
  }
  const burst = given?.burst ?? DEFAULT_RATE_LIMIT.burst;
  if (!Number.isSafeInteger(burst) || burst < 1) {
    throw errors.constraint('config server option rateLimit.burst must be a positive integer');
  }
  const clock = given?.clock ?? Date.now;
  if (typeof clock !== 'function') throw errors.constraint('config server option rateLimit.clock must be a function');
  const maxPrincipals = given?.maxPrincipals ?? DEFAULT_MAX_PRINCIPALS;
  if (!Number.isSafeInteger(maxPrincipals) || maxPrincipals < 1) {
    throw errors.constraint('config server option rateLimit.maxPrincipals must be a positive integer');
  }
  return { perSecond, burst, clock, maxPrincipals };
}
