/**
 * The console's OIDC sign-in (issue 19; docs/console.md "Signing in with OIDC"): the authorization
 * code flow with PKCE, by openid-client, ending in the same console session as a pasted token.
 *
 * - `GET /api/v1/session/oidc/config`: whether OIDC sign-in is configured, and the provider's name
 *   for the sign-in page's button.
 * - `GET /api/v1/session/oidc`: discovers the provider (once; retried after a failure), draws a
 *   state, a nonce and a PKCE verifier, keeps the nonce and verifier in a short-lived HttpOnly
 *   cookie sealed (AES-256-GCM) under a key derived from the state, and redirects to the
 *   provider's authorization endpoint.
 * - `GET /api/v1/session/oidc/callback`: the cookie opens only with the state the provider sent back
 *   (a tampered or foreign state opens nothing); openid-client exchanges the code with the verifier
 *   and checks the state, the nonce and the ID token; the access token is then run through the
 *   server's own authenticators (`Bearer <access token>`, as on any API call: issuer, audience,
 *   role mapping), and only a token they accept opens a console session, by the session manager
 *   as `POST /api/v1/session` does. Then `303` to `/ui/`.
 *
 * Every failure redirects to `/ui/?signin_error=<code>` (the sign-in page says what happened) and
 * creates nothing; the flow cookie is cleared whatever the outcome. The routes are public (there is
 * no credential yet) and hidden from the OpenAPI document, as the `/ui` assets are.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError, isConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as client from 'openid-client';
import type { AuthResult } from '../auth.js';
import { discoveryUrl } from '../oidc/discovery.js';
import { cookieValue, type SessionManager, sessionCookie } from '../sessions.js';
import type { ServerContext } from './context.js';
import { recordSessionEvent } from './ui.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A route reached without any credential (the authentication hook leaves it alone). */
    publicRoute?: boolean;
  }
}

/** The console's OIDC sign-in (`createConfigServer({ oidcLogin })`). */
export interface OidcLoginOptions {
  /** The provider's issuer: discovered at `<issuer>/.well-known/openid-configuration` on first use. */
  issuer: string;
  /** The console's client id at the provider (a client allowed the authorization code grant). */
  clientId: string;
  /** The client secret of a confidential client; omitted: a public client (PKCE alone). */
  clientSecret?: string;
  /** Default `client_secret_basic` with a secret, `none` without. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /**
   * The callback URL registered at the provider, `<origin>/api/v1/session/oidc/callback`. Default:
   * built from the request (`http(s)://<Host>`; the Host allow-list applies).
   */
  redirectUri?: string;
  /** Scopes requested; must include `openid`. Default `['openid']`. */
  scopes?: readonly string[];
  /** Extra authorization request parameters, e.g. `{ resource: 'https://config.example.com' }` or `{ audience }`. */
  authorizationParams?: Readonly<Record<string, string>>;
  /** Shown on the sign-in page's button ("Sign in with <name>"). Default: the issuer's host. */
  name?: string;
  /** Discovery and token request timeout, in ms. Default 5000. */
  timeoutMs?: number;
}

export interface CheckedOidcLogin {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  authMethod: 'client_secret_basic' | 'client_secret_post' | 'none';
  redirectUri: string | undefined;
  scope: string;
  params: Record<string, string>;
  name: string;
  timeoutMs: number;
}

export const OIDC_LOGIN_PATH = '/api/v1/session/oidc';
export const OIDC_CALLBACK_PATH = '/api/v1/session/oidc/callback';
/** How long a started sign-in may take at the provider, in seconds (the flow cookie's lifetime). */
export const OIDC_FLOW_TTL_SEC = 600;
/** After a failed discovery, the sign-in answers from that failure for this long before trying again. */
const RETRY_MS = 10_000;
/** Authorization request parameters the flow sets itself. */
const RESERVED = new Set([
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'redirect_uri',
  'scope',
  'response_type',
  'client_id',
]);

const bad = (field: string, message: string) => errors.constraint(`config server option oidcLogin.${field} ${message}`);
const text = (v: unknown, max = 2048): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

