/**
 * The `server` section of the agent configuration: the config server (`@summit-config/server`)
 * served by `summit-config server`, or beside the agent in the same process (the main job).
 *
 * Binding rules: loopback by default; a public address only with TLS (`tls.certFile` and
 * `tls.keyFile`), or with `allowInsecurePublic: true` said explicitly (behind a proxy that terminates
 * TLS). Anything else is `CONSTRAINT_VIOLATION` naming the field, before anything listens.
 */
import { dirname, resolve } from 'node:path';
import { isPlainObject } from '@summit-config/core/internal';
import { bool, fail, int, list, object, optStr, show, str } from './config-fields.js';
import type { EmbeddedConfig } from './config-types.js';
import { isLoopbackHost } from './http-guard.js';

/** OIDC bearer tokens (`createOidcAuthenticator`'s options; it checks them when the server starts). */
export interface ServerOidcConfig {
  issuer: string;
  audience: string | string[];
  /** Omitted with `jwksFile` absent too: the issuer's discovery document names it. */
  jwksUri?: string;
  jwksFile?: string;
  rolesClaim?: string;
  groupsClaim?: string;
  actorClaim?: string;
  roleMapping?: Array<{ claim: string; roles: Record<string, string[]> }>;
  clockToleranceSec?: number;
  /**
   * Console sign-in at this provider (authorization code with PKCE): the console's client id. With
   * it the sign-in page offers "Sign in with <provider>"; the access tokens it gets must fit
   * `issuer` and `audience` above.
   */
  login?: ServerOidcLogin;
}

/** The console's OIDC sign-in (`createConfigServer({ oidcLogin })`), from `server.oidc`. */
export interface ServerOidcLogin {
  clientId: string;
  /** Read from the environment variable `clientSecretEnv` (default `SUMMIT_OIDC_CLIENT_SECRET`); none: a public client. */
  clientSecret?: string;
  redirectUri?: string;
  scopes?: string[];
  /** The button's provider name. */
  name?: string;
  /** Extra authorization request parameters (`resource`, `audience`...). */
  authorizationParams?: Record<string, string>;
}

/** The default environment variable holding the console client's secret. */
export const OIDC_CLIENT_SECRET_ENV = 'SUMMIT_OIDC_CLIENT_SECRET';

export interface ServerConfig {
  /** Interface to bind. Default `127.0.0.1` (env `SUMMIT_SERVER_HOST`). */
  host: string;
  /** Port; 0 picks a free one. Default 7080 (env `SUMMIT_SERVER_PORT`). */
  port: number;
  /** PEM certificate and key: the server speaks HTTPS (env `SUMMIT_SERVER_TLS_CERT`, `SUMMIT_SERVER_TLS_KEY`). */
  tls: { certFile: string; keyFile: string } | undefined;
  /** Bind a non-loopback address without TLS (a proxy terminates it). Default false. */
  allowInsecurePublic: boolean;
  /** `Host` names answered beside the loopback names and the bind host. */
  allowedHosts: string[];
  /**
   * The roles and bindings (YAML of `loadRbacFile`; env `SUMMIT_RBAC_FILE`). Required with Consul or
   * PostgreSQL; the embedded default uses the built-in roles (tokens carry their roles).
   */
  rbacFile: string | undefined;
  /**
   * Where the admin token is written (mode 0600) when the token store holds no live token: on the
   * embedded default `.summit/admin-token` beside the data directory. Default none with real stores
   * (create the first token with `summit-config token create` against the stores).
   */
  adminTokenFile: string | undefined;
  oidc: ServerOidcConfig | undefined;
  /** Largest request body, bytes. Default 1 MiB. */
  bodyLimit: number | undefined;
  /** Longest request, ms. Default 30 000. */
  requestTimeoutMs: number | undefined;
  /** Requests per second per principal (burst twice that); 0 turns the limit off. Default 50. */
  rateLimitPerSecond: number | undefined;
}

const KNOWN = [
  'host',
  'port',
  'tls',
  'allowInsecurePublic',
  'allowedHosts',
  'rbacFile',
  'adminTokenFile',
  'oidc',
  'bodyLimit',
  'requestTimeoutMs',
  'rateLimitPerSecond',
] as const;

