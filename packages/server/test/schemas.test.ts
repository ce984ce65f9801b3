/**
 * Schema publish with its compatibility report, the compatibility check that writes nothing, and
 * policies; on the memory store and on PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { auth, json, ROOT, type ServerHarness, serverHarness } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const V1 = {
  type: 'object',
  properties: { port: { type: 'integer' }, host: { type: 'string' } },
} as const;
/** Adds an optional property: backward compatible. */
const V2 = {
  type: 'object',
  properties: { port: { type: 'integer' }, host: { type: 'string' }, tls: { type: 'boolean' } },
} as const;
/** `port` becomes a string: breaking. */
const BREAKING = {
  type: 'object',
  properties: { port: { type: 'string' }, host: { type: 'string' }, tls: { type: 'boolean' } },
} as const;

type Report = {
  id: string;
  version: number;
  previousVersion?: number;
  changed: boolean;
  forced: boolean;
  compatibility: { compatible: boolean; changes: Array<{ kind: string; breaking: boolean }>; breaking: unknown[] };
  documents: Array<{ name: string; validAfter: boolean }>;
  stopsValidating: string[];
};

async function publish(h: ServerHarness, id: string, body: object, headers = ROOT) {
  return h.app.inject({ method: 'POST', url: `/api/v1/schemas/${id}/publish`, payload: body, headers });
}

async function versions(h: ServerHarness, id: string): Promise<number> {
  const list = json<{ items: Array<{ id: string; versions: number }> }>(
    await h.app.inject({ url: '/api/v1/schemas', headers: ROOT }),
  );
  return list.items.find((i) => i.id === id)?.versions ?? 0;
}

for (const backing of ['memory', 'postgres'] as const) {
  describe(`schema publish (${backing})`, () => {
    it('publishes with the report; unchanged is no new version; a compatible change is v2', async () => {
      s = await serverHarness(backing);
      const first = await publish(s, 'db/main', { schema: V1 });
      expect(first.statusCode).toBe(200);
      expect(json<Report>(first)).toMatchObject({
        id: 'db/main',
        version: 1,
        changed: true,
        forced: false,
        compatibility: { compatible: true, breaking: [] },
      });
      const again = await publish(s, 'db/main', { schema: V1 });
      expect(json<Report>(again)).toMatchObject({ version: 1, changed: false });
      await s.app.inject({
        method: 'PUT',
        url: '/api/v1/configs/global/db/main',
        payload: { config: { port: 5432, host: 'db' } },
        headers: ROOT,
      });
      const second = json<Report>(await publish(s, 'db/main', { schema: V2 }));
      expect(second).toMatchObject({ version: 2, previousVersion: 1, changed: true });
      expect(second.compatibility.changes.map((c) => c.kind)).toContain('property_added');
      expect(second.documents.length).toBeGreaterThan(0);
      expect(second.documents.every((d) => d.validAfter)).toBe(true);
      // The audit trail records the publish, with the request's origin like every other event.
      const events = json<{
        items: Array<{ action: string; actor: string; source: string; origin?: { method: string; tokenId: string } }>;
      }>(await s.app.inject({ url: '/api/v1/audit?action=schema.', headers: ROOT })).items;
      expect(events.map((e) => [e.action, e.actor, e.source, e.origin?.method, e.origin?.tokenId])).toEqual([
        ['schema.register', 'root', 'api', 'token', 't-root'],
        ['schema.register', 'root', 'api', 'token', 't-root'],
      ]);
    });

    it('refuses a breaking change with the report (400), writes nothing; force publishes it', async () => {
      s = await serverHarness(backing);
      await publish(s, 'svc', { schema: V2 });
      const refused = await publish(s, 'svc', { schema: BREAKING });
      expect(refused.statusCode).toBe(400);
      expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
      const p = json<{ code: string; report: Report; requestId: string }>(refused);
      expect(p.code).toBe('CONSTRAINT_VIOLATION');
      expect(p.report.compatibility.compatible).toBe(false);
      expect(p.report.compatibility.breaking.length).toBeGreaterThan(0);
      expect(p.report.changed).toBe(false);
      expect(await versions(s, 'svc')).toBe(1);
      const forced = json<Report>(await publish(s, 'svc', { schema: BREAKING, force: true }));
      expect(forced).toMatchObject({ version: 2, changed: true, forced: true });
      expect(forced.compatibility.compatible).toBe(false);
    });

    it('refuses a schema that stored documents stop validating against (422 with issues and report)', async () => {
      s = await serverHarness(backing);
      await publish(s, 'cache', { schema: V1 });
      const put = await s.app.inject({
        method: 'PUT',
        url: '/api/v1/configs/app:web/cache',
        payload: { config: { port: 6379 } },
        headers: ROOT,
      });
      expect(put.statusCode).toBe(201);
      // Required `host` is new and the stored document has none: breaking, and the document fails.
      const strict = { ...V1, required: ['host'] };
      const refused = await publish(s, 'cache', { schema: strict });
      expect(refused.statusCode).toBe(422);
      const p = json<{ code: string; issues: unknown[]; report: Report }>(refused);
      expect(p.code).toBe('SCHEMA_VALIDATION');
      expect(p.issues.length).toBeGreaterThan(0);
      expect(p.report.stopsValidating).toEqual(expect.arrayContaining(['app:web/cache']));
      expect(await versions(s, 'cache')).toBe(1);
    });
  });
}

