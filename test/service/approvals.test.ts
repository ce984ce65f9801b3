/**
 * Approval workflows on every backing (memory, real PostgreSQL, PGlite): policies per environment,
 * the request state machine, expiry, scheduling, emergency changes, and concurrency (two approvers
 * at the same moment; apply called twice at once).
 */
import { type ChangeRequest, type ConfigService, type Environment, refKey } from '@summit-config/core';
import { ApprovalRequiredError } from '@summit-config/core/internal';
import { actors } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import {
  BACKINGS,
  closeShared,
  ENVIRONMENTS,
  type Harness,
  RBAC,
  withHarness,
} from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const REF = 'app:billing/database';

/**
 * Runs `fn` on a harness whose RBAC adds a `writer` role (config write and read, approval requests),
 * once version 1 of REF is written (see `create`).
 */
function withVersion1(
  backing: (typeof BACKINGS)[number],
  fn: (h: Harness, svc: ConfigService) => Promise<void>,
  environments: Environment[] = ENVIRONMENTS,
): Promise<void> {
  const rbac = { ...RBAC, roles: { ...RBAC.roles, writer: ['config:write', 'config:read', 'approval:request'] } };
  return withHarness(
    backing,
    async (h) => {
      await create(h);
      await fn(h, h.service);
    },
    { environments, rbac },
  );
}

/** The version the store holds for REF. */
async function headVersion(h: Harness): Promise<number | undefined> {
  return (await h.store.getHead({ scope: 'app:billing', id: 'database' }))?.version;
}

/** What `call` rejects with (or its result). */
function refusal(call: Promise<unknown>): Promise<unknown> {
  return call.catch((e: unknown) => e);
}

/** Version 1, written by root as an emergency change (its review is left pending). */
async function create(h: Harness, config: Record<string, number> = { pool: 1 }, ref = REF) {
  return h.service.set(actors.root, { ref, config }, { emergency: true });
}

async function requestEvents(h: Harness, id: string): Promise<string[]> {
  return (await h.service.audit(actors.root, { requestId: id })).map((e) => e.action);
}

