/**
 * The server over real PostgreSQL (the store and governance storage of `@summit-config/backends/postgres`,
 * a fresh schema per test, on the server of scripts/services.sh): writes with If-Match, a lost
 * compare-and-set, approvals across actors, the audit trail and resolved reads.
 */
import { closeShared } from '@summit-config/test-support/service';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { auth, GUARDED_ENVIRONMENTS, json, ROOT, ROOT_ACTOR, type ServerHarness, serverHarness } from './support.js';

let s: ServerHarness;
afterEach(async () => {
  await s.close();
});
afterAll(async () => {
  await closeShared();
});

describe('config server on PostgreSQL', () => {
  it('writes app configs with If-Match, refuses a lost compare-and-set with 412 and writes nothing', async () => {
    s = await serverHarness('postgres');
    expect(s.h.schema).toMatch(/^summit_/);
    const url = '/api/v1/configs/app:web/db/pool';
    const first = await s.app.inject({
      method: 'PUT',
      url,
      payload: { config: { size: 1 } },
      headers: { ...ROOT, 'if-match': '"0"' },
    });
    expect(first.statusCode).toBe(201);
    const etag = first.headers.etag as string;
    const second = await s.app.inject({
      method: 'PUT',
      url,
      payload: { config: { size: 2 } },
      headers: { ...ROOT, 'if-match': etag },
    });
    expect(second.statusCode).toBe(200);
    // Two writers raced from the same version: the second loses.
    const lost = await s.app.inject({
      method: 'PUT',
      url,
      payload: { config: { size: 3 } },
      headers: { ...ROOT, 'if-match': etag },
    });
    expect(lost.statusCode).toBe(412);
    expect(json(lost).code).toBe('VERSION_CONFLICT');
    const rows = await s.h.sql<{ n: string }>(`SELECT count(*)::text AS n FROM "${s.h.schema}".config_versions`);
    expect(rows[0]?.n).toBe('2');
    // Injection strings are refused as refs, or matched as plain text.
    const injected = await s.app.inject({
      method: 'PUT',
      url: `/api/v1/configs/global/${encodeURIComponent("x';DROP TABLE config_versions;--")}`,
      payload: { config: {} },
      headers: ROOT,
    });
    expect(json(injected)).toMatchObject({ status: 400, code: 'INVALID_CONFIG_REF' });
    const prefix = await s.app.inject({
      url: `/api/v1/configs?prefix=${encodeURIComponent("' OR 1=1 --")}`,
      headers: ROOT,
    });
    expect(json(prefix)).toEqual({ items: [] });
    const got = await s.app.inject({ url, headers: auth('reader-secret') });
    expect(json(got)).toMatchObject({ version: 2, config: { size: 2 } });
    const resolved = await s.app.inject({ url: '/api/v1/resolved/web/staging/db/pool?explain=true', headers: ROOT });
    expect(json(resolved)).toMatchObject({ value: { size: 2 }, explain: { '/size': expect.anything() } });
  });

  it('a guarded write is 409 APPROVAL_REQUIRED; propose, approve by others, apply; audited and verified', async () => {
    s = await serverHarness('postgres', {}, GUARDED_ENVIRONMENTS);
    const direct = await s.app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/flags',
      payload: { config: { beta: true } },
      headers: ROOT,
    });
    expect(direct.statusCode).toBe(409);
    expect(json(direct)).toMatchObject({
      code: 'APPROVAL_REQUIRED',
      environments: expect.arrayContaining(['production']),
    });
    const proposed = await s.app.inject({
      method: 'POST',
      url: '/api/v1/change-requests',
      payload: { ref: 'global/flags', config: { beta: true } },
      headers: auth('alice-secret'),
    });
    const id = json<{ id: string }>(proposed).id;
    for (const who of ['bob-secret', 'carol-secret']) {
      const res = await s.app.inject({
        method: 'POST',
        url: `/api/v1/change-requests/${id}/approve`,
        headers: auth(who),
      });
      expect(res.statusCode).toBe(200);
    }
    const applied = await s.app.inject({
      method: 'POST',
      url: `/api/v1/change-requests/${id}/apply`,
      headers: auth('alice-secret'),
    });
    expect(json(applied)).toMatchObject({ status: 'applied', appliedVersion: 1 });
    const audit = await s.app.inject({ url: '/api/v1/audit?action=request.', headers: ROOT });
    const actions = json<{ items: Array<{ action: string; actor: string }> }>(audit).items.map(
      (e) => `${e.action}:${e.actor}`,
    );
    const decided = json<{ items: Array<{ action: string; origin?: Record<string, string> }> }>(audit).items;
    expect(decided.find((e) => e.action === 'request.approve')?.origin).toMatchObject({
      method: 'token',
      tokenId: 't-bob',
      remoteAddress: '127.0.0.1',
      requestId: expect.any(String),
    });
    const rows = await s.h.sql<{ origin: string | null }>(
      `SELECT origin FROM "${s.h.schema}".config_audit WHERE action = 'request.apply'`,
    );
    expect(JSON.parse(rows[0]?.origin ?? 'null')).toMatchObject({ method: 'token', tokenId: 't-alice' });
    expect(actions).toEqual(
      expect.arrayContaining([
        'request.create:alice',
        'request.approve:bob',
        'request.approve:carol',
        'request.apply:alice',
      ]),
    );
    const verify = await s.app.inject({ method: 'POST', url: '/api/v1/audit/verify', headers: ROOT });
    expect(json(verify)).toMatchObject({ ok: true });
    expect((await s.h.service.get(ROOT_ACTOR, 'global/flags'))?.config).toEqual({ beta: true });
  });
});
