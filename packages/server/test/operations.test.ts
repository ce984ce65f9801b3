/**
 * Tier status and the drift report: a single store (memory, PostgreSQL, an unreachable PostgreSQL)
 * and a real failover chain (PostgreSQL record and a memory cache, or a record that is down).
 */
import { createFailoverStore, type FailoverStore } from '@summit-config/backends';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { type ConfigStore, createConfigService, createRbac } from '@summit-config/core';
import { services } from '@summit-config/test-support/services';
import { dropSchemas, freshSchema } from '@summit-config/test-support/sql';
import { until } from '@summit-config/test-support/wait';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createConfigServer } from '../src/index.js';
import type { DriftReportView } from '../src/routes/operations.js';
import {
  auth,
  OPEN_ENVIRONMENTS,
  ROOT,
  SERVER_RBAC,
  type ServerHarness,
  serverHarness,
  staticBearer,
  validateResponses,
} from './support.js';

const rbac = createRbac(SERVER_RBAC);

/** A drift run's report as the agent's leader keeps it (`detectDrift`'s result). */
const REPORT: DriftReportView = {
  startedAt: '2026-12-04T10:00:00.000Z',
  durationMs: 812,
  examined: 42,
  remediated: 1,
  findings: [
    {
      kind: 'head-mismatch',
      ref: 'app:web/db',
      message: 'app:web/db: consul at v3, postgres at v4',
      source: 'scan',
      heads: { consul: { version: 3, checksum: 'a'.repeat(64) }, postgres: { version: 4, checksum: 'b'.repeat(64) } },
      remediated: true,
      remediation: 'reconciled',
    },
    {
      kind: 'lagging-instance',
      ref: 'global/flags',
      message: 'web-1 (production) applied v2 of global/flags, head is v7',
      source: 'scan',
      instance: 'web-1',
      environment: 'production',
      ackVersion: 2,
      headVersion: 7,
    },
  ],
  reconcile: { examined: 42, copied: [], conflicts: [] },
};

let s: ServerHarness | undefined;
const cleanups: Array<() => Promise<unknown>> = [];
const schemas = new Set<string>();
afterEach(async () => {
  await s?.close();
  s = undefined;
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await dropSchemas(schemas);
});

function pgStore(connectionString = services().databaseUrl): ConfigStore {
  const schema = freshSchema('srvops');
  schemas.add(schema);
  return createPostgresStore({ connectionString, schema, connectTimeoutMs: 500 });
}

/** A server over `store` (a service writing to it, with memory governance). */
async function serverOver(store: ConfigStore, extra: object = {}): Promise<FastifyInstance> {
  const governance = createMemoryGovernance();
  const service = createConfigService({ store, governance, rbac, environments: OPEN_ENVIRONMENTS });
  const app = createConfigServer({
    service,
    store,
    authenticators: [staticBearer()],
    rbac,
    rateLimit: false,
    ...extra,
  });
  validateResponses(app);
  cleanups.push(async () => {
    await app.close();
    await service.close();
    await store.close();
    await governance.close();
  });
  return app;
}

const body = (res: { body: string }) => JSON.parse(res.body) as Record<string, unknown>;

