/** Authentication (401), the Host allow-list, CORS, the body limit, options checks and the OpenAPI document. */
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigServer } from '../src/index.js';
import { auth, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness, staticBearer } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('authentication', () => {
  it('no credential, an unknown one, or another scheme is 401 with WWW-Authenticate: Bearer', async () => {
    s = await serverHarness();
    const none = await s.app.inject({ url: '/api/v1/configs' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(none)).toMatchObject({ status: 401, code: 'ACCESS_DENIED', title: 'Unauthorized' });
    const unknown = await s.app.inject({ url: '/api/v1/configs', headers: auth('nope') });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/);
    const basic = await s.app.inject({ url: '/api/v1/environments', headers: { authorization: 'Basic cm9vdDpyb290' } });
    expect(basic.statusCode).toBe(401);
    // Nothing is written by an unauthenticated write, whatever its body.
    const write = await s.app.inject({ method: 'PUT', url: '/api/v1/configs/global/db', payload: { config: {} } });
    expect(write.statusCode).toBe(401);
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
  });

  it('every /api/v1 route of the OpenAPI document answers 401 without a credential', async () => {
    s = await serverHarness();
    const doc = json<{ paths: Record<string, Record<string, unknown>> }>(
      await s.app.inject({ url: '/api/openapi.json' }),
    );
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const url = path
        .replace('{scope}', 'global')
        .replace('{app}', 'web')
        .replace(/\{[^}]+\}/g, 'x');
      for (const method of Object.keys(ops)) {
        const res = await s.app.inject({ method: method.toUpperCase() as 'GET', url, payload: {} });
        expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 401 });
        checked++;
      }
    }
    expect(checked).toBe(52);
    const spelled = await s.app.inject({ url: '/api/v1/%63onfigs' });
    expect([401, 404]).toContain(spelled.statusCode);
  });

  it('authenticators are tried in order; a failure that is not ACCESS_DENIED is a 500 problem without internals', async () => {
    s = await serverHarness('memory', {
      authenticators: [
        async (r) => (r.authorization === 'Bearer boom' ? Promise.reject(new Error('secret db password')) : undefined),
        staticBearer(),
      ],
    });
    expect((await s.app.inject({ url: '/api/v1/configs', headers: ROOT })).statusCode).toBe(200);
    const boom = await s.app.inject({ url: '/api/v1/configs', headers: auth('boom') });
    expect(boom.statusCode).toBe(500);
    expect(boom.body).not.toContain('password');
    expect(json(boom)).toMatchObject({ status: 500, code: 'INTERNAL' });
  });

  it('unknown routes are a 404 problem; the request id is echoed', async () => {
    s = await serverHarness();
    const res = await s.app.inject({ url: '/api/v1/nothing', headers: { ...ROOT, 'x-request-id': 'trace-1' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['request-id']).toBe('trace-1');
    expect(json(res)).toMatchObject({ code: 'NOT_FOUND', requestId: 'trace-1' });
  });
});

