/**
 * The options of `createConfigServer`, checked at construction: a bad option throws
 * `CONSTRAINT_VIOLATION` naming it.
 */
import type { ConfigService, ConfigStore } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { Authenticator } from './auth.js';

export interface CorsOptions {
  /** Origins (`scheme://host[:port]`, compared exactly) a browser may call the API from. Default: none. */
  origins: readonly string[];
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
  /**
   * Host names (without port, case-insensitive) the server answers; another `Host` is `421`.
   * Default: `localhost`, `127.0.0.1`, `::1`.
   */
  allowedHosts?: readonly string[];
  /** Cross-origin access. Default: closed (no `Access-Control-*` header is ever sent). */
  cors?: CorsOptions;
}

export interface CheckedOptions {
  service: ConfigService;
  authenticators: readonly Authenticator[];
  store: ConfigStore | undefined;
  bodyLimit: number;
  allowedHosts: ReadonlySet<string>;
  corsOrigins: ReadonlySet<string>;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
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
  return {
    service,
    authenticators: [...authenticators],
    store,
    bodyLimit,
    allowedHosts: new Set(hosts.map((h) => h.toLowerCase().replace(/^\[(.*)\]$/, '$1'))),
    corsOrigins: new Set(origins),
  };
}
