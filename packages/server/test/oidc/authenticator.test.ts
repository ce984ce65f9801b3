/**
 * The OIDC authenticator against a real OpenID provider (oidc-provider on 127.0.0.1): its access
 * tokens, fetched over HTTP, verify with the JWKS by URL and from a file; forged tokens (alg none,
 * HS256 keyed with the provider's RSA public key, expired, not yet valid, wrong issuer or audience,
 * unknown kid, tampered payload, no id claim) are refused with ACCESS_DENIED, never echoing the token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConfigError } from '@summit-config/core';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authenticator, AuthRequest } from '../../src/auth.js';
import { createOidcAuthenticator, type OidcAuthenticatorOptions } from '../../src/oidc/index.js';
import { AUDIENCE, CLIENT_ID, startProvider, type TestProvider } from './provider.js';

const request = (authorization: string | undefined): AuthRequest => ({
  authorization,
  remoteAddress: '127.0.0.1',
  userAgent: 'test',
});
const bearer = (token: string) => request(`Bearer ${token}`);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSec = () => Math.floor(Date.now() / 1000);

let provider: TestProvider;
let dir: string;
let jwksFile: string;
let byUrl: Authenticator;
let byFile: Authenticator;

const ROLE_MAPPING = { claim: 'groups', roles: { 'cfg-admins': ['config-admin'], everyone: ['reader'] } };

function options(extra: Partial<OidcAuthenticatorOptions> = {}): OidcAuthenticatorOptions {
  return {
    issuer: provider.issuer,
    audience: AUDIENCE,
    jwksUri: provider.jwksUri,
    roleMapping: ROLE_MAPPING,
    ...extra,
  };
}

/** A token signed with the provider's own RSA key, with `claims` over valid defaults (`undefined` drops one). */
async function signed(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const key = await importJWK(provider.privateJwk, 'RS256');
  const payload: Record<string, unknown> = {
    iss: provider.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    iat: nowSec(),
    exp: nowSec() + 300,
    groups: ['cfg-admins'],
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload as JWTPayload)
    .setProtectedHeader({ alg: 'RS256', kid: provider.privateJwk.kid as string, typ: 'JWT', ...header })
    .sign(key);
}

async function refusal(promise: Promise<unknown>, token?: string): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConfigError(error, 'ACCESS_DENIED'), String(error)).toBe(true);
  const message = (error as Error).message;
  if (token) {
    for (const part of token.split('.').filter((p) => p.length > 8)) expect(message).not.toContain(part);
  }
  return error as Error;
}

beforeAll(async () => {
  provider = await startProvider();
  dir = mkdtempSync(join(tmpdir(), 'summit-oidc-'));
  jwksFile = join(dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(provider.publicJwks));
  byUrl = createOidcAuthenticator(options());
  byFile = createOidcAuthenticator(options({ jwksUri: undefined, jwksFile }));
});

