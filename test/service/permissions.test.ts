/**
 * RBAC of the change service: every operation against every built-in role (data file), deny by
 * default, ACCESS_DENIED naming the missing permission and writing nothing; wildcards; scoped
 * bindings from a YAML file.
 */
import { readFileSync } from 'node:fs';
import {
  type Actor,
  type AuditAnchor,
  type AuditCheckpoint,
  type ConfigService,
  createConfigService,
  createRbac,
  createSigner,
  generateSigningKey,
  isConfigError,
  parseRbacYaml,
} from '@summit-config/core';
import { AccessDeniedError } from '@summit-config/core/internal';
import { actors } from '@summit-config/test-support/builders';
import { readJson } from '@summit-config/test-support/fixtures';
import { closeShared, type Harness, harness, RBAC } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

interface MatrixRow {
  op: string;
  permission: string;
  allowed: string[];
}
const matrix = readJson('permission-matrix.json') as {
  roles: string[];
  operations: MatrixRow[];
};

const REF = 'app:billing/db';

interface Seeded {
  h: Harness;
  target: Harness;
  pending: string;
  approved: string;
  exported: string;
}

/** A memory service holding versions, a schema, a policy, a pending and an approved request. */
async function seeded(): Promise<Seeded> {
  const h = await harness('memory');
  const svc = h.service;
  const root = actors.root;
  await svc.set(root, { ref: REF, config: { a: 1 } });
  await svc.set(root, { ref: REF, config: { a: 2 } });
  await svc.registerSchema(root, 'db', { type: 'object' });
  await svc.putPolicy(root, 'rotation', { days: 90 });
  await svc.createEnvironment(root, { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1 } });
  const pending = await svc.propose(root, { ref: REF, config: { a: 3 } });
  // Requests keep the requirements they were made with; later changes are free again.
  await svc.updateEnvironment(root, { name: 'production', production: true, approvalPolicy: { requiredApprovals: 0 } });
  const approved = await svc.propose(root, { ref: REF, config: { a: 4 } });
  expect([pending.status, approved.status]).toEqual(['pending', 'approved']);
  let exported = '';
  for await (const line of await svc.exportAll(root)) exported += line;
  const target = await harness('memory');
  return { h, target, pending: pending.id, approved: approved.id, exported };
}

async function drain(lines: Promise<AsyncIterable<string>>): Promise<number> {
  let n = 0;
  for await (const _ of await lines) n++;
  return n;
}

function call(op: string, s: Seeded, a: Actor): Promise<unknown> {
  const svc: ConfigService = s.h.service;
  switch (op) {
    case 'get':
      return svc.get(a, REF);
    case 'getVersion':
      return svc.getVersion(a, REF, 1);
    case 'list':
      return svc.list(a);
    case 'history':
      return svc.history(a, REF);
    case 'diff':
      return svc.diff(a, REF, 1, 2);
    case 'set':
      return svc.set(a, { ref: REF, config: { a: 9 } });
    case 'delete':
      return svc.delete(a, REF);
    case 'rollback':
      return svc.rollback(a, REF, { to: 1 });
    case 'propose':
      return svc.propose(a, { ref: REF, config: { a: 8 } });
    case 'approve':
      return svc.approve(a, s.pending);
    case 'reject':
      return svc.reject(a, s.pending, { reason: 'no' });
    case 'cancel':
      return svc.cancel(a, s.pending);
    case 'apply':
      return svc.apply(a, s.approved);
    case 'applyDue':
      return svc.applyDue(a);
    case 'getRequest':
      return svc.getRequest(a, s.pending);
    case 'listRequests':
      return svc.listRequests(a);
    case 'createEnvironment':
      return svc.createEnvironment(a, { name: 'qa', production: false });
    case 'updateEnvironment':
      return svc.updateEnvironment(a, { name: 'production', production: true });
    case 'listEnvironments':
      return svc.listEnvironments(a);
    case 'registerSchema':
      return svc.registerSchema(a, 'db', { type: 'object', properties: { a: { type: 'number' } } });
    case 'publishSchema':
      return svc.publishSchema(a, 'db', { type: 'object', properties: { a: { type: 'number' } } });
    case 'getSchema':
      return svc.getSchema(a, 'db');
    case 'validateDocument':
      return svc.validateDocument(a, 'db', { a: 1 });
    case 'listSchemas':
      return svc.listSchemas(a);
    case 'putPolicy':
      return svc.putPolicy(a, 'other', { x: 1 });
    case 'getPolicy':
      return svc.getPolicy(a, 'rotation');
    case 'listPolicies':
      return svc.listPolicies(a);
    case 'audit':
      return svc.audit(a);
    case 'verifyAudit':
      return svc.verifyAudit(a);
    case 'checkpointAudit':
      return checkpointAs(s, a);
    case 'recordEvent':
      return svc.recordEvent(a, { action: 'secret.create', message: 'm', permission: 'secrets:write' });
    case 'resignHeads':
      return svc.resignHeads(a, { dryRun: true });
    case 'exportAll':
      return drain(svc.exportAll(a));
    case 'importAll':
      return s.target.service.importAll(a, s.exported);
    default:
      throw new Error(`no call for ${op}`);
  }
}

