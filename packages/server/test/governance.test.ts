/** Environments, schemas, audit, change requests and approval gates, on the memory store. */
import { afterEach, describe, expect, it } from 'vitest';
import { auth, GUARDED_ENVIRONMENTS, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('environments', () => {
  it('lists, creates and updates; a reader cannot create', async () => {
    s = await serverHarness();
    const created = await s.app.inject({
      method: 'POST',
      url: '/api/v1/environments',
      payload: { name: 'qa', parent: 'development', production: false },
      headers: ROOT,
    });
    expect(created.statusCode).toBe(201);
    expect(json(created)).toMatchObject({ name: 'qa', parent: 'development' });
    const updated = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/environments/qa',
      payload: { name: 'qa', production: false, approvalPolicy: { requiredApprovals: 1 } },
      headers: ROOT,
    });
    expect(updated.statusCode).toBe(200);
    const list = await s.app.inject({ url: '/api/v1/environments', headers: ROOT });
    const names = json<{ items: Array<{ name: string }> }>(list).items.map((e) => e.name);
    expect(names).toEqual(expect.arrayContaining(['development', 'staging', 'qa']));
    const mismatch = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/environments/qa',
      payload: { name: 'other' },
      headers: ROOT,
    });
    expect(json(mismatch)).toMatchObject({ status: 400, code: 'CONSTRAINT_VIOLATION' });
    const denied = await s.app.inject({
      method: 'POST',
      url: '/api/v1/environments',
      payload: { name: 'x' },
      headers: auth('reader-secret'),
    });
    expect(denied.statusCode).toBe(403);
    const badParent = await s.app.inject({
      method: 'POST',
      url: '/api/v1/environments',
      payload: { name: 'y', parent: 'nowhere' },
      headers: ROOT,
    });
    expect(badParent.statusCode).toBeGreaterThanOrEqual(400);
    expect(badParent.statusCode).toBeLessThan(500);
  });
});

describe('schemas', () => {
  it('registers, lists and gets; a document that breaks the schema is 422 with issues', async () => {
    s = await serverHarness();
    const schema = {
      type: 'object',
      properties: { port: { type: 'integer' }, host: { type: 'string', default: 'localhost' } },
    };
    const reg = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/schemas/db/main',
      payload: { schema },
      headers: ROOT,
    });
    expect(reg.statusCode).toBe(200);
    expect(json(reg)).toEqual({ id: 'db/main', version: 1 });
    const list = await s.app.inject({ url: '/api/v1/schemas', headers: ROOT });
    expect(json(list)).toEqual({ items: [{ id: 'db/main', version: 1, versions: 1 }] });
    const got = await s.app.inject({ url: '/api/v1/schemas/db/main?version=1', headers: ROOT });
    expect(json(got)).toMatchObject({ id: 'db/main', version: 1, schema });
    const missing = await s.app.inject({ url: '/api/v1/schemas/none', headers: ROOT });
    expect(missing.statusCode).toBe(404);
    const bad = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db/main',
      payload: { config: { port: 'eighty' } },
      headers: ROOT,
    });
    expect(bad.statusCode).toBe(422);
    expect(json(bad)).toMatchObject({
      code: 'SCHEMA_VALIDATION',
      issues: [expect.objectContaining({ pointer: '/port' })],
    });
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
    const notSchema = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/schemas/db/other',
      payload: { schema: { type: 'nonsense' } },
      headers: ROOT,
    });
    expect(notSchema.statusCode).toBeGreaterThanOrEqual(400);
    expect(notSchema.statusCode).toBeLessThan(500);
  });
});

