/**
 * The response check of the test harness (`openapi-check.ts`): every `inject` response is checked
 * against the OpenAPI document the server serves. These tests make it fail on purpose (a body, a
 * status, a content type the document does not declare), so that it cannot pass silently, and
 * sweep every documented operation through the answers of the server's own hooks.
 */
import type { FastifyReply } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenApiChecker, OpenApiViolation } from './openapi-check.js';
import { auth, json, ROOT, type ServerHarness, serverHarness } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const thing = {
  type: 'object',
  properties: { n: { type: 'integer' }, name: { type: 'string' } },
  required: ['n'],
  additionalProperties: false,
} as const;

/** Sends `body` as is (JSON.stringify), past Fastify's response serializer. */
const raw = (reply: FastifyReply, body: unknown, type = 'application/json; charset=utf-8', status = 200) =>
  reply
    .code(status)
    .type(type)
    .serializer((v) => (typeof v === 'string' ? v : JSON.stringify(v)))
    .send(body);

/** A harness with test routes under /api/v1/zz (registered before the first inject loads the document). */
async function withTestRoutes(): Promise<ServerHarness> {
  const h = await serverHarness();
  h.app.addSchema({ $id: 'ZzThing', ...thing });
  // In a plugin, as the server's own routes: @fastify/swagger sees routes added after it loads.
  h.app.register(async (zz) => {
    const response = { 200: { $ref: 'ZzThing#' } };
    zz.get('/api/v1/zz/ok', { schema: { response } }, async (_r, reply) => raw(reply, { n: 1, name: 'a' }));
    zz.get('/api/v1/zz/wrong-body', { schema: { response } }, async (_r, reply) => raw(reply, { n: 'one' }));
    zz.get('/api/v1/zz/extra-member', { schema: { response } }, async (_r, reply) => raw(reply, { n: 1, secret: 'x' }));
    zz.get('/api/v1/zz/undeclared-status', { schema: { response } }, async (_r, reply) =>
      raw(reply, { n: 1 }, undefined, 418),
    );
    zz.get('/api/v1/zz/wrong-type', { schema: { response } }, async (_r, reply) => raw(reply, 'n=1', 'text/plain'));
    zz.get('/api/v1/zz/not-json', { schema: { response } }, async (_r, reply) => raw(reply, '{"n":'));
    zz.get('/api/v1/zz/bad-problem', { schema: { response } }, async (_r, reply) =>
      raw(reply, { status: 500, detail: 'no code, no type' }, 'application/problem+json', 500),
    );
    const ndjson = { 200: { content: { 'application/x-ndjson': { schema: thing } } } };
    zz.get('/api/v1/zz/stream', { schema: { response: ndjson } }, async (_r, reply) =>
      raw(reply, '{"n":1}\nnot json at all\n', 'application/x-ndjson'),
    );
    zz.get('/api/v1/zz/stream-wrong-type', { schema: { response: ndjson } }, async (_r, reply) =>
      raw(reply, 'data: 1\n\n', 'text/event-stream'),
    );
  });
  return h;
}

async function violationOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenApiViolation);
  return (error as OpenApiViolation).message;
}

describe('the harness checks every response against the served OpenAPI document', () => {
  it('passes a conforming response, including one whose schema is a $ref into components', async () => {
    s = await withTestRoutes();
    const ok = await s.app.inject({ url: '/api/v1/zz/ok', headers: ROOT });
    expect(json(ok)).toEqual({ n: 1, name: 'a' });
    const doc = json<{ paths: Record<string, { get: { responses: Record<string, unknown> } }> }>(
      await s.app.inject({ url: '/api/openapi.json' }),
    );
    // The route's schema is a reference into components, which the checker resolved.
    expect(JSON.stringify(doc.paths['/api/v1/zz/ok']?.get.responses['200'])).toContain(
      '"$ref":"#/components/schemas/ZzThing"',
    );
    expect(s.openapi?.checker()?.checked).toBeGreaterThanOrEqual(2);
  });

  it('fails a body that violates the schema of its status', async () => {
    s = await withTestRoutes();
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/wrong-body', headers: ROOT }))).toMatch(
      /GET \/api\/v1\/zz\/wrong-body -> 200: body\/n must be integer/,
    );
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/extra-member', headers: ROOT }))).toMatch(
      /must NOT have additional properties/,
    );
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/not-json', headers: ROOT }))).toMatch(
      /the application\/json body is not JSON/,
    );
    // An error response is checked against the Problem component.
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/bad-problem', headers: ROOT }))).toMatch(
      /-> 500: body must have required property/,
    );
  });

  it('fails a status or a content type the operation does not declare', async () => {
    s = await withTestRoutes();
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/undeclared-status', headers: ROOT }))).toMatch(
      /status 418 is not declared for GET \/api\/v1\/zz\/undeclared-status/,
    );
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/wrong-type', headers: ROOT }))).toMatch(
      /Content-Type text\/plain is not declared \(declared: application\/json\)/,
    );
    expect(await violationOf(s.app.inject({ url: '/api/v1/zz/stream-wrong-type', headers: ROOT }))).toMatch(
      /Content-Type text\/event-stream is not declared/,
    );
  });

  it('checks a stream for its content type only', async () => {
    s = await withTestRoutes();
    const res = await s.app.inject({ url: '/api/v1/zz/stream', headers: ROOT });
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
  });

  it('an undocumented operation may only be answered as an unknown route', async () => {
    s = await withTestRoutes();
    s.app.get('/zz/hidden', { schema: { hide: true } }, async () => ({ n: 1 }));
    const unknown = await s.app.inject({ url: '/api/v1/nothing-here', headers: ROOT });
    expect(unknown.statusCode).toBe(404);
    expect(await violationOf(s.app.inject({ url: '/zz/hidden' }))).toMatch(/names no such operation/);
  });
});