describe('limits', () => {
  it('refuses another Host with 421, answers loopback names', async () => {
    s = await serverHarness();
    const evil = await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, host: 'evil.example:8080' } });
    expect(evil.statusCode).toBe(421);
    expect(json(evil)).toMatchObject({ status: 421, code: 'CONSTRAINT_VIOLATION' });
    for (const host of ['localhost:4000', '127.0.0.1', '[::1]:4000']) {
      expect((await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, host } })).statusCode).toBe(200);
    }
    const doc = await s.app.inject({ url: '/api/openapi.json', headers: { host: 'evil.example' } });
    expect(doc.statusCode).toBe(421);
  });

  it('allowedHosts replaces the default list', async () => {
    s = await serverHarness('memory', { allowedHosts: ['config.internal'] });
    expect(
      (await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, host: 'config.internal:443' } })).statusCode,
    ).toBe(200);
    expect((await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, host: 'localhost' } })).statusCode).toBe(
      421,
    );
  });

  it('CORS is closed by default: no Access-Control-* header for any origin', async () => {
    s = await serverHarness();
    const res = await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, origin: 'https://ui.example' } });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const preflight = await s.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/configs',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'PUT' },
    });
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('CORS open for the listed origins only', async () => {
    s = await serverHarness('memory', { cors: { origins: ['https://ui.example'] } });
    const ok = await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, origin: 'https://ui.example' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://ui.example');
    expect(ok.headers.vary).toMatch(/Origin/);
    const preflight = await s.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/configs/global/db',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'PUT' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toContain('PUT');
    expect(preflight.headers['access-control-allow-headers']).toContain('If-Match');
    const other = await s.app.inject({ url: '/api/v1/configs', headers: { ...ROOT, origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a body over the limit is 413 and writes nothing', async () => {
    s = await serverHarness('memory', { bodyLimit: 1024 });
    const res = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/big',
      payload: { config: { blob: 'x'.repeat(2000) } },
      headers: ROOT,
    });
    expect(res.statusCode).toBe(413);
    expect(json(res)).toMatchObject({ status: 413, code: 'DOCUMENT_TOO_LARGE' });
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
  });

  it("a document over the service's own limit is 413 DOCUMENT_TOO_LARGE", async () => {
    s = await serverHarness('memory', { bodyLimit: 4 * 1024 * 1024 });
    const res = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/big',
      payload: { config: { blob: 'x'.repeat(300 * 1024) } },
      headers: ROOT,
    });
    expect(res.statusCode).toBe(413);
    expect(json(res).code).toBe('DOCUMENT_TOO_LARGE');
  });

  it('without a store, resolved reads are a 501 problem and the rest works', async () => {
    s = await serverHarness();
    const app = createConfigServer({ service: s.h.service, authenticators: [staticBearer()] });
    try {
      const res = await app.inject({ url: '/api/v1/resolved/web/development/db', headers: ROOT });
      expect(res.statusCode).toBe(501);
      expect(json(res)).toMatchObject({ status: 501, title: 'Not Implemented' });
      expect((await app.inject({ url: '/api/v1/configs', headers: ROOT })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('checks its options, naming the bad one', async () => {
    s = await serverHarness();
    const service = s.h.service;
    expect(() => createConfigServer({ service, authenticators: [] })).toThrow(/authenticators/);
    expect(() => createConfigServer({ service, authenticators: [staticBearer()], bodyLimit: 0 })).toThrow(/bodyLimit/);
    expect(() => createConfigServer({ service, authenticators: [staticBearer()], allowedHosts: [] })).toThrow(
      /allowedHosts/,
    );
    expect(() => createConfigServer({ service, authenticators: [staticBearer()], cors: { origins: ['*'] } })).toThrow(
      /cors\.origins/,
    );
    expect(() => createConfigServer({ service: {} as never, authenticators: [staticBearer()] })).toThrow(/service/);
  });
});

describe('OpenAPI', () => {
  it('serves an OpenAPI 3.1 document with every route, without authentication', async () => {
    s = await serverHarness();
    const res = await s.app.inject({ url: '/api/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res);
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(routes).toEqual(
      [
        'GET /api/v1/configs',
        'GET /api/v1/configs/{scope}/{*}',
        'PUT /api/v1/configs/{scope}/{*}',
        'DELETE /api/v1/configs/{scope}/{*}',
        'GET /api/v1/versions/{scope}/{*}',
        'GET /api/v1/diffs/{scope}/{*}',
        'POST /api/v1/rollbacks/{scope}/{*}',
        'GET /api/v1/resolved/{app}/{environment}/{*}',
        'GET /api/v1/environments',
        'POST /api/v1/environments',
        'PUT /api/v1/environments/{name}',
        'GET /api/v1/schemas',
        'GET /api/v1/schemas/{*}',
        'PUT /api/v1/schemas/{*}',
        'GET /api/v1/audit',
        'POST /api/v1/audit/verify',
        'GET /api/v1/report',
        'POST /api/v1/change-requests',
        'GET /api/v1/change-requests',
        'GET /api/v1/change-requests/{id}',
        'POST /api/v1/change-requests/{id}/approve',
        'POST /api/v1/change-requests/{id}/reject',
        'POST /api/v1/change-requests/{id}/cancel',
        'POST /api/v1/change-requests/{id}/apply',
        'GET /api/v1/watch',
        'GET /api/v1/export',
        'POST /api/v1/import',
        'GET /api/v1/whoami',
        'GET /api/v1/tokens',
        'POST /api/v1/tokens',
        'DELETE /api/v1/tokens/{id}',
        'POST /api/v1/schemas/{*}',
        'GET /api/v1/policies',
        'GET /api/v1/policies/{name}',
        'PUT /api/v1/policies/{name}',
        'GET /api/v1/secrets',
        'GET /api/v1/secrets/{name}',
        'GET /api/v1/secrets/{name}/rotation',
        'PUT /api/v1/secrets/{name}/rotation',
        'DELETE /api/v1/secrets/{name}/rotation',
        'POST /api/v1/secrets/{name}/rotate',
        'GET /api/v1/status',
        'GET /api/v1/drift',
        'POST /api/v1/session',
        'GET /api/v1/session',
        'DELETE /api/v1/session',
        'POST /api/v1/audit/checkpoint',
        'POST /api/v1/resign',
        'POST /api/v1/reconcile',
        'GET /api/v1/rollouts',
        'POST /api/v1/rollouts/{scope}/{*}',
        'POST /api/v1/gitops/webhook',
      ].sort(),
    );
    const put = doc.paths['/api/v1/configs/{scope}/{*}']?.put as {
      responses: Record<string, unknown>;
      security: unknown;
    };
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '412', '413']));
    expect(put.security).toEqual([{ bearer: [] }]);
  });
});