/** checkpointAudit needs a signing service: one over the same storage, its unsigned trail adopted by root. */
async function checkpointAs(s: Seeded, a: Actor): Promise<unknown> {
  let kept: AuditCheckpoint | undefined;
  const anchor: AuditAnchor = {
    name: 'memory',
    read: async () => kept,
    write: async (c) => {
      if (!kept || kept.seq <= c.seq) kept = c;
    },
  };
  const signing = createConfigService({
    store: s.h.store,
    governance: s.h.governance,
    rbac: createRbac(RBAC),
    signer: createSigner(generateSigningKey().privateKeyPem),
    auditAnchors: [anchor],
  });
  try {
    await signing.checkpointAudit(actors.root, { adopt: true });
    return await signing.checkpointAudit(a);
  } finally {
    await signing.close();
  }
}

const cases = matrix.operations.flatMap((row) =>
  matrix.roles.map((role) => ({ ...row, role, expected: row.allowed.includes(role) ? 'allowed' : 'denied' })),
);

describe('permission matrix (every operation x every built-in role)', () => {
  it('covers every operation of the service', async () => {
    const s = await seeded();
    const methods = Object.keys(s.h.service).filter(
      (k) => typeof (s.h.service as unknown as Record<string, unknown>)[k] === 'function' && k !== 'close',
    );
    expect(methods.sort()).toEqual(matrix.operations.map((o) => o.op).sort());
    await s.h.close();
    await s.target.close();
  });

  it.each(cases)('$op as $role: $expected', async ({ op, role, permission, expected }) => {
    const s = await seeded();
    try {
      const actor: Actor = { id: `user-${role}`, roles: role === '(none)' ? [] : [role] };
      const before = (await s.h.governance.readAuditChain(0, 10_000)).length;
      const headsBefore = await s.h.store.listHeads();
      let error: unknown;
      try {
        await call(op, s, actor);
      } catch (e) {
        error = e;
      }
      if (expected === 'allowed') {
        expect(error).toBeUndefined();
      } else {
        expect(error).toBeInstanceOf(AccessDeniedError);
        expect((error as AccessDeniedError).code).toBe('ACCESS_DENIED');
        expect((error as AccessDeniedError).permission).toBe(permission);
        expect((error as Error).message).toContain(permission);
        // Nothing written: no audit event, no head moved, the target of import still empty.
        expect((await s.h.governance.readAuditChain(0, 10_000)).length).toBe(before);
        expect(await s.h.store.listHeads()).toEqual(headsBefore);
        expect(await s.target.store.listHeads()).toEqual([]);
      }
    } finally {
      await s.h.close();
      await s.target.close();
    }
  });
});