describe.each(BACKINGS)('approvals (%s)', (backing) => {
  it('a guarded change needs approval: propose, approve twice, apply', async () => {
    await withVersion1(backing, async (h, svc) => {
      const refused = await refusal(svc.set(actors.alice, { ref: REF, config: { pool: 2 } }));
      expect(refused).toBeInstanceOf(ApprovalRequiredError);
      expect((refused as ApprovalRequiredError).environments).toEqual(['production', 'production-eu']);
      expect(await headVersion(h)).toBe(1);

      const request = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 }, message: 'bigger pool' });
      expect(request).toMatchObject({
        status: 'pending',
        baseVersion: 1,
        requiredApprovals: 2,
        environments: ['production', 'production-eu'],
        requirements: [
          { environment: 'production', requiredApprovals: 2, approvers: [] },
          { environment: 'production-eu', requiredApprovals: 1, approvers: [] },
        ],
        requestedBy: 'alice',
        expiresAt: '2030-01-02T00:00:00.000Z',
      });
      const once = await svc.approve(actors.bob, request.id, { comment: 'ok' });
      expect(once.status).toBe('pending');
      expect(await codeOf(svc.apply(actors.alice, request.id))).toBe('INSUFFICIENT_APPROVERS');
      const twice = await svc.approve(actors.carol, request.id);
      expect(twice.status).toBe('approved');
      expect(twice.approvals.map((a) => [a.by, a.environments])).toEqual([
        ['bob', ['production', 'production-eu']],
        ['carol', ['production', 'production-eu']],
      ]);
      const applied = await svc.apply(actors.alice, request.id);
      expect(applied).toMatchObject({ status: 'applied', appliedVersion: 2, appliedBy: 'alice' });
      const head = await svc.get(actors.reader, REF);
      expect(head).toMatchObject({
        version: 2,
        config: { pool: 2 },
        createdBy: 'alice',
        message: 'bigger pool',
        metadata: { changeRequest: request.id },
      });
      expect(await requestEvents(h, request.id)).toEqual([
        'request.create',
        'request.approve',
        'request.approve',
        'request.apply',
      ]);
      const [applyEvent] = await svc.audit(actors.root, { action: 'request.apply' });
      expect(applyEvent).toMatchObject({
        actor: 'alice',
        ref: REF,
        version: 2,
        changes: [{ op: 'replace', path: '/config/pool', value: 2 }],
      });
      expect(await svc.verifyAudit(actors.root)).toMatchObject({ ok: true });
    });
  });

  it('auto-approves non-guarded environments; an override reaches its descendants', async () => {
    await withVersion1(backing, async (h, svc) => {
      const dev = await svc.set(actors.alice, {
        ref: REF,
        config: { pool: 1 },
        overrides: { development: { pool: 9 } },
      });
      expect(dev.version).toBe(2);
      const staging = await svc.propose(actors.alice, {
        ref: REF,
        config: { pool: 1 },
        overrides: { development: { pool: 9 }, staging: { pool: 3 } },
      });
      expect(staging).toMatchObject({ status: 'approved', requirements: [], requiredApprovals: 0 });
      expect((await svc.apply(actors.alice, staging.id)).appliedVersion).toBe(3);
      const prod = await refusal(
        svc.set(actors.alice, { ref: REF, config: { pool: 1 }, overrides: { production: { pool: 5 } } }),
      );
      expect(prod).toMatchObject({ code: 'APPROVAL_REQUIRED', environments: ['production', 'production-eu'] });
      const eu = await refusal(
        svc.set(actors.alice, {
          ref: REF,
          config: { pool: 1 },
          overrides: { development: { pool: 9 }, staging: { pool: 3 }, 'production-eu': { pool: 5 } },
        }),
      );
      expect(eu).toMatchObject({ code: 'APPROVAL_REQUIRED', environments: ['production-eu'] });
      expect(await headVersion(h)).toBe(3);
    });
  });

  it('refuses self-approval and ineligible approvers; the same approver twice counts once', async () => {
    await withVersion1(backing, async (_h, svc) => {
      const request = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 } });
      const self = await refusal(svc.approve(actors.alice, request.id));
      expect(self).toMatchObject({ code: 'ACCESS_DENIED', permission: 'approval:approve' });
      expect((self as Error).message).toMatch(/no self-approval/);
      await svc.approve(actors.bob, request.id);
      const again = await svc.approve(actors.bob, request.id);
      expect(again.approvals).toHaveLength(1);
      expect(again.status).toBe('pending');
      expect(await codeOf(svc.reject(actors.bob, request.id, { reason: 'changed my mind' }))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      expect(await codeOf(svc.approve(actors.reader, request.id))).toBe('ACCESS_DENIED');
      expect((await svc.getRequest(actors.root, request.id)).approvals.map((a) => a.by)).toEqual(['bob']);
    });
  });

  it('honours the approvers list (users and role:<name>) and refuses a policy nobody can satisfy', async () => {
    const envs: Environment[] = [
      {
        name: 'prod',
        production: true,
        approvalPolicy: { requiredApprovals: 1, approvers: ['role:sre', 'carol'], allowEmergency: true },
      },
    ];
    await withVersion1(
      backing,
      async (_h, svc) => {
        const request = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 } });
        const bob = await refusal(svc.approve(actors.bob, request.id));
        expect(bob).toMatchObject({ code: 'ACCESS_DENIED' });
        expect((bob as Error).message).toMatch(/not an eligible approver .*role:sre, carol/);
        expect((await svc.approve(actors.dave, request.id)).status).toBe('approved');
        await svc.updateEnvironment(actors.root, {
          name: 'prod',
          production: true,
          approvalPolicy: { requiredApprovals: 1, approvers: ['alice'] },
        });
        const before = await svc.listRequests(actors.root);
        expect(await codeOf(svc.propose(actors.alice, { ref: REF, config: { pool: 3 } }))).toBe(
          'INSUFFICIENT_APPROVERS',
        );
        expect(await svc.listRequests(actors.root)).toEqual(before);
      },
      envs,
    );
  });

  it('rejection and cancellation are final', async () => {
    await withVersion1(backing, async (h, svc) => {
      const r1 = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 } });
      expect(await codeOf(svc.reject(actors.bob, r1.id, { reason: '' }))).toBe('CONSTRAINT_VIOLATION');
      const rejected = await svc.reject(actors.bob, r1.id, { reason: 'too big' });
      expect(rejected).toMatchObject({ status: 'rejected', closedBy: 'bob', reason: 'too big' });
      expect(await codeOf(svc.approve(actors.carol, r1.id))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(svc.apply(actors.alice, r1.id))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(svc.cancel(actors.alice, r1.id))).toBe('CONSTRAINT_VIOLATION');

      const r2 = await svc.propose(actors.alice, { ref: REF, config: { pool: 3 } });
      expect(await codeOf(svc.cancel(actors.reader, r2.id))).toBe('ACCESS_DENIED');
      expect(await svc.cancel(actors.alice, r2.id, { reason: 'not needed' })).toMatchObject({
        status: 'cancelled',
        closedBy: 'alice',
      });
      expect(await codeOf(svc.approve(actors.bob, r2.id))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(svc.approve(actors.bob, 'no-such-request'))).toBe('NOT_FOUND');
      expect(await codeOf(svc.approve(actors.bob, "x'; DROP TABLE approval_workflows; --"))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      expect(await headVersion(h)).toBe(1);
      expect(await requestEvents(h, r1.id)).toEqual(['request.create', 'request.reject']);
      expect(await requestEvents(h, r2.id)).toEqual(['request.create', 'request.cancel']);
    });
  });

  it('a pending request expires: approving after expiry is refused and records the expiry', async () => {
    await withVersion1(backing, async (h, svc) => {
      const request = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 } });
      await svc.approve(actors.bob, request.id);
      h.clock.advanceHours(24);
      const late = await refusal(svc.approve(actors.carol, request.id));
      expect(late).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect((late as Error).message).toMatch(/expired at 2030-01-02T00:00:00.000Z/);
      expect((await svc.getRequest(actors.root, request.id)).status).toBe('expired');
      expect(await codeOf(svc.apply(actors.alice, request.id))).toBe('CONSTRAINT_VIOLATION');
      expect(await requestEvents(h, request.id)).toEqual(['request.create', 'request.approve', 'request.expire']);
    });
  });

  it('applies scheduled requests when due (applyDue) and expires stale ones', async () => {
    await withVersion1(backing, async (h, svc) => {
      const scheduled = await svc.propose(actors.alice, {
        ref: REF,
        config: { pool: 2 },
        applyAt: '2030-01-01T02:00:00Z',
      });
      expect(scheduled.applyAt).toBe('2030-01-01T02:00:00.000Z');
      await svc.approve(actors.bob, scheduled.id);
      await svc.approve(actors.carol, scheduled.id);
      expect(await codeOf(svc.apply(actors.alice, scheduled.id))).toBe('CONSTRAINT_VIOLATION');
      const stale = await svc.propose(actors.bob, { ref: 'global/limits', config: { rps: 5 } });
      expect(await codeOf(svc.applyDue(actors.reader))).toBe('ACCESS_DENIED');

      h.clock.advanceHours(1);
      expect(await svc.applyDue(actors.agent)).toEqual({ applied: [], expired: [], failed: [] });
      const due = await svc.applyDue(actors.agent, { now: new Date('2030-01-01T03:00:00Z') });
      expect(due.applied.map((r) => [r.id, r.status, r.appliedVersion, r.appliedBy])).toEqual([
        [scheduled.id, 'applied', 2, 'agent'],
      ]);
      expect(due.expired).toEqual([]);
      expect((await h.store.getVersion({ scope: 'app:billing', id: 'database' }))?.createdAt).toBe(
        '2030-01-01T03:00:00.000Z',
      );
      const later = await svc.applyDue(actors.agent, { now: new Date('2030-01-02T00:00:00Z') });
      expect(later.expired.map((r) => [r.id, r.status])).toEqual([[stale.id, 'expired']]);
      expect(later.applied).toEqual([]);
      const [applyEvent] = await svc.audit(actors.root, { requestId: scheduled.id, action: 'request.apply' });
      expect(applyEvent).toMatchObject({ actor: 'agent', source: 'agent', version: 2 });
    });
  });

  it('applying a request whose base version is no longer the head is CONFLICTING_CHANGE', async () => {
    await withVersion1(backing, async (_h, svc) => {
      const request = await svc.propose(actors.alice, { ref: REF, config: { pool: 2 } });
      await svc.approve(actors.bob, request.id);
      await svc.approve(actors.carol, request.id);
      await svc.set(actors.root, { ref: REF, config: { pool: 7 } }, { emergency: true });
      const error = await refusal(svc.apply(actors.alice, request.id));
      expect(error).toMatchObject({ code: 'CONFLICTING_CHANGE' });
      expect((error as Error).message).toMatch(/made against v1, but the head is now v2/);
      expect((await svc.getRequest(actors.root, request.id)).status).toBe('approved');
      expect((await svc.get(actors.root, REF))?.config).toEqual({ pool: 7 });
      expect(await codeOf(svc.propose(actors.alice, { ref: REF, config: { pool: 3 }, baseVersion: 1 }))).toBe(
        'VERSION_CONFLICT',
      );
    });
  });

  it('emergency changes apply at once and open a mandatory review', async () => {
    await withVersion1(backing, async (h, svc) => {
      const written = await svc.set(actors.alice, { ref: REF, config: { pool: 50 } }, { emergency: true });
      expect(written.metadata).toMatchObject({ emergency: true });
      const id = written.metadata.changeRequest as string;
      const review = await svc.getRequest(actors.root, id);
      expect(review).toMatchObject({
        status: 'applied',
        emergency: true,
        review: 'pending',
        appliedVersion: 2,
        requiredApprovals: 2,
      });
      const open = await svc.listRequests(actors.root, { reviewPending: true });
      expect(open.map((r) => r.id)).toContain(id);
      expect(await codeOf(svc.approve(actors.alice, id))).toBe('ACCESS_DENIED');
      expect((await svc.approve(actors.bob, id)).review).toBe('pending');
      const done = await svc.approve(actors.carol, id);
      expect(done).toMatchObject({ status: 'applied', review: 'approved' });
      expect((await svc.listRequests(actors.root, { reviewPending: true })).map((r) => r.id)).not.toContain(id);
      expect(await requestEvents(h, id)).toEqual(['config.set', 'review.approve', 'review.approve']);
      const [setEvent] = await svc.audit(actors.root, { requestId: id, action: 'config.set' });
      expect(setEvent?.message).toMatch(/^\[emergency, review pending\]/);

      // A role that may write but not declare emergencies.
      const writer = { id: 'wendy', roles: ['writer'] };
      const denied = await refusal(svc.set(writer, { ref: REF, config: { pool: 1 } }, { emergency: true }));
      expect(denied).toMatchObject({ code: 'ACCESS_DENIED', permission: 'approval:emergency' });
      await svc.updateEnvironment(actors.root, {
        name: 'production',
        production: true,
        approvalPolicy: { requiredApprovals: 2, allowEmergency: false },
      });
      const forbidden = await refusal(svc.set(actors.alice, { ref: REF, config: { pool: 1 } }, { emergency: true }));
      expect(forbidden).toMatchObject({ code: 'APPROVAL_REQUIRED', environments: ['production'] });
      expect(await headVersion(h)).toBe(2);
    });
  });

  it('production environments refuse emergency changes unless their policy allows them', async () => {
    const environments: Environment[] = [
      { name: 'staging', production: false },
      { name: 'production', production: true },
      { name: 'production-us', production: true, approvalPolicy: { requiredApprovals: 1, allowEmergency: true } },
    ];
    await withHarness(
      backing,
      async (h) => {
        const svc = h.service;
        // Default policy: production is guarded and allows no emergency bypass.
        const refused = await refusal(
          svc.set(actors.root, { ref: REF, config: { pool: 1 }, overrides: {} }, { emergency: true }),
        );
        expect(refused).toMatchObject({ code: 'APPROVAL_REQUIRED', environments: ['production'] });
        expect((refused as Error).message).toMatch(/emergency changes are not allowed in production;/);
        expect(await headVersion(h)).toBeUndefined();
        // An explicit allowEmergency: true allows it (the base config touches both; make production allow too).
        await svc.updateEnvironment(actors.root, {
          name: 'production',
          production: true,
          approvalPolicy: { requiredApprovals: 1, allowEmergency: true },
        });
        const written = await svc.set(actors.root, { ref: REF, config: { pool: 1 } }, { emergency: true });
        expect(written.metadata).toMatchObject({ emergency: true });
        expect(await svc.getRequest(actors.root, written.metadata.changeRequest as string)).toMatchObject({
          status: 'applied',
          review: 'pending',
          environments: ['production', 'production-us'],
        });
      },
      { environments },
    );
  });

  it('delete and rollback go through approvals too', async () => {
    await withVersion1(backing, async (_h, svc) => {
      expect(await codeOf(svc.delete(actors.alice, REF))).toBe('APPROVAL_REQUIRED');
      const del = await svc.propose(actors.alice, { ref: REF, kind: 'delete', message: 'retire' });
      await svc.approve(actors.bob, del.id);
      await svc.approve(actors.carol, del.id);
      await svc.apply(actors.alice, del.id);
      expect((await svc.get(actors.root, REF))?.metadata).toMatchObject({ deleted: true, changeRequest: del.id });
      const back = await svc.propose(actors.alice, { ref: REF, kind: 'rollback' });
      expect(back.proposed).toMatchObject({ config: { pool: 1 }, metadata: { rollbackOf: 1 } });
      await svc.approve(actors.bob, back.id);
      await svc.approve(actors.carol, back.id);
      const applied = await svc.apply(actors.alice, back.id);
      expect(applied.appliedVersion).toBe(3);
      expect(await svc.get(actors.root, REF)).toMatchObject({ version: 3, config: { pool: 1 } });
    });
  });

  it('two approvers approving at the same moment both count', async () => {
    await withVersion1(backing, async (h) => {
      const twin = await h.twin();
      try {
        for (let round = 0; round < 5; round++) {
          const request = await h.service.propose(actors.alice, { ref: REF, config: { pool: 10 + round } });
          const [a, b] = await Promise.all([
            h.service.approve(actors.bob, request.id),
            twin.service.approve(actors.carol, request.id),
          ]);
          const final = await h.service.getRequest(actors.root, request.id);
          expect(final.status).toBe('approved');
          expect(final.approvals.map((x) => x.by).sort()).toEqual(['bob', 'carol']);
          expect(final.revision).toBe(3);
          // Exactly one of the two saw the other's approval.
          expect([a.approvals.length, b.approvals.length].sort()).toEqual([1, 2]);
          expect(await requestEvents(h, request.id)).toEqual(['request.create', 'request.approve', 'request.approve']);
          await h.service.cancel(actors.alice, request.id);
        }
      } finally {
        await twin.close();
      }
    });
  });

  it('apply called twice at the same moment applies once', async () => {
    await withVersion1(backing, async (h) => {
      const twin = await h.twin();
      const ref = { scope: 'app:billing', id: 'database' } as const;
      try {
        let base = 1;
        for (let round = 0; round < 4; round++) {
          const request = await h.service.propose(actors.alice, { ref: REF, config: { pool: 100 + round } });
          await h.service.approve(actors.bob, request.id);
          await h.service.approve(actors.carol, request.id);
          const results = await Promise.allSettled([
            h.service.apply(actors.alice, request.id),
            twin.service.apply(actors.bob, request.id),
          ]);
          const applied = results.map((r) => {
            expect(r.status).toBe('fulfilled');
            return (r as PromiseFulfilledResult<ChangeRequest>).value;
          });
          expect(applied.map((r) => [r.status, r.appliedVersion])).toEqual([
            ['applied', base + 1],
            ['applied', base + 1],
          ]);
          expect(await h.store.listVersions(ref)).toHaveLength(base + 1);
          expect(await requestEvents(h, request.id)).toEqual([
            'request.create',
            'request.approve',
            'request.approve',
            'request.apply',
          ]);
          base++;
        }
        expect(refKey(ref)).toBe(REF);
        expect(await h.service.verifyAudit(actors.root)).toMatchObject({ ok: true });
      } finally {
        await twin.close();
      }
    });
  });
});
