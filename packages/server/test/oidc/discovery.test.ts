/**
 * OIDC discovery against a real OpenID provider (oidc-provider on 127.0.0.1): its
 * `/.well-known/openid-configuration` gives the `jwks_uri`, the document's `issuer` must equal the
 * configured one exactly, and each way a discovery fails has its code. The broken providers are
 * real HTTP servers on 127.0.0.1 answering what a broken or hostile provider would.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isConfigError } from '@summit-config/core';
import { importJWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../src/auth.js';
import {
  createOidcAuthenticator,
  DISCOVERY_PATH,
  DISCOVERY_RETRY_MS,
  discoverOidcProvider,
  MAX_DISCOVERY_DOCUMENT_BYTES,
  type OidcAuthenticatorOptions,
} from '../../src/oidc/index.js';
import { json, ROOT, serverHarness } from '../support.js';
import { AUDIENCE, startProvider, type TestProvider } from './provider.js';

const bearer = (token: string): AuthRequest => ({
  authorization: `Bearer ${token}`,
  remoteAddress: '127.0.0.1',
  userAgent: 'test',
});
const nowSec = () => Math.floor(Date.now() / 1000);
const ROLE_MAPPING = { claim: 'groups', roles: { 'cfg-admins': ['config-admin'] } };

let provider: TestProvider;
const servers: Server[] = [];

beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await provider?.close();
});

/** A real HTTP server on 127.0.0.1; `handler` gets its own base URL. Counts the discovery requests. */
async function idp(
  handler: (base: string, req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ base: string; hits: () => number }> {
  let hits = 0;
  let base = '';
  const server = createServer((req, res) => {
    if (req.url === DISCOVERY_PATH || req.url?.endsWith(DISCOVERY_PATH)) hits++;
    handler(base, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, hits: () => hits };
}

const sendJson = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

/** A token for issuer `iss`, signed with the provider's own key (so the provider's JWKS verifies it). */
async function signedFor(iss: string, claims: Record<string, unknown> = {}): Promise<string> {
  const key = await importJWK(provider.privateJwk, 'RS256');
  return new SignJWT({
    iss,
    aud: AUDIENCE,
    sub: 'alice',
    iat: nowSec(),
    exp: nowSec() + 300,
    groups: ['cfg-admins'],
    ...claims,
  } as JWTPayload)
    .setProtectedHeader({ alg: 'RS256', kid: provider.privateJwk.kid as string })
    .sign(key);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

function options(extra: Partial<OidcAuthenticatorOptions> = {}): OidcAuthenticatorOptions {
  return { issuer: provider.issuer, audience: AUDIENCE, discovery: true, roleMapping: ROLE_MAPPING, ...extra };
}

describe('discoverOidcProvider', () => {
  it("reads the real provider's document: its issuer and jwks_uri", async () => {
    const found = await discoverOidcProvider(provider.issuer);
    expect(found.issuer).toBe(provider.issuer);
    expect(found.jwksUri).toBe(provider.jwksUri);
    expect(found.discoveryUrl).toBe(`${provider.issuer}${DISCOVERY_PATH}`);
    expect(found.document.token_endpoint).toBe(provider.tokenEndpoint);
  });

  it('refuses an issuer that differs from the document, even by a trailing slash (CONSTRAINT_VIOLATION)', async () => {
    // `<issuer>/` finds the same document (the trailing / is dropped), whose issuer has no /.
    const slash = await failure(discoverOidcProvider(`${provider.issuer}/`));
    expect(isConfigError(slash, 'CONSTRAINT_VIOLATION'), String(slash)).toBe(true);
    expect(slash.message).toContain(`names "${provider.issuer}", not the configured issuer "${provider.issuer}/"`);

    // A document that names another issuer (a provider impersonating another one).
    const other = await idp((_base, _req, res) =>
      sendJson(res, 200, { issuer: provider.issuer, jwks_uri: provider.jwksUri }),
    );
    const e = await failure(discoverOidcProvider(other.base));
    expect(isConfigError(e, 'CONSTRAINT_VIOLATION'), String(e)).toBe(true);
    expect(e.message).toMatch(/must be equal exactly/);
  });

  it('is BACKEND_UNAVAILABLE when the document cannot be read', async () => {
    const closed = await idp(() => undefined);
    const port = new URL(closed.base).port;
    const last = servers.pop() as Server;
    await new Promise<void>((resolve) => last.close(() => resolve()));
    const cases: Array<[string, string, RegExp]> = [
      [`http://127.0.0.1:${port}`, 'refused', /could not be fetched/],
      [`${provider.issuer}/realms/none`, 'not found', /answered 404/],
    ];
    const answers: Array<[string, (base: string, req: IncomingMessage, res: ServerResponse) => void, RegExp]> = [
      ['500', (_b, _q, res) => sendJson(res, 500, 'oops'), /answered 500/],
      ['not JSON', (_b, _q, res) => sendJson(res, 200, 'not json'), /is not JSON/],
      ['an array', (_b, _q, res) => sendJson(res, 200, [1]), /is not a JSON object/],
      [
        'a redirect',
        (_b, _q, res) => {
          res.writeHead(302, { location: `${provider.issuer}${DISCOVERY_PATH}` });
          res.end();
        },
        /could not be fetched/,
      ],
      [
        'too large',
        (base, _q, res) =>
          sendJson(res, 200, {
            issuer: base,
            jwks_uri: provider.jwksUri,
            pad: 'x'.repeat(MAX_DISCOVERY_DOCUMENT_BYTES),
          }),
        /is larger than/,
      ],
      ['silent', () => undefined, /did not answer within 300 ms/],
    ];
    for (const [name, handler, message] of answers) {
      cases.push([(await idp(handler)).base, name, message]);
    }
    for (const [issuer, name, message] of cases) {
      const e = await failure(discoverOidcProvider(issuer, { timeoutMs: 300 }));
      expect(isConfigError(e, 'BACKEND_UNAVAILABLE'), `${name}: ${String(e)}`).toBe(true);
      expect(e.message, name).toMatch(message);
    }
  });

  it('refuses a document without a usable jwks_uri, and an issuer it may not fetch (CONSTRAINT_VIOLATION)', async () => {
    const none = await idp((base, _q, res) => sendJson(res, 200, { issuer: base }));
    const remote = await idp((base, _q, res) =>
      sendJson(res, 200, { issuer: base, jwks_uri: 'http://idp.example.com/jwks' }),
    );
    for (const [issuer, message] of [
      [none.base, /jwks_uri is missing/],
      [remote.base, /jwks_uri must be https:/],
      ['http://idp.example.com', /issuer must be https:/],
      ['https://idp.example.com/?tenant=1', /no query or fragment/],
      ['not a url', /issuer must be a URL/],
    ] as const) {
      const e = await failure(discoverOidcProvider(issuer));
      expect(isConfigError(e, 'CONSTRAINT_VIOLATION'), `${issuer}: ${String(e)}`).toBe(true);
      expect(e.message).toMatch(message);
    }
  });
});

describe('createOidcAuthenticator with discovery: true', () => {
  it("verifies the real provider's tokens with the discovered JWKS, and still refuses forgeries", async () => {
    const auth = createOidcAuthenticator(options());
    const result = await auth(bearer(await provider.accessToken()));
    expect(result?.method).toBe('oidc');
    expect(result?.actor.roles).toEqual(['config-admin']);
    expect(result?.actor.credential).toMatch(new RegExp(`^oidc:${provider.issuer}#`));
    const wrongIssuer = await signedFor('https://elsewhere.test');
    const e = await failure(auth(bearer(wrongIssuer)));
    expect(isConfigError(e, 'ACCESS_DENIED'), String(e)).toBe(true);
    const tampered = `${(await signedFor(provider.issuer)).slice(0, -4)}AAAA`;
    expect(isConfigError(await failure(auth(bearer(tampered))), 'ACCESS_DENIED')).toBe(true);
  });

  it('discovers once, and after a failure answers it without fetching until the retry delay', async () => {
    let broken = true;
    const relay = await idp((base, _q, res) =>
      broken ? sendJson(res, 503, 'down') : sendJson(res, 200, { issuer: base, jwks_uri: provider.jwksUri }),
    );
    let now = Date.now();
    const auth = createOidcAuthenticator(options({ issuer: relay.base, now: () => now }));
    expect(relay.hits()).toBe(0); // nothing is fetched at creation
    const token = await signedFor(relay.base);
    const first = await failure(auth(bearer(token)));
    expect(isConfigError(first, 'BACKEND_UNAVAILABLE'), String(first)).toBe(true);
    expect(first.message).toMatch(/could not be discovered: .* answered 503/);
    expect(isConfigError(first.cause, 'BACKEND_UNAVAILABLE')).toBe(true);
    broken = false;
    now += DISCOVERY_RETRY_MS - 1_000;
    expect(isConfigError(await failure(auth(bearer(token))), 'BACKEND_UNAVAILABLE')).toBe(true);
    expect(relay.hits()).toBe(1);
    now += 2_000;
    const [a, b] = await Promise.all([auth(bearer(token)), auth(bearer(token))]);
    expect(a?.actor.id).toBe('alice');
    expect(b?.actor.id).toBe('alice');
    expect(relay.hits()).toBe(2); // concurrent first uses share one fetch
    await auth(bearer(token));
    expect(relay.hits()).toBe(2); // kept
  });

  it('a document naming another issuer is BACKEND_UNAVAILABLE for the request, its cause the CONSTRAINT_VIOLATION', async () => {
    const auth = createOidcAuthenticator(options({ issuer: `${provider.issuer}/` }));
    const e = await failure(auth(bearer(await signedFor(`${provider.issuer}/`))));
    expect(isConfigError(e, 'BACKEND_UNAVAILABLE'), String(e)).toBe(true);
    expect(isConfigError(e.cause, 'CONSTRAINT_VIOLATION')).toBe(true);
    // A bearer that is not a JWT is left to other authenticators, without a discovery.
    expect(await auth(bearer('sct_not_a_jwt'))).toBeUndefined();
  });

  it('through the server: a token is served, a broken discovery is a 503 problem', async () => {
    const good = createOidcAuthenticator(options());
    const bad = createOidcAuthenticator(options({ issuer: `${provider.issuer}/` }));
    for (const [authenticator, status] of [
      [good, 200],
      [bad, 503],
    ] as const) {
      const s = await serverHarness('memory', { authenticators: [authenticator] });
      try {
        const token = authenticator === good ? await provider.accessToken() : await signedFor(`${provider.issuer}/`);
        const res = await s.app.inject({ url: '/api/v1/environments', headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode).toBe(status);
        if (status === 503) {
          expect(json(res)).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
          expect(res.body).not.toContain(provider.issuer);
        }
        // Another credential is still left to other authenticators (none here): 401.
        expect((await s.app.inject({ url: '/api/v1/environments', headers: ROOT })).statusCode).toBe(401);
      } finally {
        await s.close();
      }
    }
  });

  it('checks its options: exclusive with the other key sources, a boolean, an issuer it may fetch', () => {
    const bad = (extra: Partial<OidcAuthenticatorOptions> | Record<string, unknown>, option: string) => {
      let error: unknown;
      try {
        createOidcAuthenticator({ ...options(), ...extra } as OidcAuthenticatorOptions);
      } catch (e) {
        error = e;
      }
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION'), String(error)).toBe(true);
      expect((error as Error).message).toContain(option);
    };
    bad({ jwksUri: provider.jwksUri }, 'discovery');
    bad({ jwks: provider.publicJwks }, 'discovery');
    bad({ discovery: 'yes' }, 'discovery');
    bad({ issuer: 'http://idp.example.com' }, 'issuer');
    bad({ issuer: 'https://idp.example.com#x' }, 'issuer');
    bad({ discovery: false }, 'jwksUri');
    expect(typeof createOidcAuthenticator(options({ issuer: 'https://idp.example.com/realms/ops' }))).toBe('function');
  });
});
