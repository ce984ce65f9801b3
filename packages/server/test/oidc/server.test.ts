/**
 * The OIDC authenticator in the config server (memory store and governance): a token issued by a
 * real OpenID provider reaches a route and its writes are audited as an `oidc` principal; a forged
 * token is 401 invalid_token; an API-token-like bearer still goes to the next authenticator.
 */
import { importJWK, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Authenticator } from '../../src/auth.js';
import { createOidcAuthenticator } from '../../src/oidc/index.js';
import { json, ROOT, type ServerHarness, serverHarness, staticBearer } from '../support.js';
import { AUDIENCE, CLIENT_ID, startProvider, type TestProvider } from './provider.js';

let provider: TestProvider;
let s: ServerHarness;
let oidc: Authenticator;

beforeAll(async () => {
  provider = await startProvider();
  oidc = createOidcAuthenticator({
    issuer: provider.issuer,
    audience: AUDIENCE,
    jwksUri: provider.jwksUri,
    roleMapping: { claim: 'groups', roles: { 'cfg-admins': ['superuser'] } },
  });
  s = await serverHarness('memory', { authenticators: [oidc, staticBearer()] });
});

afterAll(async () => {
  await s?.close();
  await provider?.close();
});

describe('the config server with the OIDC authenticator', () => {
  it('lets a provider-issued token reach the routes and audits it as an oidc principal', async () => {
    const token = await provider.accessToken();
    const headers = { authorization: `Bearer ${token}` };
    const put = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/oidc-flag',
      payload: { config: { on: true } },
      headers,
    });
    expect(put.statusCode).toBe(201);
    const list = await s.app.inject({ url: '/api/v1/configs', headers });
    expect(list.statusCode).toBe(200);
    expect(json(list)).toEqual({ items: [expect.objectContaining({ ref: 'global/oidc-flag', version: 1 })] });

    const audit = await s.app.inject({ url: '/api/v1/audit?ref=global/oidc-flag', headers });
    expect(audit.statusCode).toBe(200);
    const events = json<{ items: Array<Record<string, unknown>> }>(audit).items;
    expect(events.length).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({ actor: CLIENT_ID, origin: expect.objectContaining({ method: 'oidc' }) });
    expect(JSON.stringify(events)).not.toContain(token);
  });

  it('refuses a forged token with 401 invalid_token, and a token for no mapped role gets 403', async () => {
    const [header, payload, signature] = (await provider.accessToken()).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}.${signature}`;
    const res = await s.app.inject({ url: '/api/v1/configs', headers: { authorization: `Bearer ${forged}` } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
    expect(json(res)).toMatchObject({ code: 'ACCESS_DENIED' });
    expect(res.body).not.toContain(signature);

    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
    expect(
      (await s.app.inject({ url: '/api/v1/configs', headers: { authorization: `Bearer ${none}` } })).statusCode,
    ).toBe(401);

    // Validly signed, but its groups map to no role: authenticated, then RBAC says no.
    const key = await importJWK(provider.privateJwk as JWK, 'RS256');
    const noRoles = await new SignJWT({ ...claims, groups: ['nobody'], exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: provider.privateJwk.kid as string })
      .sign(key);
    const denied = await s.app.inject({ url: '/api/v1/configs', headers: { authorization: `Bearer ${noRoles}` } });
    expect(denied.statusCode).toBe(403);
  });

  it('leaves a non-JWT bearer to the next authenticator, and no credential is 401', async () => {
    expect((await s.app.inject({ url: '/api/v1/configs', headers: ROOT })).statusCode).toBe(200);
    const none = await s.app.inject({ url: '/api/v1/configs' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
  });
});