describe('the OpenApiChecker', () => {
  const doc = {
    openapi: '3.1.0',
    paths: {
      '/a/{id}': {
        get: {
          responses: {
            200: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Outer' } } } },
            '4XX': { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
            204: { description: 'no body' },
          },
        },
      },
    },
    components: {
      schemas: {
        Outer: { type: 'object', properties: { inner: { $ref: '#/components/schemas/Inner' } }, required: ['inner'] },
        Inner: { type: 'object', properties: { at: { type: 'string', format: 'date-time' } }, required: ['at'] },
        Problem: { type: 'object', properties: { code: { type: 'string' } }, required: ['code'] },
      },
    },
  };
  const json200 = (body: unknown, status = 200, type = 'application/json') => ({
    statusCode: status,
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  it('resolves nested $refs into components and checks formats', () => {
    const c = new OpenApiChecker(doc);
    const req = { method: 'GET', url: '/a/1?x=y' };
    expect(c.check(req, json200({ inner: { at: '2026-01-02T03:04:05Z' } }))).toEqual([]);
    expect(c.check(req, json200({ inner: { at: 'yesterday' } }))).toEqual([
      'GET /a/1 -> 200: body/inner/at must match format "date-time"',
    ]);
    expect(c.check(req, json200({ inner: {} }))).toEqual([
      "GET /a/1 -> 200: body/inner must have required property 'at'",
    ]);
  });

  it('matches a status range, a response without content, and refuses what is not declared', () => {
    const c = new OpenApiChecker(doc);
    const req = { method: 'GET', url: '/a/1' };
    expect(c.check(req, json200({ code: 'NOT_FOUND' }, 404, 'application/problem+json'))).toEqual([]);
    expect(c.check(req, json200({}, 409, 'application/problem+json'))).toHaveLength(1);
    expect(c.check(req, json200('', 204, ''))).toEqual([]);
    expect(c.check(req, json200({ n: 1 }, 204))).toEqual([
      'GET /a/1 -> 204: a body is sent where the document declares none',
    ]);
    expect(c.check(req, json200({}, 500, 'application/problem+json'))).toEqual([
      'GET /a/1 -> 500: status 500 is not declared for GET /a/{id}',
    ]);
    expect(c.check({ method: 'PUT', url: '/a/1' }, json200({}, 200))).toEqual([
      "PUT /a/1 -> 200: the document names no such operation, and the answer is not an unknown route's",
    ]);
  });

  it('refuses a document that is not OpenAPI 3.1', () => {
    expect(() => new OpenApiChecker({ ...doc, openapi: '3.0.3' })).toThrow(/not OpenAPI 3.1/);
  });
});

describe('every documented operation, through the server hooks', () => {
  it('answers a refused Host, no credential and a body that is not JSON as its document declares', async () => {
    s = await serverHarness();
    const doc = json<{ paths: Record<string, Record<string, unknown>> }>(
      await s.app.inject({ url: '/api/openapi.json' }),
    );
    let swept = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const url = path
        .replace('{scope}', 'global')
        .replace('{app}', 'web')
        .replace(/\{[^}]+\}/g, 'x');
      for (const method of Object.keys(ops)) {
        const m = method.toUpperCase() as 'GET';
        // Each inject below is checked against the document: a status it does not declare fails.
        const host = await s.app.inject({ method: m, url, headers: { ...ROOT, host: 'evil.example' } });
        expect(host.statusCode).toBe(421);
        const anonymous = await s.app.inject({ method: m, url });
        expect(anonymous.statusCode).toBe(401);
        const refused = await s.app.inject({ method: m, url, headers: auth('nope') });
        expect(refused.statusCode).toBe(401);
        if (m !== 'GET') {
          const text = await s.app.inject({
            method: m,
            url,
            headers: { ...ROOT, 'content-type': 'text/plain' },
            payload: 'config=1',
          });
          expect({ path, m, status: text.statusCode }).toEqual({ path, m, status: 415 });
        }
        swept++;
      }
    }
    expect(swept).toBeGreaterThanOrEqual(23);
  });
});
