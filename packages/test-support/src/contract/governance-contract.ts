/**
 * The governance storage contract suite (core's `GovernanceStore`). Every implementation runs it
 * with one call:
 *
 *   runGovernanceContract('postgres', { create: () => createPostgresGovernance({ ... }) });
 *
 * `create` must return a fresh, empty storage (or one on a fresh schema) each time; the suite closes
 * what it created after each test.
 */
import { type ChangeRequest, type GovernanceStore, isConfigError } from '@summit-config/core';
import {
  type AuditInput,
  type AuditRecord,
  auditHash,
  auditOriginText,
  errors,
  verifyAuditChain,
} from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { codeOf } from '../errors.js';
import { opened } from './opened.js';

export interface GovernanceContractOptions {
  /** A fresh, empty governance storage. */
  create: () => Promise<GovernanceStore> | GovernanceStore;
}

/** A pending change request of `app:billing/db` (the fields a storage must round-trip). */
export function changeRequest(id: string, extra: Partial<ChangeRequest> = {}): ChangeRequest {
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

/** The `n`th audit event of a chain. */
function input(n: number, extra: Partial<AuditInput> = {}): AuditInput {
  return {
    at: `2030-01-01T00:00:0${n % 10}.123Z`,
    actor: `user-${n}`,
    action: 'config.set',
    ref: 'app:billing/db',
    version: n,
    message: `change ${n}`,
    changes: [{ op: 'replace', path: '/config/n', value: n }],
    source: 'api',
    ...extra,
  };
}

export function runGovernanceContract(name: string, options: GovernanceContractOptions): void {
  describe(`governance contract: ${name}`, () => {
    const fresh = opened<GovernanceStore>(options.create);

    async function chainOf(n: number): Promise<AuditRecord[]> {
      const g = await fresh();
      for (let i = 1; i <= n; i++) await g.appendAudit(input(i));
      return g.readAuditChain(0, 1000);
    }

    it('chains audit events: seq 1, 2, 3 ..., each prevHash the previous hash', async () => {
      const records = await chainOf(5);
      expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(records[0]?.prevHash).toBeNull();
      for (let i = 1; i < records.length; i++) expect(records[i]?.prevHash).toBe(records[i - 1]?.hash);
      for (const r of records) expect(r.hash).toBe(auditHash(r));
      expect(verifyAuditChain(records)).toEqual({
        ok: true,
        checked: 5,
        head: { seq: 5, hash: records[4]?.hash },
        problems: [],
      });
    });

    it("keeps each event's signature as given (outside the hash), null when there is none", async () => {
      const g = await fresh();
      const signature = `ed25519:${'ab'.repeat(16)}:${Buffer.from('sig of event 1').toString('base64')}`;
      await g.appendAudit(input(1, { signature }));
      await g.appendAudit(input(2));
      const records = await g.readAuditChain(0, 10);
      expect(records.map((r) => r.signature)).toEqual([signature, null]);
      expect((await g.queryAudit({})).map((r) => r.signature)).toEqual([signature, null]);
      // The signature is not part of the hash: the record hashes as it would without one.
      expect(records[0]?.hash).toBe(auditHash(records[0] as AuditRecord));
      expect(verifyAuditChain(records)).toMatchObject({ ok: true, checked: 2 });
      // Stored fields are what the signer signed: the time in milliseconds, the patch as JSON text.
      expect(records[0]).toMatchObject({ at: '2030-01-01T00:00:01.123Z', changes: JSON.stringify(input(1).changes) });
      for (const bad of ['no-colon', 'key:not base64!', 'x'.repeat(2000), 42]) {
        await expect(g.appendAudit(input(3, { signature: bad as string }))).rejects.toMatchObject({
          code: 'CONSTRAINT_VIOLATION',
        });
      }
      expect(await g.readAuditChain(0, 10)).toHaveLength(2);
    });

    it('gives a chain in which verification names the first broken link: altered, removed, reordered, re-hashed', async () => {
      const records = await chainOf(6);
      const altered = records.map((r) => (r.seq === 3 ? { ...r, message: 'changed later' } : r));
      expect(verifyAuditChain(altered)).toMatchObject({
        ok: false,
        brokenAt: 3,
        reason: expect.stringMatching(/altered/),
      });

      const removed = records.filter((r) => r.seq !== 4);
      expect(verifyAuditChain(removed)).toMatchObject({
        ok: false,
        brokenAt: 5,
        reason: expect.stringMatching(/4..4 are missing/),
      });

      const swapped = records.map((r) =>
        r.seq === 2 ? { ...records[2], seq: 2 } : r.seq === 3 ? { ...records[1], seq: 3 } : r,
      ) as AuditRecord[];
      expect(verifyAuditChain(swapped)).toMatchObject({ ok: false, brokenAt: 2 });

      // An attacker who knows the formula re-hashes the row they changed: the next link breaks.
      const rehashed = records.map((r) => {
        if (r.seq !== 3) return r;
        const forged = { ...r, actor: 'mallory' };
        return { ...forged, hash: auditHash(forged) };
      });
      expect(verifyAuditChain(rehashed)).toMatchObject({
        ok: false,
        brokenAt: 4,
        reason: expect.stringMatching(/prevHash/),
      });

      const outOfOrder = [records[0], records[2], records[1]] as AuditRecord[];
      expect(verifyAuditChain(outOfOrder)).toMatchObject({ ok: false, brokenAt: 3 });
    });

    it("keeps each event's origin as JSON text (outside the hash), null when there is none", async () => {
      const g = await fresh();
      const origin = {
        requestId: 'req-1',
        method: 'token',
        tokenId: 'k3d7x2mq7ahf',
        remoteAddress: '127.0.0.1',
        userAgent: 'curl/8 "quoted"',
      };
      await g.appendAudit(input(1, { origin }));
      await g.appendAudit(input(2));
      const records = await g.readAuditChain(0, 10);
      // Stored in a fixed field order, whatever the order given.
      const text = auditOriginText(origin);
      expect(text).toBe(
        '{"method":"token","tokenId":"k3d7x2mq7ahf","remoteAddress":"127.0.0.1","userAgent":"curl/8 \\"quoted\\"","requestId":"req-1"}',
      );
      expect(records.map((r) => r.origin)).toEqual([text, null]);
      expect((await g.queryAudit({})).map((r) => r.origin)).toEqual([text, null]);
      expect(records[0]?.hash).toBe(auditHash(records[0] as AuditRecord));
      expect(verifyAuditChain(records)).toMatchObject({ ok: true, checked: 2 });
      for (const bad of [{ host: 'x' }, { userAgent: 'x'.repeat(513) }, { requestId: 'a\u0000b' }, 'text']) {
        await expect(g.appendAudit(input(3, { origin: bad as never }))).rejects.toMatchObject({
          code: 'CONSTRAINT_VIOLATION',
        });
      }
      expect(await g.readAuditChain(0, 10)).toHaveLength(2);
    });

    it('refuses bad audit inputs with CONSTRAINT_VIOLATION and writes nothing', async () => {
      const g = await fresh();
      const bad: Array<Partial<AuditInput>> = [
        { at: 'yesterday' },
        { actor: '' },
        { action: 'Config Set' },
        { action: "x'; drop" },
        { message: 'a\u0000b' },
        { message: '\ud800' },
        { version: 0 },
        { source: 'web' as never },
        { changes: 'replace' as never },
        { changes: [{ op: 'add', path: '/x', value: Number.NaN }] },
      ];
      for (const patch of bad) {
        try {
          await g.appendAudit(input(1, patch));
          expect.unreachable(JSON.stringify(patch));
        } catch (error) {
          expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
        }
      }
      expect(await g.readAuditChain(0, 100)).toEqual([]);
    });

    it('queries audit events by ref, actor, action prefix, request and time, oldest first', async () => {
      const g = await fresh();
      await g.appendAudit(input(1));
      await g.appendAudit(input(2, { action: 'request.create', requestId: 'r1', ref: 'global/x' }));
      await g.appendAudit(input(3, { action: 'request.approve', requestId: 'r1', ref: 'global/x', actor: 'bob' }));
      expect((await g.queryAudit({ ref: 'global/x' })).map((r) => r.seq)).toEqual([2, 3]);
      expect((await g.queryAudit({ action: 'request.' })).map((r) => r.seq)).toEqual([2, 3]);
      expect((await g.queryAudit({ action: 'request' })).map((r) => r.seq)).toEqual([]);
      expect((await g.queryAudit({ actor: 'bob' })).map((r) => r.seq)).toEqual([3]);
      expect((await g.queryAudit({ requestId: 'r1', afterSeq: 2 })).map((r) => r.seq)).toEqual([3]);
      expect(
        (await g.queryAudit({ since: '2030-01-01T00:00:02.000Z', until: '2030-01-01T00:00:03.000Z' })).map(
          (r) => r.seq,
        ),
      ).toEqual([2]);
      expect((await g.queryAudit({ limit: 1 })).map((r) => r.seq)).toEqual([1]);
      await expect(g.queryAudit({ limit: 0 })).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      await g.close();
      await expect(g.queryAudit()).rejects.toMatchObject({ code: 'CLOSED' });
    });

    it('stores requests with their audit event atomically and refuses a duplicate id', async () => {
      const g = await fresh();
      await g.createRequest(changeRequest('r1'), { ...event, requestId: 'r1' });
      expect(await g.getRequest('r1')).toEqual(changeRequest('r1'));
      expect(await codeOf(g.createRequest(changeRequest('r1'), event))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(g.createRequest(changeRequest('r2'), { ...event, action: 'Bad Action' }))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      expect(await g.getRequest('r2')).toBeUndefined();
      expect((await g.readAuditChain(0, 10)).map((r) => r.requestId)).toEqual(['r1']);
      await g.createRequest(changeRequest('r0', { requestedAt: '2029-12-31T00:00:00.000Z', status: 'approved' }));
      expect((await g.listRequests()).map((r) => r.id)).toEqual(['r0', 'r1']);
      expect((await g.listRequests({ status: 'pending' })).map((r) => r.id)).toEqual(['r1']);
      expect(
        (await g.listRequests({ status: ['approved', 'pending'], ref: 'app:billing/db' })).map((r) => r.id),
      ).toEqual(['r0', 'r1']);
      expect(await g.listRequests({ ref: 'global/db' })).toEqual([]);
    });

    it('updates a request under its lock; a throwing update writes nothing', async () => {
      const g = await fresh();
      await g.createRequest(changeRequest('r1'));
      expect(await g.updateRequest('missing', (r) => ({ value: r }))).toBeUndefined();
      await expect(
        g.updateRequest('r1', () => {
          throw errors.constraint('no');
        }),
      ).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(await g.updateRequest('r1', () => undefined)).toEqual(changeRequest('r1'));
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

    it('keeps schema versions: the same content again is a no-op, other content is refused', async () => {
      const g = await fresh();
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

    it('imports a snapshot only into empty storage, atomically', async () => {
      const g = await fresh();
      const snapshot = {
        environments: [{ name: 'production', production: true, approvalPolicy: { requiredApprovals: 2 } }],
        schemas: [{ id: 'db', version: 1, schema: { type: 'object' } }],
        policies: [{ name: 'rotation', policy: { days: 9 }, updatedAt: '2030-01-01T00:00:00.000Z' }],
        requests: [changeRequest('r1')],
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

    it('replaces environments and policies by name, each change with its event', async () => {
      const g = await fresh();
      expect(await g.listEnvironments()).toEqual([]);
      expect(await g.updateEnvironments(() => undefined)).toEqual([]);
      const created = await g.updateEnvironments((current) => ({
        value: [...current, { name: 'staging', production: false }, { name: 'production', production: true }],
        audit: { ...event, action: 'environment.create' },
      }));
      expect(created.map((e) => e.name)).toEqual(['production', 'staging']);
      const replaced = await g.updateEnvironments(() => ({
        value: [{ name: 'staging', parent: 'production', production: false }],
      }));
      expect(replaced).toEqual([
        { name: 'production', production: true },
        { name: 'staging', parent: 'production', production: false },
      ]);
      await expect(
        g.updateEnvironments(() => {
          throw errors.constraint('no');
        }),
      ).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect(await g.getPolicy('rotation')).toBeUndefined();
      await g.putPolicy({ name: 'rotation', policy: { days: 9 }, updatedAt: '2030-01-01T00:00:00.000Z' });
      await g.putPolicy(
        { name: 'rotation', policy: { days: 7 }, updatedAt: '2030-01-02T00:00:00.000Z' },
        { ...event, action: 'policy.update' },
      );
      await g.putPolicy({ name: 'access', policy: {}, updatedAt: '2030-01-01T00:00:00.000Z' });
      expect(await g.getPolicy('rotation')).toEqual({
        name: 'rotation',
        policy: { days: 7 },
        updatedAt: '2030-01-02T00:00:00.000Z',
      });
      expect((await g.listPolicies()).map((p) => p.name)).toEqual(['access', 'rotation']);
      expect((await g.readAuditChain(0, 10)).map((r) => r.action)).toEqual(['environment.create', 'policy.update']);
      expect(await g.isEmpty()).toBe(false);
    });

    it('is closed for good after close()', async () => {
      const g = await fresh();
      await g.close();
      await g.close();
      expect(await codeOf(g.listEnvironments())).toBe('CLOSED');
      expect(await codeOf(g.appendAudit(event))).toBe('CLOSED');
    });
  });
}