export function checkOidcLogin(given: OidcLoginOptions | undefined, consoleOn: boolean): CheckedOidcLogin | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'object' || given === null) throw bad('', 'must be an object');
  if (!consoleOn) throw errors.constraint('config server option oidcLogin needs the console (console is false)');
  if (!text(given.issuer)) throw bad('issuer', 'must be a non-empty string');
  discoveryUrl(given.issuer, (option, message) => bad(option, message));
  if (!text(given.clientId, 256)) throw bad('clientId', 'must be a non-empty string');
  if (given.clientSecret !== undefined && !text(given.clientSecret, 4096)) {
    throw bad('clientSecret', 'must be a non-empty string');
  }
  const authMethod = given.tokenEndpointAuthMethod ?? (given.clientSecret ? 'client_secret_basic' : 'none');
  if (!['client_secret_basic', 'client_secret_post', 'none'].includes(authMethod)) {
    throw bad('tokenEndpointAuthMethod', 'must be client_secret_basic, client_secret_post or none');
  }
  if ((authMethod === 'none') !== (given.clientSecret === undefined)) {
    throw bad(
      'clientSecret',
      `is ${given.clientSecret ? 'given' : 'missing'} for tokenEndpointAuthMethod ${authMethod}`,
    );
  }
  if (given.redirectUri !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(given.redirectUri);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.pathname !== OIDC_CALLBACK_PATH || url.search || url.hash) {
      throw bad('redirectUri', `must be an http(s) URL whose path is ${OIDC_CALLBACK_PATH}, without query`);
    }
  }
  const scopes = given.scopes ?? ['openid'];
  if (!Array.isArray(scopes) || scopes.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(String(s)))) {
    throw bad('scopes', 'must be a list of scope tokens');
  }
  if (!scopes.includes('openid')) throw bad('scopes', 'must include openid');
  const params = given.authorizationParams ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw bad('authorizationParams', 'must map parameter names to strings');
  }
  for (const [k, v] of Object.entries(params)) {
    if (RESERVED.has(k)) throw bad(`authorizationParams.${k}`, 'is set by the sign-in flow itself');
    if (typeof v !== 'string') throw bad(`authorizationParams.${k}`, 'must be a string');
  }
  if (given.name !== undefined && !text(given.name, 64)) throw bad('name', 'must be 1 to 64 characters');
  const timeoutMs = given.timeoutMs ?? 5000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 120_000) {
    throw bad('timeoutMs', 'must be an integer from 1 to 120000 (ms)');
  }
  return {
    issuer: given.issuer,
    clientId: given.clientId,
    clientSecret: given.clientSecret,
    authMethod,
    redirectUri: given.redirectUri,
    scope: [...new Set(scopes)].join(' '),
    params: { ...params },
    name: given.name ?? new URL(given.issuer).host,
    timeoutMs,
  };
}

/** Why a sign-in failed: the `signin_error` of the redirect to `/ui/`, which the sign-in page explains. */
export type OidcLoginFailure =
  | 'provider_unavailable'
  | 'denied'
  | 'provider_error'
  | 'no_flow'
  | 'state_mismatch'
  | 'exchange_failed'
  | 'token_refused'
  | 'session_failed';

const flowKey = (state: string) =>
  Buffer.from(hkdfSync('sha256', Buffer.from(state, 'utf8'), Buffer.alloc(0), 'summit-config oidc flow v1', 32));

/** The flow's secrets, sealed under a key derived from the state: only the state sent with them opens them. */
function sealFlow(state: string, flow: Flow): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', flowKey(state), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(flow), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

function openFlow(state: string, sealed: string): Flow | undefined {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length <= 28 || state.length === 0 || state.length > 512) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', flowKey(state), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const flow = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
    return typeof flow?.verifier === 'string' && typeof flow.nonce === 'string' && typeof flow.at === 'number'
      ? (flow as Flow)
      : undefined;
  } catch {
    return undefined;
  }
}

interface Flow {
  verifier: string;
  nonce: string;
  /** Epoch ms when the flow started. */
  at: number;
  redirectUri: string;
}

const flowCookieName = (sessions: SessionManager) => (sessions.secure ? '__Secure-summit_oidc' : 'summit_oidc');

/** The flow cookie: `SameSite=Lax`, because the provider's redirect back is a cross-site navigation. */
function flowCookie(sessions: SessionManager, value: string, maxAge: number): string {
  const parts = [`${flowCookieName(sessions)}=${value}`, `Path=${OIDC_LOGIN_PATH}`, 'HttpOnly', 'SameSite=Lax'];
  parts.push(`Max-Age=${maxAge}`);
  if (sessions.secure) parts.push('Secure');
  return parts.join('; ');
}

/** The provider's configuration by discovery: fetched once, a failure answered for `RETRY_MS`. */
function providerConfiguration(o: CheckedOidcLogin): () => Promise<client.Configuration> {
  let found: Promise<client.Configuration> | undefined;
  let failedAt = 0;
  const loopbackHttp = new URL(o.issuer).protocol === 'http:';
  return async () => {
    if (found === undefined || (failedAt !== 0 && Date.now() - failedAt >= RETRY_MS)) {
      failedAt = 0;
      const auth =
        o.authMethod === 'none'
          ? client.None()
          : o.authMethod === 'client_secret_post'
            ? client.ClientSecretPost(o.clientSecret)
            : client.ClientSecretBasic(o.clientSecret);
      found = client
        .discovery(new URL(o.issuer), o.clientId, undefined, auth, {
          timeout: Math.ceil(o.timeoutMs / 1000),
          // `http:` is accepted only for a loopback issuer (checked with the options).
          ...(loopbackHttp ? { execute: [client.allowInsecureRequests] } : {}),
        })
        .catch((error: unknown) => {
          failedAt = Date.now();
          throw new ConfigError('BACKEND_UNAVAILABLE', `the OIDC provider ${o.issuer} could not be discovered`, {
            cause: error,
          });
        });
    }
    return found;
  };
}

