/**
 * The governance storage seam itself, on memory, the real PostgreSQL and PGlite: the same answers,
 * atomic read-modify-write, idempotent schema saves, CLOSED after close, BACKEND_UNAVAILABLE when the
 * database cannot be reached.
 */
import { createPgliteGovernance } from '@summit-config/backends/pglite';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { type ChangeRequest, errors, type GovernanceStore } from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKINGS, closeShared, codeOf, harness } from './helpers.js';

afterAll(closeShared);

function request(id: string, extra: Partial<ChangeRequest> = {}): ChangeRequest {
  return {
    id,
    ref: { scope: 'app:billing', id: 'db' },
    kind: 'set',
    baseVersion: 0,
    proposed: { config: { a: 1 }, overrides: {}, rollout: null, metadata: {} },
    message: 'm',
    requestedBy: 'alice',
    requestedAt: '2030-01-01T00:00:00.000Z',
    environments: ['production'],
    requirements: [{ environment: 'production', requiredApprovals: 1, approvers: ['role:sre', 'bob'] }],
    requiredApprovals: 1,
    approvals: [],
    status: 'pending',
    emergency: false,
    expiresAt: '2030-01-04T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    revision: 1,
    ...extra,
  };
}

const event = { at: '2030-01-01T00:00:00Z', actor: 'alice', action: 'request.create', message: 'x' };

describe.each(BACKINGS)('governance storage (%s)', (backing) => {
  async function withGovernance(fn: (g: GovernanceStore) => Promise<void>): Promise<void> {
    const h = await harness(backing);
    try {
      await fn(h.governance);
    } finally {
      await h.close();
    }
  }

  it('stores requests with their audit event atomically and refuses a duplicate id', async () => {
    await withGovernance(async (g) => {
      await g.createRequest(request('r1'), { ...event, requestId: 'r1' });
      expect(await g.getRequest('r1')).toEqual(request('r1'));
      expect(await codeOf(g.createRequest(request('r1'), event))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(g.createRequest(request('r2'), { ...event, action: 'Bad Action' }))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      expect(await g.getRequest('r2')).toBeUndefined();
      expect((await g.readAuditChain(0, 10)).map((r) => r.requestId)).toEqual(['r1']);
      await g.createRequest(request('r0', { requestedAt: '2029-12-31T00:00:00.000Z', status: 'approved' }));
      expect((await g.listRequests()).map((r) => r.id)).toEqual(['r0', 'r1']);
      expect((await g.listRequests({ status: 'pending' })).map((r) => r.id)).toEqual(['r1']);
      expect(
        (await g.listRequests({ status: ['approved', 'pending'], ref: 'app:billing/db' })).map((r) => r.id),
      ).toEqual(['r0', 'r1']);
      expect(await g.listRequests({ ref: 'global/db' })).toEqual([]);
    });
  });

  it('updates a request under its lock; a throwing update writes nothing', async () => {
    await withGovernance(async (g) => {
      await g.createRequest(request('r1'));
      expect(await g.updateRequest('missing', (r) => ({ value: r }))).toBeUndefined();
      await expect(
        g.updateRequest('r1', () => {
          throw errors.constraint('no');
        }),
      ).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(await g.updateRequest('r1', () => undefined)).toEqual(request('r1'));
      const updated = await g.updateRequest('r1', (r) => ({
        value: { ...r, status: 'approved', revision: r.revision + 1 },
        audit: { ...event, action: 'request.approve', requestId: 'r1' },
      }));
      expect(updated).toMatchObject({ status: 'approved', revision: 2 });
      expect((await g.getRequest('r1'))?.status).toBe('approved');
      expect((await g.readAuditChain(0, 10)).map((r) => r.action)).toEqual(['request.approve']);
      // Ten concurrent increments: each sees the previous one.
      await Promise.all(
        Array.from({ length: 10 }, () => g.updateRequest('r1', (r) => ({ value: { ...r, revision: r.revision + 1 } }))),
      );
      expect((await g.getRequest('r1'))?.revision).toBe(12);
    });
  });

  it('keeps schema versions: the same content again is a no-op, other content is refused', async () => {
    await withGovernance(async (g) => {
      await g.saveSchema('db', 1, { type: 'object' });
      await g.saveSchema('db', 1, { type: 'object' });
      expect(await codeOf(g.saveSchema('db', 1, { type: 'string' }))).toBe('CONSTRAINT_VIOLATION');
      await g.saveSchema('db', 2, { type: 'object', properties: {} });
      expect(await g.loadSchemas('db')).toEqual([
        { version: 1, schema: { type: 'object' } },
        { version: 2, schema: { type: 'object', properties: {} } },
      ]);
      expect(await g.loadSchemas('other')).toEqual([]);
    });
  });

  it('imports a snapshot only into empty storage, atomically', async () => {
    await withGovernance(async (g) => {
      const snapshot = {
        environments: [{ name: 'production', production: true, approvalPolicy: { requiredApprovals: 2 } }],
        schemas: [{ id: 'db', version: 1, schema: { type: 'object' } }],
        policies: [{ name: 'rotation', policy: { days: 9 }, updatedAt: '2030-01-01T00:00:00.000Z' }],
        requests: [request('r1')],
      };
      expect(await g.isEmpty()).toBe(true);
      await g.importSnapshot(snapshot, { ...event, action: 'import' });
      expect(await g.isEmpty()).toBe(false);
      expect(await g.listEnvironments()).toEqual(snapshot.environments);
      expect(await g.listSchemas()).toEqual(snapshot.schemas);
      expect(await g.listPolicies()).toEqual(snapshot.policies);
      expect(await codeOf(g.importSnapshot(snapshot))).toBe('CONSTRAINT_VIOLATION');
      expect((await g.readAuditChain(0, 10)).map((r) => r.action)).toEqual(['import']);
    });
  });

  it('is closed for good after close()', async () => {
    const h = await harness(backing);
    try {
      await h.governance.close();
      await h.governance.close();
      expect(await codeOf(h.governance.listEnvironments())).toBe('CLOSED');
      expect(await codeOf(h.governance.appendAudit(event))).toBe('CLOSED');
    } finally {
      await h.close();
    }
  });
});

describe('SQL governance options and outages', () => {
  it('names the bad option', () => {
    expect(() => createPostgresGovernance({} as never)).toThrow(/connectionString/);
    expect(() => createPostgresGovernance({ connectionString: 'postgres://x', schema: '' })).toThrow(/schema/);
    expect(() => createPostgresGovernance({ connectionString: 'postgres://x', connectTimeoutMs: 0 })).toThrow(
      /connectTimeoutMs/,
    );
    expect(() => createPgliteGovernance({ dataDir: '' })).toThrow(/dataDir/);
  });

  it('fails fast with BACKEND_UNAVAILABLE when the database cannot be reached', async () => {
    // A port nothing listens on, on this machine only.
    const g = createPostgresGovernance({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectTimeoutMs: 1000,
    });
    try {
      expect(await codeOf(g.appendAudit(event))).toBe('BACKEND_UNAVAILABLE');
      expect(await codeOf(g.listRequests())).toBe('BACKEND_UNAVAILABLE');
    } finally {
      await g.close();
    }
  });
});
