/** Config routes on the memory store: list, get, set with If-Match, delete, versions, diff, rollback, resolved. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness } from './support.js';

let s: ServerHarness;
beforeEach(async () => {
  s = await serverHarness();
});
afterEach(async () => {
  await s.close();
});

const put = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
  s.app.inject({ method: 'PUT', url, payload: payload as object, headers: { ...ROOT, ...headers } });

describe('config documents', () => {
  it('sets, gets (ETag), lists, versions, diffs, rolls back and deletes a ref whose id contains /', async () => {
    const created = await put('/api/v1/configs/app:web/db/pool', { config: { size: 5 }, message: 'first' });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/api/v1/configs/app:web/db/pool');
    const v1 = json(created);
    expect(v1).toMatchObject({ ref: { scope: 'app:web', id: 'db/pool' }, version: 1, config: { size: 5 } });
    expect(created.headers.etag).toBe(`"1:${v1.checksum}"`);

    const second = await put('/api/v1/configs/app:web/db/pool', { config: { size: 10 } }, { 'if-match': '"1"' });
    expect(second.statusCode).toBe(200);
    expect(json(second).version).toBe(2);

    const got = await s.app.inject({ url: '/api/v1/configs/app:web/db/pool', headers: ROOT });
    expect(got.statusCode).toBe(200);
    expect(json(got)).toMatchObject({ version: 2, config: { size: 10 } });
    expect(got.headers.etag).toMatch(/^"2:[0-9a-f]{64}"$/);
    // An ETag given back is an If-Match too.
    const third = await put(
      '/api/v1/configs/app:web/db/pool',
      { config: { size: 11 } },
      { 'if-match': got.headers.etag as string },
    );
    expect(json(third).version).toBe(3);

    const old = await s.app.inject({ url: '/api/v1/configs/app:web/db/pool?version=1', headers: ROOT });
    expect(json(old)).toMatchObject({ version: 1, config: { size: 5 } });

    const list = await s.app.inject({ url: '/api/v1/configs?scope=app:web&prefix=db', headers: ROOT });
    expect(json(list)).toEqual({ items: [expect.objectContaining({ ref: 'app:web/db/pool', version: 3 })] });

    const versions = await s.app.inject({ url: '/api/v1/versions/app:web/db/pool', headers: ROOT });
    expect(json<{ items: Array<{ version: number }> }>(versions).items.map((v) => v.version)).toEqual([3, 2, 1]);

    const diff = await s.app.inject({ url: '/api/v1/diffs/app:web/db/pool?from=1&to=2', headers: ROOT });
    expect(json(diff)).toEqual({
      ref: 'app:web/db/pool',
      from: 1,
      to: 2,
      patch: [{ op: 'replace', path: '/config/size', value: 10 }],
    });

    const rolled = await s.app.inject({
      method: 'POST',
      url: '/api/v1/rollbacks/app:web/db/pool',
      payload: { to: 1, message: 'back' },
      headers: ROOT,
    });
    expect(rolled.statusCode).toBe(200);
    expect(json(rolled)).toMatchObject({ version: 4, config: { size: 5 } });

    const deleted = await s.app.inject({
      method: 'DELETE',
      url: '/api/v1/configs/app:web/db/pool?message=gone',
      headers: { ...ROOT, 'if-match': '"4"' },
    });
    expect(deleted.statusCode).toBe(200);
    expect(json(deleted)).toMatchObject({ version: 5, metadata: { deleted: true } });
  });

  it('If-Match on a moved head is 412 VERSION_CONFLICT and writes nothing', async () => {
    await put('/api/v1/configs/global/feature', { config: { on: false } });
    await put('/api/v1/configs/global/feature', { config: { on: true } });
    const lost = await put('/api/v1/configs/global/feature', { config: { on: 'x' } }, { 'if-match': '"1"' });
    expect(lost.statusCode).toBe(412);
    expect(lost.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(lost)).toMatchObject({ status: 412, code: 'VERSION_CONFLICT', title: 'Precondition Failed' });
    const create = await put('/api/v1/configs/global/feature', { config: {} }, { 'if-match': '"0"' });
    expect(create.statusCode).toBe(412);
    expect((await s.h.service.history(ROOT_ACTOR, 'global/feature')).length).toBe(2);
    const bad = await put('/api/v1/configs/global/feature', { config: {} }, { 'if-match': 'W/"2"' });
    expect(json(bad)).toMatchObject({ status: 400, code: 'CONSTRAINT_VIOLATION' });
  });

  it('a missing ref is a 404 problem', async () => {
    const res = await s.app.inject({ url: '/api/v1/configs/global/nothing', headers: ROOT });
    expect(res.statusCode).toBe(404);
    expect(json(res)).toMatchObject({ code: 'NOT_FOUND', status: 404, type: 'urn:summit-config:problem:not-found' });
  });

  it('bad input is a typed problem and writes nothing', async () => {
    const cases: Array<[string, unknown, number, string]> = [
      ['/api/v1/configs/nonsense/db', { config: {} }, 400, 'INVALID_CONFIG_REF'],
      ['/api/v1/configs/global/a%2F..%2Fb', { config: {} }, 400, 'INVALID_CONFIG_REF'],
      ['/api/v1/configs/global/db', { config: [1, 2] }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/configs/global/db', { config: 'text' }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/configs/global/db', { config: {}, extra: 1 }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/configs/global/db', { config: {}, metadata: { deleted: true } }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/configs/global/db', { config: {}, overrides: { nowhere: { a: 1 } } }, 404, 'ENVIRONMENT_NOT_FOUND'],
    ];
    for (const [url, payload, status, code] of cases) {
      const res = await put(url, payload);
      expect({ url, status: res.statusCode, code: json(res).code }).toEqual({ url, status, code });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const malformed = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: '{"config": {',
      headers: { ...ROOT, 'content-type': 'application/json' },
    });
    expect(malformed.statusCode).toBe(400);
    expect(json(malformed).code).toBe('CONSTRAINT_VIOLATION');
    const text = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: 'config=1',
      headers: { ...ROOT, 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
    expect((await s.h.service.audit(ROOT_ACTOR, { action: 'config.' })).length).toBe(0);
  });

  it('resolves per environment, with explain and rollout context', async () => {
    await put('/api/v1/configs/global/db', {
      config: { host: 'db', port: 5432 },
      overrides: { development: { host: 'db.dev' }, staging: { port: 6432 } },
    });
    await s.h.service.set(ROOT_ACTOR, { ref: 'app:web/db', config: { pool: 4 } });
    const res = await s.app.inject({ url: '/api/v1/resolved/web/staging/db?explain=true', headers: ROOT });
    expect(res.statusCode).toBe(200);
    const body = json<{
      value: unknown;
      details: { versions: unknown; reason: string };
      explain: Record<string, { layer: unknown }>;
    }>(res);
    expect(body.value).toEqual({ host: 'db.dev', port: 6432, pool: 4 });
    expect(body.details).toMatchObject({ versions: { global: 1, app: 1 }, reason: 'STATIC' });
    expect(Object.keys(body.explain).sort()).toEqual(['/host', '/pool', '/port']);
    const plain = await s.app.inject({ url: '/api/v1/resolved/web/development/db?context=userId=42', headers: ROOT });
    expect(json(plain)).toMatchObject({ value: { host: 'db.dev', port: 5432, pool: 4 } });
    expect(json(plain).explain).toBeUndefined();
    const unknownEnv = await s.app.inject({ url: '/api/v1/resolved/web/nowhere/db', headers: ROOT });
    expect(json(unknownEnv)).toMatchObject({ status: 404, code: 'ENVIRONMENT_NOT_FOUND' });
    const missing = await s.app.inject({ url: '/api/v1/resolved/web/development/none', headers: ROOT });
    expect(json(missing)).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('a reader reads but cannot write (403 ACCESS_DENIED, nothing written)', async () => {
    await put('/api/v1/configs/global/db', { config: { a: 1 } });
    const reader = auth('reader-secret');
    const read = await s.app.inject({ url: '/api/v1/configs/global/db', headers: reader });
    expect(read.statusCode).toBe(200);
    const write = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: { config: { a: 2 } },
      headers: reader,
    });
    expect(write.statusCode).toBe(403);
    expect(json(write)).toMatchObject({ code: 'ACCESS_DENIED', status: 403 });
    const del = await s.app.inject({ method: 'DELETE', url: '/api/v1/configs/global/db', headers: reader });
    expect(del.statusCode).toBe(403);
    expect((await s.h.service.get(ROOT_ACTOR, 'global/db'))?.version).toBe(1);
  });
});