describe('status', () => {
  for (const backing of ['memory', 'postgres'] as const) {
    it(`a single store is one tier, probed (${backing})`, async () => {
      s = await serverHarness(backing, { rbac });
      const res = await s.app.inject({ url: '/api/v1/status', headers: ROOT });
      expect(res.statusCode).toBe(200);
      expect(body(res)).toEqual({
        kind: 'single',
        serving: s.h.store.name,
        tiers: [
          { name: s.h.store.name, durable: backing === 'postgres', role: 'plain', state: 'closed', failing: false },
        ],
      });
    });
  }

  it('an unreachable single store is reported failing with its error code, not its message', async () => {
    const app = await serverOver(pgStore('postgres://summit:summit@127.0.0.1:1/summit'));
    const res = await app.inject({ url: '/api/v1/status', headers: ROOT });
    expect(res.statusCode).toBe(200);
    const st = body(res) as { serving: unknown; tiers: Array<Record<string, unknown>> };
    expect(st.serving).toBeNull();
    expect(st.tiers[0]).toMatchObject({ state: 'open', failing: true, error: 'BACKEND_UNAVAILABLE' });
    expect(res.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
  });

  it('a failover chain reports each tier and the chain state', async () => {
    const chain: FailoverStore = createFailoverStore({
      tiers: [pgStore(), createMemoryStore({ name: 'cache' })],
      probeIntervalMs: 50,
    });
    const app = await serverOver(chain);
    const put = await app.inject({
      method: 'PUT',
      url: '/api/v1/configs/global/db',
      payload: { config: { pool: 5 } },
      headers: ROOT,
    });
    expect(put.statusCode).toBe(201);
    const res = await app.inject({ url: '/api/v1/status', headers: ROOT });
    expect(res.statusCode).toBe(200);
    const st = body(res) as { kind: string; serving: string; tiers: Array<Record<string, unknown>> };
    expect(st).toMatchObject({ kind: 'failover', unsynced: [], divergent: 0 });
    expect(st.serving).toBe(chain.status().serving);
    expect(st.tiers.map((t) => [t.role, t.state, t.failing])).toEqual([
      ['plain', 'closed', false],
      ['cache', 'closed', false],
    ]);
    expect(st.tiers[0]?.durable).toBe(true);
  });

  it('a failover tier that is down is failing; its error message is not served', async () => {
    const chain = createFailoverStore({
      tiers: [pgStore('postgres://summit:summit@127.0.0.1:1/summit'), createMemoryStore({ name: 'cache' })],
      probeIntervalMs: 50,
      failureThreshold: 1,
    });
    const app = await serverOver(chain);
    // The chain starts probing at its first call: a read through the API (answered from the cache or refused).
    const read = await app.inject({ url: '/api/v1/configs', headers: ROOT });
    expect(read.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
    let st: { tiers: Array<Record<string, unknown>> } = { tiers: [] };
    await until(
      async () => {
        const res = await app.inject({ url: '/api/v1/status', headers: ROOT });
        st = body(res) as typeof st;
        if (res.statusCode !== 200) throw new Error(res.body);
        return st.tiers[0]?.failing === true;
      },
      'the record tier reported failing',
      { intervalMs: 100 },
    );
    expect(st.tiers[0]).toMatchObject({ durable: true, failing: true });
    expect(st.tiers[0]?.state).not.toBe('closed');
    expect(JSON.stringify(st)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
  });

  it('needs config:audit:read; without rbac it is 501', async () => {
    s = await serverHarness('memory', { rbac });
    for (const secret of ['reader-secret', 'bob-secret']) {
      const res = await s.app.inject({ url: '/api/v1/status', headers: auth(secret) });
      expect({ status: res.statusCode, code: body(res).code }).toEqual({ status: 403, code: 'ACCESS_DENIED' });
    }
    expect((await s.app.inject({ url: '/api/v1/status' })).statusCode).toBe(401);
    await s.close();
    s = await serverHarness('memory');
    const res = await s.app.inject({ url: '/api/v1/status', headers: ROOT });
    expect({ status: res.statusCode, code: body(res).code }).toEqual({ status: 501, code: 'CONSTRAINT_VIOLATION' });
  });
});

describe('leader', () => {
  it('names who leads, null when nobody does, and the error code (never the message) when it cannot be read', async () => {
    let source: () => Promise<{ holder: string; fencingToken?: number } | undefined> = async () => undefined;
    s = await serverHarness('memory', { rbac, leader: () => source() });
    const status = async () => body(await s!.app.inject({ url: '/api/v1/status', headers: ROOT }));
    expect(await status()).toMatchObject({ leader: null });
    expect((await status()).leaderError).toBeUndefined();
    source = async () => ({ holder: 'agent-a@host:1', fencingToken: 12 });
    expect((await status()).leader).toEqual({ holder: 'agent-a@host:1', fencingToken: 12 });
    source = async () => ({ holder: 'agent-b@host:2' });
    expect((await status()).leader).toEqual({ holder: 'agent-b@host:2' });
    source = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:8500'), { code: 'BACKEND_UNAVAILABLE' });
    };
    const failed = await s.app.inject({ url: '/api/v1/status', headers: ROOT });
    expect(failed.statusCode).toBe(200);
    expect(body(failed)).toMatchObject({ leader: null, leaderError: 'BACKEND_UNAVAILABLE' });
    expect(failed.body).not.toContain('10.1.2.3');
    // Without a source the status has no leader field at all (unknown is not "nobody").
    await s.close();
    s = await serverHarness('memory', { rbac });
    expect('leader' in (await status())).toBe(false);
    expect(() =>
      createConfigServer({ service: s!.h.service, authenticators: [staticBearer()], rbac, leader: 'a' as never }),
    ).toThrow(/option leader/);
  });
});

describe('drift', () => {
  it('serves the latest report (filtered by kind); before the first run 404; the status sums it up', async () => {
    let latest: DriftReportView | undefined;
    s = await serverHarness('memory', { rbac, drift: async () => latest });
    const none = await s.app.inject({ url: '/api/v1/drift', headers: ROOT });
    expect({ status: none.statusCode, code: body(none).code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    expect(body(await s.app.inject({ url: '/api/v1/status', headers: ROOT })).drift).toBeNull();
    latest = REPORT;
    const res = await s.app.inject({ url: '/api/v1/drift', headers: ROOT });
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual(JSON.parse(JSON.stringify(REPORT)));
    const lagging = await s.app.inject({ url: '/api/v1/drift?kind=lagging-instance', headers: ROOT });
    expect((body(lagging).findings as Array<{ ref: string }>).map((f) => f.ref)).toEqual(['global/flags']);
    const two = await s.app.inject({ url: '/api/v1/drift?kind=lagging-instance&kind=head-mismatch', headers: ROOT });
    expect((body(two).findings as unknown[]).length).toBe(2);
    const status = await s.app.inject({ url: '/api/v1/status', headers: ROOT });
    expect(body(status).drift).toEqual({ startedAt: REPORT.startedAt, examined: 42, findings: 2, remediated: 1 });
  });

  it('a synchronous source works too; bad query, RBAC, no source', async () => {
    s = await serverHarness('memory', { rbac, drift: () => REPORT });
    expect((await s.app.inject({ url: '/api/v1/drift', headers: ROOT })).statusCode).toBe(200);
    const bad = await s.app.inject({ url: '/api/v1/drift?since=yesterday', headers: ROOT });
    expect({ status: bad.statusCode, code: body(bad).code }).toEqual({ status: 400, code: 'CONSTRAINT_VIOLATION' });
    const denied = await s.app.inject({ url: '/api/v1/drift', headers: auth('reader-secret') });
    expect(denied.statusCode).toBe(403);
    await s.close();
    s = await serverHarness('memory', { rbac });
    const res = await s.app.inject({ url: '/api/v1/drift', headers: ROOT });
    expect({ status: res.statusCode, code: body(res).code }).toEqual({ status: 501, code: 'CONSTRAINT_VIOLATION' });
  });

  it('a failing source is a 500 that says nothing of its cause', async () => {
    s = await serverHarness('memory', {
      rbac,
      drift: async () => {
        throw new Error('connect ECONNREFUSED 10.1.2.3:8500');
      },
    });
    const res = await s.app.inject({ url: '/api/v1/drift', headers: ROOT });
    expect({ status: res.statusCode, code: body(res).code }).toEqual({ status: 500, code: 'INTERNAL' });
    expect(res.body).not.toContain('10.1.2.3');
  });

  it('options are checked at construction', async () => {
    s = await serverHarness('memory');
    const base = { service: s.h.service, authenticators: [staticBearer()] };
    expect(() => createConfigServer({ ...base, drift: () => REPORT })).toThrow(/rbac/);
    expect(() => createConfigServer({ ...base, rbac, drift: 'latest' as never })).toThrow(/option drift/);
    expect(() => createConfigServer({ ...base, rbac: {} as never })).toThrow(/option rbac/);
  });
});