const OIDC_KNOWN = [
  'issuer',
  'audience',
  'jwksUri',
  'jwksFile',
  'rolesClaim',
  'groupsClaim',
  'actorClaim',
  'roleMapping',
  'clockToleranceSec',
  'clientId',
  'clientSecretEnv',
  'redirectUri',
  'scopes',
  'providerName',
  'authorizationParams',
] as const;

/** The admin token file of the embedded default: `.summit/admin-token` beside `.summit/data`. */
export function defaultAdminTokenFile(embedded: EmbeddedConfig): string {
  return resolve(dirname(embedded.dataDir), 'admin-token');
}

/** The console sign-in fields of `server.oidc`: `clientId` and its companions, or none of them. */
function oidcLogin(o: Record<string, unknown>, env: NodeJS.ProcessEnv): ServerOidcLogin | undefined {
  const clientId = optStr(o.clientId, 'server.oidc.clientId');
  if (clientId === undefined) {
    const stray = (['clientSecretEnv', 'redirectUri', 'scopes', 'providerName', 'authorizationParams'] as const).find(
      (k) => o[k] !== undefined,
    );
    if (stray) throw fail('server.oidc.clientId', `is required with server.oidc.${stray} (console sign-in)`);
    return undefined;
  }
  const secretEnv = optStr(o.clientSecretEnv, 'server.oidc.clientSecretEnv');
  if (secretEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(secretEnv)) {
    throw fail('server.oidc.clientSecretEnv', `must be an environment variable name, got ${show(secretEnv)}`);
  }
  const clientSecret = env[secretEnv ?? OIDC_CLIENT_SECRET_ENV] || undefined;
  if (secretEnv !== undefined && clientSecret === undefined) {
    throw fail('server.oidc.clientSecretEnv', `names ${secretEnv}, which is not set (the client secret)`);
  }
  const redirectUri = optStr(o.redirectUri, 'server.oidc.redirectUri');
  if (redirectUri !== undefined && !/^https?:\/\/[^/]+\/api\/v1\/session\/oidc\/callback$/.test(redirectUri)) {
    throw fail(
      'server.oidc.redirectUri',
      `must be http(s)://<host>/api/v1/session/oidc/callback, got ${show(redirectUri)}`,
    );
  }
  const scopes =
    o.scopes === undefined
      ? undefined
      : list(o.scopes, 'server.oidc.scopes').map((v, i) => str(v, `server.oidc.scopes[${i}]`));
  if (scopes !== undefined && !scopes.includes('openid')) throw fail('server.oidc.scopes', 'must include openid');
  const params = o.authorizationParams ?? {};
  if (!isPlainObject(params)) throw fail('server.oidc.authorizationParams', `must be a mapping, got ${show(params)}`);
  const authorizationParams: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) authorizationParams[k] = str(v, `server.oidc.authorizationParams.${k}`);
  const name = optStr(o.providerName, 'server.oidc.providerName');
  return {
    clientId,
    ...(clientSecret !== undefined ? { clientSecret } : {}),
    ...(redirectUri !== undefined ? { redirectUri } : {}),
    ...(scopes !== undefined ? { scopes } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(Object.keys(authorizationParams).length > 0 ? { authorizationParams } : {}),
  };
}