describe('audit', () => {
  it('lists with filters and verifies', async () => {
    s = await serverHarness();
    for (const size of [1, 2]) {
      await s.app.inject({
        method: 'PUT',
        url: '/api/v1/configs/global/db',
        payload: { config: { size } },
        headers: ROOT,
      });
    }
    await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/app:web/x',
      payload: { config: {} },
      headers: auth('alice-secret'),
    });
    const all = await s.app.inject({ url: '/api/v1/audit?action=config.', headers: ROOT });
    const events = json<{ items: Array<{ ref: string; actor: string; action: string; source: string }> }>(all).items;
    expect(events.map((e) => [e.ref, e.actor, e.action])).toEqual([
      ['global/db', 'root', 'config.set'],
      ['global/db', 'root', 'config.set'],
      ['app:web/x', 'alice', 'config.set'],
    ]);
    expect(events.every((e) => e.source === 'api')).toBe(true);
    // Each write made through the server records where it came from.
    const traced = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/traced',
      payload: { config: {} },
      headers: { ...auth('alice-secret'), 'user-agent': 'tests/1.0', 'x-request-id': 'req-traced' },
    });
    expect(traced.statusCode).toBe(201);
    const tracedEvents = await s.app.inject({ url: '/api/v1/audit?ref=global/traced', headers: ROOT });
    expect(json<{ items: unknown[] }>(tracedEvents).items).toEqual([
      expect.objectContaining({
        actor: 'alice',
        action: 'config.set',
        source: 'api',
        origin: {
          method: 'token',
          tokenId: 't-alice',
          remoteAddress: '127.0.0.1',
          userAgent: 'tests/1.0',
          requestId: 'req-traced',
        },
      }),
    ]);
    // A hostile User-Agent is recorded cut to 512 characters, not refused.
    const long = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/long-ua',
      payload: { config: {} },
      headers: { ...ROOT, 'user-agent': 'u'.repeat(5000) },
    });
    expect(long.statusCode).toBe(201);
    const longEvents = await s.app.inject({ url: '/api/v1/audit?ref=global/long-ua', headers: ROOT });
    const ua = json<{ items: Array<{ origin: { userAgent: string } }> }>(longEvents).items[0]?.origin.userAgent;
    expect(ua).toBe('u'.repeat(512));
    const byRef = await s.app.inject({ url: '/api/v1/audit?ref=app:web/x&actor=alice', headers: ROOT });
    expect(json<{ items: unknown[] }>(byRef).items).toHaveLength(1);
    const future = await s.app.inject({ url: '/api/v1/audit?since=2999-01-01T00:00:00Z', headers: ROOT });
    expect(json<{ items: unknown[] }>(future).items).toHaveLength(0);
    const until = await s.app.inject({ url: '/api/v1/audit?until=2000-01-01T00:00:00Z', headers: ROOT });
    expect(json<{ items: unknown[] }>(until).items).toHaveLength(0);
    const badDate = await s.app.inject({ url: '/api/v1/audit?since=yesterday', headers: ROOT });
    expect(json(badDate)).toMatchObject({ status: 400, code: 'CONSTRAINT_VIOLATION' });
    const verify = await s.app.inject({ method: 'POST', url: '/api/v1/audit/verify', headers: ROOT });
    expect(verify.statusCode).toBe(200);
    expect(json(verify)).toMatchObject({ ok: true, problems: [] });
    expect(json<{ checked: number }>(verify).checked).toBeGreaterThanOrEqual(3);
    const denied = await s.app.inject({ url: '/api/v1/audit', headers: auth('reader-secret') });
    expect(denied.statusCode).toBe(403);
  });
});