describe('rbac', () => {
  it('is deny by default: unknown roles, no roles, a malformed actor', async () => {
    const h = await harness('memory');
    try {
      for (const actor of [{ id: 'x' }, { id: 'x', roles: ['admin'] }, { id: 'x', roles: ['CONFIG-ADMIN'] }]) {
        await expect(h.service.get(actor, REF)).rejects.toMatchObject({ code: 'ACCESS_DENIED' });
      }
      for (const actor of [
        undefined,
        null,
        {},
        { id: '' },
        { id: 'a\u0000b' },
        { id: 7 },
        { id: 'x', roles: 'config-admin' },
      ]) {
        await expect(h.service.get(actor as never, REF)).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      }
    } finally {
      await h.close();
    }
  });

  it('matches wildcards: config:* covers config:audit:read, * covers everything', () => {
    const rbac = createRbac({ roles: { auditor: ['config:*'], all: ['*'], narrow: ['approval:approve'] } });
    expect(rbac.can({ id: 'a', roles: ['auditor'] }, 'config:audit:read')).toBe(true);
    expect(rbac.can({ id: 'a', roles: ['auditor'] }, 'approval:approve')).toBe(false);
    expect(rbac.can({ id: 'a', roles: ['all'] }, 'import')).toBe(true);
    expect(rbac.can({ id: 'a', roles: ['narrow'] }, 'approval:apply')).toBe(false);
  });

  it('grants actor:impersonate only by name (or actor:*), never through *', () => {
    const rbac = createRbac({
      roles: { all: ['*'], named: ['actor:impersonate'], namespace: ['actor:*'] },
    });
    expect(rbac.can({ id: 'a', roles: ['all'] }, 'actor:impersonate')).toBe(false);
    expect(rbac.can({ id: 'a', roles: ['named'] }, 'actor:impersonate')).toBe(true);
    expect(rbac.can({ id: 'a', roles: ['namespace'] }, 'actor:impersonate')).toBe(true);
  });

  it('applies scoped bindings from a YAML file only within their scopes, and group bindings', async () => {
    const yaml = readFileSync(new URL('../fixtures/rbac-bindings.yaml', import.meta.url), 'utf8');
    const rbac = createRbac(parseRbacYaml(yaml, { source: 'rbac-bindings.yaml' }));
    const erin = { id: 'erin', groups: ['billing-devs'] };
    expect(rbac.can(erin, 'config:write', 'app:billing')).toBe(true);
    expect(rbac.can(erin, 'config:write', 'app:search')).toBe(false);
    expect(rbac.can(erin, 'config:write', 'global')).toBe(false);
    expect(rbac.can(erin, 'config:write')).toBe(false);
    expect(rbac.can({ id: 'frank' }, 'approval:approve', 'global')).toBe(true);
    expect(rbac.rolesOf({ id: 'frank' })).toEqual(new Set(['config-admin']));
    try {
      rbac.check(erin, 'config:write', { scope: 'app:search', ref: 'app:search/index' });
      expect.unreachable();
    } catch (error) {
      expect(isConfigError(error, 'ACCESS_DENIED')).toBe(true);
      expect((error as Error).message).toMatch(/erin lacks permission config:write on app:search\/index/);
    }
  });

  it.each([
    ['not YAML', 'roles: [a\n  b: :', /line \d+, column \d+: not valid YAML/],
    [
      'an unknown permission',
      'roles:\n  ops:\n    permissions: [config:read, config:wrte]\n',
      /line 3, column \d+, field roles\.ops\.permissions\[1\]: .*unknown permission "config:wrte"/,
    ],
    [
      'a wildcard covering nothing',
      'roles:\n  ops: ["confg:*"]\n',
      /line 2, .*field roles\.ops\[0\]: .*covers no known permission/,
    ],
    [
      'an unknown role in a binding',
      'bindings:\n  - users: [a]\n    roles: [config-admin, admn]\n',
      /line 3, .*field bindings\[0\]\.roles\[1\]: unknown role "admn"/,
    ],
    [
      'a binding without subjects',
      'bindings:\n  - roles: [config-admin]\n',
      /line 2, .*field bindings\[0\]: a binding needs at least one user or group/,
    ],
    [
      'a bad scope',
      'bindings:\n  - users: [a]\n    roles: [config-admin]\n    scopes: ["app:"]\n',
      /line 4, .*field bindings\[0\]\.scopes\[0\]/,
    ],
    [
      'a redefined built-in role',
      'roles:\n  config-admin: ["*"]\n',
      /line 2, .*field roles\.config-admin: role "config-admin" is built in/,
    ],
    ['an unknown top-level field', 'roles: {}\nbindngs: []\n', /line 2, .*field bindngs: unknown field/],
    ['a duplicate key', 'roles:\n  a: [config:read]\n  a: [config:write]\n', /line 3, column \d+: not valid YAML/],
  ])(
    'refuses a bad role-bindings file (%s) with CONSTRAINT_VIOLATION naming the line and field',
    (_name, text, message) => {
      try {
        parseRbacYaml(text, { source: 'rbac.yaml' });
        expect.unreachable();
      } catch (error) {
        expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
        expect((error as Error).message).toMatch(/^rbac\.yaml/);
        expect((error as Error).message).toMatch(message);
      }
    },
  );
});