describe('schema compatibility check and bad input (memory)', () => {
  it('compares with the latest version and writes nothing', async () => {
    s = await serverHarness();
    const none = await s.app.inject({
      method: 'POST',
      url: '/api/v1/schemas/db/main/compatibility',
      payload: { schema: V1 },
      headers: ROOT,
    });
    expect(none.statusCode).toBe(200);
    expect(json(none)).toEqual({
      id: 'db/main',
      against: null,
      compatibility: { compatible: true, changes: [], breaking: [] },
      documentsChecked: false,
    });
    await publish(s, 'db/main', { schema: V2 });
    const check = await s.app.inject({
      method: 'POST',
      url: '/api/v1/schemas/db/main/compatibility',
      payload: { schema: BREAKING },
      headers: auth('reader-secret'),
    });
    expect(check.statusCode).toBe(200);
    const body = json<{ against: number; compatibility: Report['compatibility'] }>(check);
    expect(body.against).toBe(1);
    expect(body.compatibility.compatible).toBe(false);
    expect(await versions(s, 'db/main')).toBe(1);
  });

  it('an id ending in "publish" is served: the last segment is the action', async () => {
    s = await serverHarness();
    const res = await publish(s, 'events/publish', { schema: V1 });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ id: 'events/publish', version: 1 });
    const got = await s.app.inject({ url: '/api/v1/schemas/events/publish', headers: ROOT });
    expect(json(got)).toMatchObject({ id: 'events/publish', version: 1 });
  });

  it('refuses bad input with a typed problem and writes nothing', async () => {
    s = await serverHarness();
    const cases: Array<[string, object, number, string]> = [
      ['/api/v1/schemas/db/publish', { schema: { type: 'nonsense' } }, 422, 'SCHEMA_VALIDATION'],
      ['/api/v1/schemas/db/publish', { schema: V1, extra: 1 }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/schemas/db/publish', { schema: 'text' }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/schemas/db/publish', {}, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/schemas/db/publish', { schema: V1, force: 'yes' }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/schemas/db/compatibility', { schema: V1, force: true }, 400, 'CONSTRAINT_VIOLATION'],
      ['/api/v1/schemas/a%2F..%2Fb/publish', { schema: V1 }, 400, 'INVALID_CONFIG_REF'],
      ["/api/v1/schemas/x'%3B%20DROP%20TABLE%20t%3B--/publish", { schema: V1 }, 400, 'INVALID_CONFIG_REF'],
      ['/api/v1/schemas/db/approve', { schema: V1 }, 404, 'NOT_FOUND'],
      ['/api/v1/schemas/publish', { schema: V1 }, 404, 'NOT_FOUND'],
    ];
    for (const [url, payload, status, code] of cases) {
      const res = await s.app.inject({ method: 'POST', url, payload, headers: ROOT });
      expect({ url, status: res.statusCode, code: json(res).code }).toEqual({ url, status, code });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const text = await s.app.inject({
      method: 'POST',
      url: '/api/v1/schemas/db/publish',
      payload: '{"schema":{}}',
      headers: { ...ROOT, 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(json(await s.app.inject({ url: '/api/v1/schemas', headers: ROOT }))).toEqual({ items: [] });
  });

  it('needs schema:write to publish and schema:read to check; no credential is 401', async () => {
    s = await serverHarness();
    const denied = await publish(s, 'db', { schema: V1 }, auth('reader-secret'));
    expect(denied.statusCode).toBe(403);
    expect(json(denied).code).toBe('ACCESS_DENIED');
    const noRead = await s.app.inject({
      method: 'POST',
      url: '/api/v1/schemas/db/compatibility',
      payload: { schema: V1 },
      headers: auth('bob-secret'),
    });
    expect(noRead.statusCode).toBe(403);
    const anon = await s.app.inject({ method: 'POST', url: '/api/v1/schemas/db/publish', payload: { schema: V1 } });
    expect(anon.statusCode).toBe(401);
  });
});

describe('policies', () => {
  for (const backing of ['memory', 'postgres'] as const) {
    it(`puts, gets and lists; audited (${backing})`, async () => {
      s = await serverHarness(backing);
      const put = await s.app.inject({
        method: 'PUT',
        url: '/api/v1/policies/freeze.window',
        payload: { policy: { from: '2026-12-20', to: '2027-01-03' } },
        headers: ROOT,
      });
      expect(put.statusCode).toBe(200);
      expect(json(put)).toMatchObject({ name: 'freeze.window', policy: { from: '2026-12-20' } });
      const replaced = await s.app.inject({
        method: 'PUT',
        url: '/api/v1/policies/freeze.window',
        payload: { policy: { from: '2026-12-22' } },
        headers: ROOT,
      });
      expect(json(replaced)).toMatchObject({ policy: { from: '2026-12-22' } });
      const got = await s.app.inject({ url: '/api/v1/policies/freeze.window', headers: ROOT });
      expect(json(got)).toMatchObject({ name: 'freeze.window', policy: { from: '2026-12-22' } });
      expect(typeof json(got).updatedAt).toBe('string');
      const list = json<{ items: Array<{ name: string }> }>(
        await s.app.inject({ url: '/api/v1/policies', headers: ROOT }),
      );
      expect(list.items.map((p) => p.name)).toEqual(['freeze.window']);
      const events = json<{ items: Array<{ action: string; message: string }> }>(
        await s.app.inject({ url: '/api/v1/audit?action=policy.put', headers: ROOT }),
      ).items;
      expect(events.map((e) => e.message)).toEqual(['policy freeze.window created', 'policy freeze.window updated']);
    });
  }

  it('missing is 404; bad names and bodies are 400; RBAC is policy:read / policy:write', async () => {
    s = await serverHarness();
    const missing = await s.app.inject({ url: '/api/v1/policies/none', headers: ROOT });
    expect(missing.statusCode).toBe(404);
    expect(json(missing).code).toBe('NOT_FOUND');
    const bad: Array<[string, unknown]> = [
      ['/api/v1/policies/bad%20name', { policy: {} }],
      ['/api/v1/policies/a%2F..%2Fb', { policy: {} }],
      ['/api/v1/policies/a%00b', { policy: {} }],
      ['/api/v1/policies/ok', { policy: [1, 2] }],
      ['/api/v1/policies/ok', { policy: 'text' }],
      ['/api/v1/policies/ok', { policy: {}, more: true }],
      ['/api/v1/policies/ok', {}],
    ];
    for (const [url, payload] of bad) {
      const res = await s.app.inject({ method: 'PUT', url, payload: payload as object, headers: ROOT });
      expect({ url, status: res.statusCode, code: json(res).code }).toEqual({
        url,
        status: 400,
        code: 'CONSTRAINT_VIOLATION',
      });
    }
    const malformed = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/policies/ok',
      payload: '{"policy":',
      headers: { ...ROOT, 'content-type': 'application/json' },
    });
    expect(malformed.statusCode).toBe(400);
    const tooBig = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/policies/ok',
      payload: { policy: { blob: 'x'.repeat(300 * 1024) } },
      headers: ROOT,
    });
    expect(tooBig.statusCode).toBe(413);
    expect(json(tooBig).code).toBe('DOCUMENT_TOO_LARGE');
    expect(json(await s.app.inject({ url: '/api/v1/policies', headers: ROOT }))).toEqual({ items: [] });
    const readerPut = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/policies/ok',
      payload: { policy: {} },
      headers: auth('reader-secret'),
    });
    expect(readerPut.statusCode).toBe(403);
    const readerList = await s.app.inject({ url: '/api/v1/policies', headers: auth('reader-secret') });
    expect(readerList.statusCode).toBe(403);
  });
});