describe('change requests and approval gates', () => {
  it('a set touching a guarded environment is 409 APPROVAL_REQUIRED with the environments, nothing written', async () => {
    s = await serverHarness('memory', {}, GUARDED_ENVIRONMENTS);
    const res = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: { config: { a: 1 } },
      headers: ROOT,
    });
    expect(res.statusCode).toBe(409);
    expect(json(res)).toMatchObject({
      code: 'APPROVAL_REQUIRED',
      environments: expect.arrayContaining(['production', 'production-eu']),
    });
    expect(await s.h.service.list(ROOT_ACTOR)).toEqual([]);
  });

  it('propose, approve by two other actors, apply; list and get', async () => {
    s = await serverHarness('memory', {}, GUARDED_ENVIRONMENTS);
    const proposed = await s.app.inject({
      method: 'POST',
      url: '/api/v1/change-requests',
      payload: { ref: 'global/db', config: { pool: 8 }, message: 'bigger pool' },
      headers: auth('alice-secret'),
    });
    expect(proposed.statusCode).toBe(201);
    const request = json<{ id: string; status: string; requiredApprovals: number }>(proposed);
    expect(request).toMatchObject({ status: 'pending', requiredApprovals: 2 });
    expect(proposed.headers.location).toBe(`/api/v1/change-requests/${request.id}`);
    const url = `/api/v1/change-requests/${request.id}`;

    const self = await s.app.inject({
      method: 'POST',
      url: `${url}/approve`,
      payload: {},
      headers: auth('alice-secret'),
    });
    expect(self.statusCode).toBeGreaterThanOrEqual(400);
    expect(self.statusCode).toBeLessThan(500);
    const early = await s.app.inject({ method: 'POST', url: `${url}/apply`, headers: auth('bob-secret') });
    expect(early.statusCode).toBe(409);
    expect(json(early).code).toBe('INSUFFICIENT_APPROVERS');

    const one = await s.app.inject({
      method: 'POST',
      url: `${url}/approve`,
      payload: { comment: 'ok' },
      headers: auth('bob-secret'),
    });
    expect(one.statusCode).toBe(200);
    const two = await s.app.inject({ method: 'POST', url: `${url}/approve`, headers: auth('carol-secret') });
    expect(two.statusCode).toBe(200);
    expect(json(two).status).toBe('approved');

    const applied = await s.app.inject({ method: 'POST', url: `${url}/apply`, headers: auth('bob-secret') });
    expect(applied.statusCode).toBe(200);
    expect(json(applied)).toMatchObject({ status: 'applied', appliedVersion: 1 });
    const doc = await s.app.inject({ url: '/api/v1/configs/global/db', headers: ROOT });
    expect(json(doc)).toMatchObject({ version: 1, config: { pool: 8 } });

    const got = await s.app.inject({ url, headers: auth('reader-secret') });
    expect(got.statusCode).toBe(200);
    const list = await s.app.inject({ url: '/api/v1/change-requests?status=applied&ref=global/db', headers: ROOT });
    expect(json<{ items: Array<{ id: string }> }>(list).items.map((r) => r.id)).toEqual([request.id]);
    const missing = await s.app.inject({ url: '/api/v1/change-requests/nope', headers: ROOT });
    expect(missing.statusCode).toBe(404);
  });

  it('reject and cancel', async () => {
    s = await serverHarness('memory', {}, GUARDED_ENVIRONMENTS);
    const propose = async () =>
      json<{ id: string }>(
        await s!.app.inject({
          method: 'POST',
          url: '/api/v1/change-requests',
          payload: { ref: 'global/db', config: { pool: 1 } },
          headers: auth('alice-secret'),
        }),
      ).id;
    const a = await propose();
    const noReason = await s.app.inject({
      method: 'POST',
      url: `/api/v1/change-requests/${a}/reject`,
      payload: {},
      headers: auth('bob-secret'),
    });
    expect(noReason.statusCode).toBe(400);
    const rejected = await s.app.inject({
      method: 'POST',
      url: `/api/v1/change-requests/${a}/reject`,
      payload: { reason: 'no' },
      headers: auth('bob-secret'),
    });
    expect(json(rejected).status).toBe('rejected');
    const b = await propose();
    const cancelled = await s.app.inject({
      method: 'POST',
      url: `/api/v1/change-requests/${b}/cancel`,
      payload: { reason: 'changed my mind' },
      headers: auth('alice-secret'),
    });
    expect(json(cancelled).status).toBe('cancelled');
    const again = await s.app.inject({
      method: 'POST',
      url: `/api/v1/change-requests/${b}/cancel`,
      headers: auth('alice-secret'),
    });
    // The service refuses a decision on a closed request as a constraint (400), not a conflict.
    expect(json(again)).toMatchObject({ status: 400, code: 'CONSTRAINT_VIOLATION' });
  });
});