afterAll(async () => {
  await provider?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('createOidcAuthenticator with a real OpenID provider', () => {
  it('accepts a provider-issued access token with the JWKS by URL and from a file', async () => {
    const token = await provider.accessToken();
    const expected = {
      actor: {
        id: CLIENT_ID,
        roles: ['config-admin', 'reader'],
        kind: 'oidc',
        credential: `oidc:${provider.issuer}#${CLIENT_ID}`,
      },
      method: 'oidc',
    };
    expect(await byUrl(bearer(token))).toEqual(expected);
    expect(await byFile(bearer(token))).toEqual(expected);
    // The scheme is case-insensitive.
    expect(await byUrl(request(`bearer   ${token}`))).toEqual(expected);
    // The provider's discovery document names the same jwks_uri.
    const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
      issuer: string;
    };
    expect(discovery).toMatchObject({ jwks_uri: provider.jwksUri, issuer: provider.issuer });
  });

  it('accepts an audience list that names the token audience', async () => {
    const auth = createOidcAuthenticator(options({ audience: ['https://other.test', AUDIENCE] }));
    expect((await auth(bearer(await provider.accessToken())))?.actor.id).toBe(CLIENT_ID);
  });

  it('leaves no header, another scheme and non-JWT bearers to another authenticator', async () => {
    expect(await byUrl(request(undefined))).toBeUndefined();
    expect(await byUrl(request(''))).toBeUndefined();
    expect(await byUrl(request('Basic dXNlcjpwYXNz'))).toBeUndefined();
    expect(await byUrl(bearer('sct_k3d7x2mq7ahf_NpRl4X1_yF19fIfuHIFBcaAB19Kf2ZTcc4SyxpJk0_A'))).toBeUndefined();
    expect(await byUrl(bearer('root-secret'))).toBeUndefined();
    expect(await byUrl(bearer('a.b.c'))).toBeUndefined(); // not a JSON header
    const token = await provider.accessToken();
    expect(await byUrl(request(`Token ${token}`))).toBeUndefined();
  });

  it('refuses a token whose issuer or audience is not the configured one (provider-issued)', async () => {
    const token = await provider.accessToken();
    const wrongIssuer = createOidcAuthenticator(options({ issuer: 'http://127.0.0.1:1/other' }));
    expect((await refusal(wrongIssuer(bearer(token)), token)).message).toMatch(/issuer/);
    const wrongAudience = createOidcAuthenticator(options({ audience: 'https://someone-else.test' }));
    expect((await refusal(wrongAudience(bearer(token)), token)).message).toMatch(/audience/);
  });

  it('refuses alg none', async () => {
    const token = await signed();
    const [, payload] = token.split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      const forged = `${b64({ alg, typ: 'JWT' })}.${payload}.`;
      await refusal(byUrl(bearer(forged)), forged);
      await refusal(byFile(bearer(forged)), forged);
      // With the original signature kept too.
      const withSig = `${b64({ alg, typ: 'JWT' })}.${payload}.${token.split('.')[2]}`;
      await refusal(byUrl(bearer(withSig)), withSig);
    }
  });

  it('refuses HS256 signed with the provider RSA public key as the secret (key confusion)', async () => {
    const publicKey = await importJWK(provider.publicJwks.keys[0] as JWK, 'RS256', { extractable: true });
    const pem = await exportSPKI(publicKey as Parameters<typeof exportSPKI>[0]);
    const claims = { iss: provider.issuer, aud: AUDIENCE, sub: 'mallory', exp: nowSec() + 300, groups: ['cfg-admins'] };
    const secrets = [
      new TextEncoder().encode(pem),
      new TextEncoder().encode(pem.trim()),
      new TextEncoder().encode(JSON.stringify(provider.publicJwks.keys[0])),
    ];
    for (const secret of secrets) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: provider.privateJwk.kid as string })
        .sign(secret);
      expect((await refusal(byUrl(bearer(forged)), forged)).message).toMatch(/algorithm/);
      await refusal(byFile(bearer(forged)), forged);
    }
    // Even with HMAC enabled by a (different) shared secret, the forgery does not verify.
    const withSecret = createOidcAuthenticator(options({ sharedSecret: 'a-shared-secret-of-at-least-32-bytes!!' }));
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secrets[0] as Uint8Array);
    await refusal(withSecret(bearer(forged)), forged);
  });

  it('refuses an expired token, honouring the clock tolerance', async () => {
    const expired = await signed({ iat: nowSec() - 600, exp: nowSec() - 120 });
    expect((await refusal(byUrl(bearer(expired)), expired)).message).toMatch(/expired/);
    // 10 s past exp is within the default 30 s of tolerance; not with 0.
    const justExpired = await signed({ iat: nowSec() - 600, exp: nowSec() - 10 });
    expect((await byUrl(bearer(justExpired)))?.actor.id).toBe('alice');
    const strict = createOidcAuthenticator(options({ clockToleranceSec: 0 }));
    await refusal(strict(bearer(justExpired)), justExpired);
    // A token without exp is refused.
    const noExp = await signed({ exp: undefined });
    await refusal(byUrl(bearer(noExp)), noExp);
  });

  it('refuses a token not yet valid (nbf) and follows the injected clock', async () => {
    const early = await signed({ nbf: nowSec() + 300 });
    expect((await refusal(byUrl(bearer(early)), early)).message).toMatch(/not valid yet/);
    const later = createOidcAuthenticator(options({ now: () => Date.now() + 301_000 }));
    expect((await later(bearer(early)))?.actor.id).toBe('alice');
    // A provider token is expired for a clock ten minutes ahead.
    const ahead = createOidcAuthenticator(options({ now: () => Date.now() + 600_000 }));
    const token = await provider.accessToken();
    await refusal(ahead(bearer(token)), token);
  });

  it('refuses a wrong issuer and a wrong audience, signed with the provider key', async () => {
    const wrongIss = await signed({ iss: 'https://evil.example' });
    expect((await refusal(byUrl(bearer(wrongIss)), wrongIss)).message).toMatch(/issuer/);
    const wrongAud = await signed({ aud: 'https://other.test' });
    expect((await refusal(byUrl(bearer(wrongAud)), wrongAud)).message).toMatch(/audience/);
    const noAud = await signed({ aud: undefined });
    await refusal(byUrl(bearer(noAud)), noAud);
  });

  it('refuses an unknown kid and a foreign key under the provider kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const claims = { iss: provider.issuer, aud: AUDIENCE, sub: 'mallory', exp: nowSec() + 300 };
    const unknownKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'unknown-kid' })
      .sign(privateKey);
    expect((await refusal(byUrl(bearer(unknownKid)), unknownKid)).message).toMatch(/key/);
    await refusal(byFile(bearer(unknownKid)), unknownKid);
    const stolenKid = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: provider.privateJwk.kid as string })
      .sign(privateKey);
    expect((await refusal(byUrl(bearer(stolenKid)), stolenKid)).message).toMatch(/signature/);
    const noKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    await refusal(byUrl(bearer(noKid)), noKid);
    // An ES256 key the provider never had.
    const ec = await generateKeyPair('ES256');
    const esForged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey);
    await refusal(byUrl(bearer(esForged)), esForged);
  });

  it('refuses a provider token whose payload or header was tampered with', async () => {
    const token = await provider.accessToken();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    for (const change of [{ sub: 'root' }, { groups: ['cfg-admins', 'superusers'] }, { exp: nowSec() + 86_400 }]) {
      const tampered = `${header}.${b64({ ...claims, ...change })}.${signature}`;
      expect((await refusal(byUrl(bearer(tampered)), tampered)).message).toMatch(/signature/);
    }
    const headerClaims = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
    const newHeader = `${b64({ ...headerClaims, typ: 'JWT' })}.${payload}.${signature}`;
    await refusal(byUrl(bearer(newHeader)), newHeader);
    const truncated = `${header}.${payload}.${signature.slice(0, -4)}`;
    await refusal(byUrl(bearer(truncated)), truncated);
    const noSignature = `${header}.${payload}.`;
    await refusal(byUrl(bearer(noSignature)), noSignature);
  });

  it('refuses a token without the id claim', async () => {
    const noSub = await signed({ sub: undefined });
    await refusal(byUrl(bearer(noSub)), noSub);
    const byEmail = createOidcAuthenticator(options({ actorClaim: 'email' }));
    const noEmail = await signed();
    expect((await refusal(byEmail(bearer(noEmail)), noEmail)).message).toMatch(/email/);
    const badSub = await signed({ sub: 'a\u0000b' });
    await refusal(byUrl(bearer(badSub)), badSub);
  });

  it('takes the actor id from email or preferred_username, and roles from a roles claim and mappings', async () => {
    const token = await signed({
      email: 'alice@example.com',
      preferred_username: 'alice.w',
      roles: ['deployer', 'bad role!', 'reader'],
      scope: 'config:read ops',
      realm_access: { roles: ['ops'] },
      groups: ['cfg-admins', 'unmapped'],
    });
    const byEmail = createOidcAuthenticator(
      options({ actorClaim: 'email', rolesClaim: 'roles', groupsClaim: 'groups' }),
    );
    expect(await byEmail(bearer(token))).toEqual({
      actor: {
        id: 'alice@example.com',
        roles: ['deployer', 'reader', 'config-admin'],
        groups: ['cfg-admins', 'unmapped'],
        kind: 'oidc',
        credential: `oidc:${provider.issuer}#alice`,
      },
      method: 'oidc',
    });
    const byUsername = createOidcAuthenticator(
      options({
        actorClaim: 'preferred_username',
        rolesClaim: 'scope',
        roleMapping: [ROLE_MAPPING, { claim: 'realm_access.roles', roles: { ops: ['operator'] } }],
      }),
    );
    const result = await byUsername(bearer(token));
    expect(result?.actor.id).toBe('alice.w');
    // `config:read` is not a role name ([A-Za-z0-9_.-]): dropped.
    expect(result?.actor.roles).toEqual(['ops', 'config-admin', 'operator']);
    // No mapping matches: no roles, still authenticated (RBAC decides).
    const plain = createOidcAuthenticator(options({ roleMapping: undefined }));
    expect((await plain(bearer(token)))?.actor.roles).toEqual([]);
  });

  it('accepts HS256 only with an explicit shared secret, verified with that secret only', async () => {
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const claims = { iss: provider.issuer, aud: AUDIENCE, sub: 'svc', exp: nowSec() + 300 };
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    // Not accepted by default.
    await refusal(byUrl(bearer(hs)), hs);
    const withSecret = createOidcAuthenticator(options({ sharedSecret: secret }));
    expect((await withSecret(bearer(hs)))?.actor.id).toBe('svc');
    // RSA tokens still verify with the JWKS.
    expect((await withSecret(bearer(await provider.accessToken())))?.actor.id).toBe(CLIENT_ID);
    // Secret only, no JWKS: RS256 is not accepted.
    const secretOnly = createOidcAuthenticator({ issuer: provider.issuer, audience: AUDIENCE, sharedSecret: secret });
    expect((await secretOnly(bearer(hs)))?.actor.id).toBe('svc');
    const rs = await provider.accessToken();
    await refusal(secretOnly(bearer(rs)), rs);
    // A narrowed algorithm list refuses what it does not name.
    const es256Only = createOidcAuthenticator(options({ algorithms: ['ES256'] }));
    await refusal(es256Only(bearer(rs)), rs);
  });

  it('verifies EdDSA and ES256 tokens from a JWKS given inline', async () => {
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const es = await generateKeyPair('ES256');
    const jwks = {
      keys: [
        { ...(await exportJWK(ed.publicKey)), kid: 'ed-1' },
        { ...(await exportJWK(es.publicKey)), kid: 'es-1' },
      ],
    };
    const auth = createOidcAuthenticator({ issuer: 'https://idp.test', audience: 'cfg', jwks });
    const claims = { iss: 'https://idp.test', aud: 'cfg', sub: 'u1', exp: nowSec() + 60 };
    const edToken = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: 'ed-1' }).sign(ed.privateKey);
    const esToken = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'es-1' }).sign(es.privateKey);
    expect((await auth(bearer(edToken)))?.actor.credential).toBe('oidc:https://idp.test#u1');
    expect((await auth(bearer(esToken)))?.actor.id).toBe('u1');
    // The ES key under the Ed kid: refused.
    const swapped = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'ed-1' }).sign(es.privateKey);
    await refusal(auth(bearer(swapped)), swapped);
  });

  it('tries each matching key for a token without kid', async () => {
    const [a, b, c] = await Promise.all([generateKeyPair('RS256'), generateKeyPair('RS256'), generateKeyPair('RS256')]);
    const jwks = { keys: [await exportJWK(a.publicKey), await exportJWK(b.publicKey)] };
    const auth = createOidcAuthenticator({ issuer: 'https://idp.test', audience: 'cfg', jwks });
    const claims = { iss: 'https://idp.test', aud: 'cfg', sub: 'u2', exp: nowSec() + 60 };
    const bySecond = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(b.privateKey);
    expect((await auth(bearer(bySecond)))?.actor.id).toBe('u2');
    const byOther = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(c.privateKey);
    expect((await refusal(auth(bearer(byOther)), byOther)).message).toMatch(/signature/);
    const expired = await new SignJWT({ ...claims, exp: nowSec() - 600 })
      .setProtectedHeader({ alg: 'RS256' })
      .sign(b.privateKey);
    expect((await refusal(auth(bearer(expired)), expired)).message).toMatch(/expired/);
  });

  it('a JWKS URL that cannot be fetched is BACKEND_UNAVAILABLE, not a refusal', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const auth = createOidcAuthenticator(options({ jwksUri: `http://127.0.0.1:${port}/jwks`, jwksTimeoutMs: 2000 }));
    const error = await auth(bearer(await provider.accessToken())).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConfigError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);

    // A JWKS endpoint that answers 500, or something that is not a key set.
    const answers = [
      { status: 500, body: 'oops' },
      { status: 200, body: 'not json' },
      { status: 200, body: '{"keys":"nope"}' },
    ];
    for (const answer of answers) {
      const broken = createServer((_req, res) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(answer.body);
      });
      await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
      const brokenPort = (broken.address() as AddressInfo).port;
      try {
        const viaBroken = createOidcAuthenticator(options({ jwksUri: `http://127.0.0.1:${brokenPort}/jwks` }));
        const e = await viaBroken(bearer(await provider.accessToken())).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(isConfigError(e, 'BACKEND_UNAVAILABLE'), `${answer.body}: ${String(e)}`).toBe(true);
      } finally {
        broken.closeAllConnections();
        await new Promise<void>((resolve) => broken.close(() => resolve()));
      }
    }
  });
});