export function oidcLoginRoutes(app: FastifyInstance, options: ServerContext): void {
  const settings = options.console;
  if (settings === undefined) return;
  const { sessions } = settings;
  const login = options.oidcLogin;
  const config = login ? providerConfiguration(login) : undefined;
  const hidden = { hide: true } as const;

  app.get(`${OIDC_LOGIN_PATH}/config`, { schema: hidden, config: { publicRoute: true } }, async (_request, reply) =>
    reply.code(200).send(login ? { enabled: true, name: login.name, loginUrl: OIDC_LOGIN_PATH } : { enabled: false }),
  );
  if (login === undefined || config === undefined) return;

  const failed = (reply: FastifyReply, why: OidcLoginFailure) =>
    reply.header('Set-Cookie', flowCookie(sessions, '', 0)).redirect(`/ui/?signin_error=${why}`, 303);
  const redirectUriOf = (request: FastifyRequest) =>
    login.redirectUri ?? `${request.protocol}://${request.host}${OIDC_CALLBACK_PATH}`;

  app.get(OIDC_LOGIN_PATH, { schema: hidden, config: { publicRoute: true } }, async (request, reply) => {
    let provider: client.Configuration;
    try {
      provider = await config();
    } catch {
      return failed(reply, 'provider_unavailable');
    }
    const state = client.randomState();
    const flow: Flow = {
      verifier: client.randomPKCECodeVerifier(),
      nonce: client.randomNonce(),
      at: Date.now(),
      redirectUri: redirectUriOf(request),
    };
    const target = client.buildAuthorizationUrl(provider, {
      ...login.params,
      redirect_uri: flow.redirectUri,
      scope: login.scope,
      state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
    });
    return reply
      .header('Set-Cookie', flowCookie(sessions, sealFlow(state, flow), OIDC_FLOW_TTL_SEC))
      .redirect(target.href, 303);
  });

  app.get<{ Querystring: Record<string, string | string[] | undefined> }>(
    OIDC_CALLBACK_PATH,
    { schema: hidden, config: { publicRoute: true } },
    async (request, reply) => {
      const query = request.query;
      const one = (k: string) => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
      const sealed = cookieValue(request.headers.cookie, flowCookieName(sessions));
      if (one('error') !== undefined)
        return failed(reply, one('error') === 'access_denied' ? 'denied' : 'provider_error');
      if (sealed === undefined || sealed === '') return failed(reply, 'no_flow');
      const state = one('state') ?? '';
      const flow = openFlow(state, sealed);
      if (flow === undefined) return failed(reply, 'state_mismatch');
      if (Date.now() - flow.at > OIDC_FLOW_TTL_SEC * 1000) return failed(reply, 'no_flow');

      let accessToken: string;
      try {
        const provider = await config();
        const q = request.url.indexOf('?');
        const search = q < 0 ? '' : request.url.slice(q);
        const tokens = await client.authorizationCodeGrant(
          provider,
          new URL(`${flow.redirectUri}${search}`),
          { pkceCodeVerifier: flow.verifier, expectedState: state, expectedNonce: flow.nonce, idTokenExpected: true },
          { redirect_uri: flow.redirectUri },
        );
        accessToken = tokens.access_token;
      } catch (error) {
        return failed(reply, isConfigError(error, 'BACKEND_UNAVAILABLE') ? 'provider_unavailable' : 'exchange_failed');
      }

      // The same rules as any API call: the server's authenticators decide who this token is.
      const credential = `Bearer ${accessToken}`;
      const userAgent = request.headers['user-agent'];
      let auth: AuthResult | undefined;
      try {
        for (const authenticate of options.authenticators) {
          auth = await authenticate({
            authorization: credential,
            remoteAddress: request.ip,
            userAgent: typeof userAgent === 'string' ? userAgent : undefined,
          });
          if (auth !== undefined) break;
        }
      } catch (error) {
        return failed(reply, isConfigError(error, 'ACCESS_DENIED') ? 'token_refused' : 'provider_unavailable');
      }
      if (auth === undefined) return failed(reply, 'token_refused');

      let session: Awaited<ReturnType<SessionManager['create']>>;
      try {
        await recordSessionEvent(options, request, auth, 'session.sign-in', 'console sign-in through OpenID Connect');
        session = await sessions.create(credential, auth.actor.id);
      } catch {
        return failed(reply, 'session_failed');
      }
      return reply
        .header('Set-Cookie', [
          flowCookie(sessions, '', 0),
          sessionCookie(sessions, session.id, Math.floor(sessions.ttlMs / 1000)),
        ])
        .redirect('/ui/', 303);
    },
  );
}