function oidcSection(raw: unknown, env: NodeJS.ProcessEnv): ServerOidcConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = object(raw, 'server.oidc', OIDC_KNOWN);
  const issuer = str(o.issuer, 'server.oidc.issuer');
  const audience =
    typeof o.audience === 'string'
      ? str(o.audience, 'server.oidc.audience')
      : list(o.audience, 'server.oidc.audience').map((a, i) => str(a, `server.oidc.audience[${i}]`));
  if (Array.isArray(audience) && audience.length === 0) throw fail('server.oidc.audience', 'is required');
  const mapping = list(o.roleMapping, 'server.oidc.roleMapping').map((m, i) => {
    const path = `server.oidc.roleMapping[${i}]`;
    const e = object(m, path, ['claim', 'roles']);
    if (!isPlainObject(e.roles))
      throw fail(`${path}.roles`, `must map claim values to role lists, got ${show(e.roles)}`);
    const roles: Record<string, string[]> = {};
    for (const [value, granted] of Object.entries(e.roles)) {
      roles[value] = list(granted, `${path}.roles.${value}`).map((r, j) => str(r, `${path}.roles.${value}[${j}]`));
    }
    return { claim: str(e.claim, `${path}.claim`), roles };
  });
  const optional = (key: 'jwksUri' | 'jwksFile' | 'rolesClaim' | 'groupsClaim' | 'actorClaim') => {
    const v = optStr(o[key], `server.oidc.${key}`);
    return v === undefined ? {} : { [key]: key === 'jwksFile' ? resolve(v) : v };
  };
  const login = oidcLogin(o, env);
  return {
    issuer,
    audience,
    ...optional('jwksUri'),
    ...optional('jwksFile'),
    ...optional('rolesClaim'),
    ...optional('groupsClaim'),
    ...optional('actorClaim'),
    ...(mapping.length > 0 ? { roleMapping: mapping } : {}),
    ...(o.clockToleranceSec !== undefined
      ? { clockToleranceSec: int(o.clockToleranceSec, 'server.oidc.clockToleranceSec', 0, 0, 3600) }
      : {}),
    ...(login ? { login } : {}),
  };
}

/**
 * Reads the `server` section (undefined when absent and `required` is false). `summit-config server`
 * passes `required: true`: the section's defaults apply without one.
 */
export function serverSection(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  embedded: EmbeddedConfig | undefined,
  required = false,
): ServerConfig | undefined {
  if ((raw === undefined || raw === null) && !required) return undefined;
  const o = object(raw, 'server', KNOWN);
  const host = str(env.SUMMIT_SERVER_HOST || o.host, 'server.host', '127.0.0.1');
  const port = int(env.SUMMIT_SERVER_PORT || o.port, 'server.port', 7080, 0, 65_535);
  const t = object(o.tls, 'server.tls', ['certFile', 'keyFile']);
  const certFile = optStr(env.SUMMIT_SERVER_TLS_CERT || t.certFile, 'server.tls.certFile');
  const keyFile = optStr(env.SUMMIT_SERVER_TLS_KEY || t.keyFile, 'server.tls.keyFile');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw fail('server.tls', 'needs both certFile and keyFile (PEM files)');
  }
  const tls = certFile && keyFile ? { certFile: resolve(certFile), keyFile: resolve(keyFile) } : undefined;
  const allowInsecurePublic = bool(
    env.SUMMIT_SERVER_ALLOW_INSECURE_PUBLIC || o.allowInsecurePublic,
    'server.allowInsecurePublic',
    false,
  );
  if (!tls && !allowInsecurePublic && !isLoopbackHost(host)) {
    throw fail(
      'server.host',
      `is ${show(host)}, not a loopback address, and no TLS is configured: bearer tokens would cross the network in clear. Set server.tls.certFile and keyFile, bind 127.0.0.1, or set server.allowInsecurePublic: true behind a proxy that terminates TLS`,
    );
  }
  const allowedHosts = list(o.allowedHosts, 'server.allowedHosts').map((h, i) => str(h, `server.allowedHosts[${i}]`));
  const rbacFile = optStr(env.SUMMIT_RBAC_FILE || o.rbacFile, 'server.rbacFile');
  const tokenFile = optStr(env.SUMMIT_ADMIN_TOKEN_FILE || o.adminTokenFile, 'server.adminTokenFile');
  const adminTokenFile = tokenFile ? resolve(tokenFile) : embedded ? defaultAdminTokenFile(embedded) : undefined;
  const num = (key: 'bodyLimit' | 'requestTimeoutMs' | 'rateLimitPerSecond', min: number, max: number) =>
    o[key] === undefined ? undefined : int(o[key], `server.${key}`, 0, min, max);
  return {
    host,
    port,
    tls,
    allowInsecurePublic,
    allowedHosts,
    rbacFile: rbacFile ? resolve(rbacFile) : undefined,
    adminTokenFile,
    oidc: oidcSection(o.oidc, env),
    bodyLimit: num('bodyLimit', 1024, 1024 * 1024 * 1024),
    requestTimeoutMs: num('requestTimeoutMs', 100, 3_600_000),
    rateLimitPerSecond: num('rateLimitPerSecond', 0, 1_000_000),
  };
}