describe('createOidcAuthenticator options', () => {
  const base = () => ({ issuer: 'https://idp.test', audience: 'cfg', jwksUri: 'https://idp.test/jwks' });
  const bad = (opts: unknown, option: string) => {
    let error: unknown;
    try {
      createOidcAuthenticator(opts as OidcAuthenticatorOptions);
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error, 'CONSTRAINT_VIOLATION'), String(error)).toBe(true);
    expect((error as Error).message).toContain(option);
  };

  it('refuses bad options naming the option', () => {
    bad(undefined, 'options');
    bad({ ...base(), issuer: '' }, 'issuer');
    bad({ ...base(), audience: [] }, 'audience');
    bad({ ...base(), audience: 7 }, 'audience');
    bad({ issuer: 'https://idp.test', audience: 'cfg' }, 'jwksUri');
    bad({ ...base(), jwksFile: '/x.json' }, 'jwksUri');
    bad({ ...base(), jwksUri: 'not a url' }, 'jwksUri');
    bad({ ...base(), jwksUri: 'http://idp.example.com/jwks' }, 'jwksUri');
    bad({ ...base(), jwksUri: 'file:///etc/jwks.json' }, 'jwksUri');
    bad({ ...base(), algorithms: ['none'] }, 'algorithms');
    bad({ ...base(), algorithms: ['RS256', 'HS256'] }, 'algorithms');
    bad({ ...base(), algorithms: ['XS999'] }, 'algorithms');
    bad({ ...base(), algorithms: [] }, 'algorithms');
    bad({ ...base(), sharedSecret: 'short' }, 'sharedSecret');
    bad({ ...base(), clockToleranceSec: -1 }, 'clockToleranceSec');
    bad({ ...base(), clockToleranceSec: Number.NaN }, 'clockToleranceSec');
    bad(
      { ...base(), roleMapping: { claim: 'groups', roles: { admins: ['bad role'] } } },
      'roleMapping[0].roles.admins',
    );
    bad({ ...base(), roleMapping: { claim: '', roles: {} } }, 'roleMapping[0].claim');
    bad({ ...base(), roleMapping: { claim: 'groups', roles: ['x'] } }, 'roleMapping[0].roles');
    bad({ ...base(), rolesClaim: '' }, 'rolesClaim');
    bad({ ...base(), actorClaim: 5 }, 'actorClaim');
    bad({ ...base(), jwksTimeoutMs: 0 }, 'jwksTimeoutMs');
    bad(
      { issuer: 'https://idp.test', audience: 'cfg', jwksFile: join(tmpdir(), 'summit-no-such-jwks.json') },
      'jwksFile',
    );
    bad({ issuer: 'https://idp.test', audience: 'cfg', jwks: { keys: [] } }, 'jwks');
  });

  it('refuses a JWKS with private or symmetric keys', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const priv = await exportJWK(privateKey);
    bad({ issuer: 'https://idp.test', audience: 'cfg', jwks: { keys: [priv] } }, 'jwks');
    bad({ issuer: 'https://idp.test', audience: 'cfg', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks');
  });

  it('accepts http: JWKS URLs to loopback hosts only', () => {
    for (const uri of ['http://127.0.0.1:9/jwks', 'http://localhost:9/jwks', 'http://[::1]:9/jwks']) {
      expect(typeof createOidcAuthenticator({ ...base(), jwksUri: uri })).toBe('function');
    }
  });
});
