/**
 * A real OpenID provider (the `oidc-provider` package) on 127.0.0.1 and a random port, for the OIDC
 * tests: one RSA signing key, a confidential client that gets JWT access tokens for an audience by
 * the client_credentials grant (resource indicators), with a `groups` claim.
 *
 * With `authorizationCode` it also has a browser client for the console's sign-in: the
 * authorization code grant with PKCE required (S256), a redirect URI on 127.0.0.1, and
 * oidc-provider's development login and consent pages (any login, any password; the account id is
 * the login). Its access tokens are JWTs for the same audience, with the account's `groups`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'summit-ci';
export const CLIENT_SECRET = 'summit-ci-secret-0123456789abcdef';
export const AUDIENCE = 'https://config.summit.test';
export const GROUPS = ['cfg-admins', 'everyone'];
export const LOGIN_CLIENT_ID = 'summit-console';
export const LOGIN_CLIENT_SECRET = 'summit-console-secret-0123456789abcdef';

/** The browser client of {@link startProvider}'s `authorizationCode` option. */
export interface AuthorizationCodeClient {
  /** The redirect URIs registered for {@link LOGIN_CLIENT_ID} (exact match). */
  redirectUris: string[];
  /** `groups` of each account (its login); an account not listed gets `['everyone']`. */
  accountGroups?: Record<string, string[]>;
}

export interface TestProvider {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  /** The provider's public JWKS, as served at jwks_uri. */
  publicJwks: { keys: JWK[] };
  /** The signing key's private JWK (for forging tokens that the test expects to be accepted). */
  privateJwk: JWK;
  /** A fresh access token (a JWT for `resource`, default {@link AUDIENCE}) over HTTP from the token endpoint. */
  accessToken(resource?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startProvider(
  options: { authorizationCode?: AuthorizationCodeClient } = {},
): Promise<TestProvider> {
  const login = options.authorizationCode;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid: 'test-rsa-1', alg: 'RS256', use: 'sig' };

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
      },
      ...(login
        ? [
            {
              client_id: LOGIN_CLIENT_ID,
              client_secret: LOGIN_CLIENT_SECRET,
              grant_types: ['authorization_code'],
              redirect_uris: login.redirectUris,
              response_types: ['code' as const],
              token_endpoint_auth_method: 'client_secret_basic' as const,
            },
          ]
        : []),
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['summit-test-cookie-key'] },
    features: {
      devInteractions: { enabled: login !== undefined },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'config',
          audience: AUDIENCE,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { ClientCredentials: 300 },
    extraTokenClaims: (_ctx, token) => {
      // A user's token (authorization code) carries its account's groups; a client's, GROUPS.
      const account = login && 'accountId' in token ? token.accountId : undefined;
      if (typeof account === 'string') return { groups: login?.accountGroups?.[account] ?? ['everyone'] };
      return { groups: GROUPS };
    },
    ...(login
      ? {
          // PKCE on every authorization request, S256 only.
          pkce: { methods: ['S256'], required: () => true },
          findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
          ttl: {
            ClientCredentials: 300,
            AccessToken: 300,
            IdToken: 300,
            AuthorizationCode: 60,
            Interaction: 600,
            Session: 3600,
            Grant: 3600,
          },
          // The session cookie over plain HTTP: `SameSite=None` needs `Secure`, which Chromium enforces.
          cookies: { keys: ['summit-test-cookie-key'], long: { httpOnly: true, sameSite: 'lax' } },
        }
      : {}),
  });
  // Quiet: a refused request is expected in some tests.
  provider.on('server_error', () => {});
  server.on('request', provider.callback());

  const tokenEndpoint = `${issuer}/token`;
  const jwksUri = `${issuer}/jwks`;
  const publicJwks = (await (await fetch(jwksUri)).json()) as { keys: JWK[] };

  return {
    issuer,
    jwksUri,
    tokenEndpoint,
    publicJwks,
    privateJwk,
    async accessToken(resource = AUDIENCE) {
      const res = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          resource,
          scope: 'config',
        }),
      });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!res.ok || !body.access_token) {
        throw new Error(`token endpoint: ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
      }
      return body.access_token;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
