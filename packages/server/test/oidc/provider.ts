/**
 * A real OpenID provider (the `oidc-provider` package) on 127.0.0.1 and a random port, for the OIDC
 * tests: one RSA signing key, a confidential client that gets JWT access tokens for an audience by
 * the client_credentials grant (resource indicators), with a `groups` claim.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'summit-ci';
export const CLIENT_SECRET = 'summit-ci-secret-0123456789abcdef';
export const AUDIENCE = 'https://config.summit.test';
export const GROUPS = ['cfg-admins', 'everyone'];

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

export async function startProvider(): Promise<TestProvider> {
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
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['summit-test-cookie-key'] },
    features: {
      devInteractions: { enabled: false },
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
    extraTokenClaims: () => ({ groups: GROUPS }),
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
