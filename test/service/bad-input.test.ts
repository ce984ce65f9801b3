/**
 * Bad input on every entry point of the change service: malformed refs, oversized and non-JSON
 * documents, schema violations, unknown environments, injection strings, bad options. Each gets a
 * typed error and leaves nothing written (no version, no audit event, no request, no environment).
 */
import { type Actor, type ConfigService, isConfigError, SchemaValidationError } from '@summit-config/core';
import { actors } from '@summit-config/test-support/builders';
import { codeOf } from '@summit-config/test-support/errors';
import { readJson } from '@summit-config/test-support/fixtures';
import { closeShared, type Harness, harness } from '@summit-config/test-support/service';
import { afterAll, describe, expect, it } from 'vitest';

afterAll(closeShared);

const refs = readJson('refs.json') as {
  invalid: string[];
};
const BAD_REFS: unknown[] = [
  ...refs.invalid,
  "global/x'; DROP TABLE config_versions; --",
  { scope: 'global', id: '../etc/passwd' },
  { scope: "global'; --", id: 'x' },
  `global/${'a'.repeat(257)}`,
  null,
  42,
  {},
];

const ENVS = [
  { name: 'staging', production: false },
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1, allowEmergency: true } },
];
const REF = 'app:billing/database';
const root = actors.root;

/** State the assertions compare before and after each bad call. */
async function state(h: Harness) {
  const heads = await h.store.listHeads();
  return {
    heads: JSON.stringify(heads),
    audit: (await h.governance.readAuditChain(0, 10_000)).length,
    requests: JSON.stringify(await h.governance.listRequests()),
    environments: JSON.stringify(await h.governance.listEnvironments()),
    schemas: JSON.stringify(await h.governance.listSchemas()),
    policies: JSON.stringify(await h.governance.listPolicies()),
  };
}

async function prepared(backing: 'memory' | 'postgres'): Promise<Harness> {
  const h = await harness(backing, { environments: ENVS });
  await h.service.registerSchema(root, 'database', {
    type: 'object',
    properties: { pool: { type: 'integer', minimum: 1 }, host: { type: 'string' } },
    required: ['host'],
  });
  await h.service.set(root, { ref: 'global/database', config: { host: 'db' } }, { emergency: true });
  await h.service.set(root, { ref: REF, config: { pool: 5 } }, { emergency: true });
  return h;
}

function cycle(): Record<string, unknown> {
  const a: Record<string, unknown> = { x: 1 };
  a.self = a;
  return a;
}

type Call = [string, (svc: ConfigService, actor: Actor) => Promise<unknown>, string];

const refCalls = (bad: unknown): Call[] => [
  ['get', (s, a) => s.get(a, bad as string), 'INVALID_CONFIG_REF'],
  ['getVersion', (s, a) => s.getVersion(a, bad as string, 1), 'INVALID_CONFIG_REF'],
  ['history', (s, a) => s.history(a, bad as string), 'INVALID_CONFIG_REF'],
  ['diff', (s, a) => s.diff(a, bad as string, 0, 1), 'INVALID_CONFIG_REF'],
  ['set', (s, a) => s.set(a, { ref: bad as string, config: {} }), 'INVALID_CONFIG_REF'],
  ['delete', (s, a) => s.delete(a, bad as string), 'INVALID_CONFIG_REF'],
  ['rollback', (s, a) => s.rollback(a, bad as string), 'INVALID_CONFIG_REF'],
  ['propose', (s, a) => s.propose(a, { ref: bad as string, config: {} }), 'INVALID_CONFIG_REF'],
  ['listRequests', (s, a) => s.listRequests(a, { ref: bad as string }), 'INVALID_CONFIG_REF'],
  ['audit', (s, a) => s.audit(a, { ref: bad as string }), 'INVALID_CONFIG_REF'],
];

const big = { blob: 'x'.repeat(300 * 1024) };
const CONTENT: Call[] = [
  ['an oversized document', (s, a) => s.set(a, { ref: REF, config: big }, { emergency: true }), 'DOCUMENT_TOO_LARGE'],
  ['an oversized proposal', (s, a) => s.propose(a, { ref: REF, config: big }), 'DOCUMENT_TOO_LARGE'],
  ['an oversized policy', (s, a) => s.putPolicy(a, 'big', big), 'DOCUMENT_TOO_LARGE'],
  ['a function value', (s, a) => s.set(a, { ref: REF, config: { f: (() => 1) as never } }), 'CONSTRAINT_VIOLATION'],
  ['NaN', (s, a) => s.set(a, { ref: REF, config: { n: Number.NaN } }), 'CONSTRAINT_VIOLATION'],
  ['a bigint', (s, a) => s.set(a, { ref: REF, config: { n: 1n as never } }), 'CONSTRAINT_VIOLATION'],
  ['a Date', (s, a) => s.set(a, { ref: REF, config: { d: new Date() as never } }), 'CONSTRAINT_VIOLATION'],
  ['a cycle', (s, a) => s.set(a, { ref: REF, config: cycle() as never }), 'CONSTRAINT_VIOLATION'],
  ['an array config', (s, a) => s.set(a, { ref: REF, config: [1] as never }), 'CONSTRAINT_VIOLATION'],
  ['a string config', (s, a) => s.set(a, { ref: REF, config: '{"a":1}' as never }), 'CONSTRAINT_VIOLATION'],
  ['no config', (s, a) => s.set(a, { ref: REF } as never), 'CONSTRAINT_VIOLATION'],
  ['no input', (s, a) => s.set(a, undefined as never), 'CONSTRAINT_VIOLATION'],
  [
    'a non-object override',
    (s, a) => s.set(a, { ref: REF, config: {}, overrides: { staging: 3 as never } }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'reserved metadata',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 }, metadata: { deleted: true } }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'a bad rollout',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 }, rollout: { rules: [{ id: 'x', strategy: 'sometimes' }] } }),
    'SCHEMA_VALIDATION',
  ],
  [
    'a NUL in the message',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 }, message: 'a\u0000b' }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'a lone surrogate in the message',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 }, message: '\ud83d' }),
    'CONSTRAINT_VIOLATION',
  ],
];

const SCHEMA: Call[] = [
  [
    'a wrong type',
    (s, a) => s.set(a, { ref: REF, config: { pool: 'many' as never } }, { emergency: true }),
    'SCHEMA_VALIDATION',
  ],
  [
    'a value below the minimum in one environment',
    (s, a) => s.set(a, { ref: REF, config: { pool: 5 }, overrides: { staging: { pool: 0 } } }),
    'SCHEMA_VALIDATION',
  ],
  [
    'a required key removed by a global write (an app resolves without it)',
    (s, a) => s.set(a, { ref: 'global/database', config: {} }, { emergency: true }),
    'SCHEMA_VALIDATION',
  ],
  [
    'a rollout overlay that breaks the schema',
    (s, a) =>
      s.set(
        a,
        {
          ref: REF,
          config: { pool: 5 },
          rollout: { rules: [{ id: 'c', strategy: 'percentage', bps: 500, patch: { pool: -1 } }] },
        },
        { emergency: true },
      ),
    'SCHEMA_VALIDATION',
  ],
  ['a proposal', (s, a) => s.propose(a, { ref: REF, config: { pool: 'x' as never } }), 'SCHEMA_VALIDATION'],
  ['an invalid schema', (s, a) => s.registerSchema(a, 'database', { type: 'objekt' }), 'SCHEMA_VALIDATION'],
  [
    'a schema that current documents would fail',
    (s, a) => s.publishSchema(a, 'database', { type: 'object', required: ['host', 'port'] }),
    'SCHEMA_VALIDATION',
  ],
  [
    'a breaking schema change that documents still pass',
    (s, a) =>
      s.publishSchema(a, 'database', {
        type: 'object',
        properties: { pool: { type: 'integer', minimum: 1, maximum: 1000 }, host: { type: 'string' } },
        required: ['host'],
      }),
    'CONSTRAINT_VIOLATION',
  ],
  ['a schema for a bad id', (s, a) => s.registerSchema(a, "x'; --", { type: 'object' }), 'INVALID_CONFIG_REF'],
];

const ENVIRONMENTS: Call[] = [
  [
    'an override for an unknown environment',
    (s, a) => s.set(a, { ref: REF, config: { pool: 5 }, overrides: { qa: { pool: 2 } } }),
    'ENVIRONMENT_NOT_FOUND',
  ],
  [
    'an unknown parent',
    (s, a) => s.createEnvironment(a, { name: 'eu', parent: 'nowhere', production: true }),
    'ENVIRONMENT_NOT_FOUND',
  ],
  [
    'an update of an unknown environment',
    (s, a) => s.updateEnvironment(a, { name: 'qa', production: false }),
    'ENVIRONMENT_NOT_FOUND',
  ],
  [
    'a cycle of parents',
    (s, a) => s.updateEnvironment(a, { name: 'staging', parent: 'staging', production: false }),
    'CIRCULAR_DEPENDENCY',
  ],
  ['a duplicate', (s, a) => s.createEnvironment(a, { name: 'staging', production: false }), 'CONSTRAINT_VIOLATION'],
  [
    'an injection in the name',
    (s, a) => s.createEnvironment(a, { name: "qa'; DROP TABLE x; --", production: false }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'a bad policy',
    (s, a) => s.createEnvironment(a, { name: 'qa', production: true, approvalPolicy: { requiredApprovals: -1 } }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'an unknown policy field',
    (s, a) =>
      s.createEnvironment(a, {
        name: 'qa',
        production: true,
        approvalPolicy: { requiredApprovals: 1, approvers: 'me' } as never,
      }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'production not a boolean',
    (s, a) => s.createEnvironment(a, { name: 'qa', production: 'yes' as never }),
    'CONSTRAINT_VIOLATION',
  ],
];

const OPTIONS: Call[] = [
  [
    'a negative expectedVersion',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 } }, { expectedVersion: -1 }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'a stale expectedVersion',
    (s, a) => s.set(a, { ref: REF, config: { pool: 5 } }, { expectedVersion: 0 }),
    'VERSION_CONFLICT',
  ],
  [
    'emergency not a boolean',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 } }, { emergency: 'yes' as never }),
    'CONSTRAINT_VIOLATION',
  ],
  [
    'an unknown source',
    (s, a) => s.set(a, { ref: REF, config: { pool: 1 } }, { source: 'web' as never }),
    'CONSTRAINT_VIOLATION',
  ],
  ['an unknown kind', (s, a) => s.propose(a, { ref: REF, kind: 'merge' as never }), 'CONSTRAINT_VIOLATION'],
  [
    'applyAt not a date',
    (s, a) => s.propose(a, { ref: REF, config: { pool: 2 }, applyAt: 'tomorrow' }),
    'CONSTRAINT_VIOLATION',
  ],
  ['a request id with SQL', (s, a) => s.apply(a, "1' OR '1'='1"), 'CONSTRAINT_VIOLATION'],
  ['an unknown request', (s, a) => s.getRequest(a, 'does-not-exist'), 'NOT_FOUND'],
  ['a version 0', (s, a) => s.getVersion(a, REF, 0), 'CONSTRAINT_VIOLATION'],
  ['a missing version', (s, a) => s.getVersion(a, REF, 99), 'NOT_FOUND'],
  ['a policy name with SQL', (s, a) => s.putPolicy(a, "p'; --", {}), 'CONSTRAINT_VIOLATION'],
  ['a policy that is not an object', (s, a) => s.putPolicy(a, 'p', [1] as never), 'CONSTRAINT_VIOLATION'],
  ['an audit limit too large', (s, a) => s.audit(a, { limit: 1e9 }), 'CONSTRAINT_VIOLATION'],
  ['an import that is not a file', (s, a) => s.importAll(a, 42 as never), 'CONSTRAINT_VIOLATION'],
  ['applyDue with a bad date', (s, a) => s.applyDue(a, { now: 'noon' as never }), 'CONSTRAINT_VIOLATION'],
];

describe.each(['memory', 'postgres'] as const)('bad input (%s)', (backing) => {
  it.each(BAD_REFS.map((r) => [typeof r === 'string' ? JSON.stringify(r).slice(0, 60) : JSON.stringify(r), r]))(
    'refuses the malformed ref %s on every entry point that takes one',
    async (_name, bad) => {
      const h = await prepared(backing);
      try {
        const before = await state(h);
        for (const [op, call, code] of refCalls(bad)) {
          expect([op, await codeOf(call(h.service, root))]).toEqual([op, code]);
        }
        expect(await state(h)).toEqual(before);
      } finally {
        await h.close();
      }
    },
  );

  for (const [group, calls] of [
    ['content', CONTENT],
    ['schema', SCHEMA],
    ['environments', ENVIRONMENTS],
    ['options', OPTIONS],
  ] as const) {
    it.each(calls)(`${group}: refuses %s with a typed error, writing nothing`, async (_name, call, code) => {
      const h = await prepared(backing);
      try {
        const before = await state(h);
        const error = await call(h.service, root).catch((e: unknown) => e);
        expect(isConfigError(error)).toBe(true);
        expect((error as { code: string }).code).toBe(code);
        expect(await state(h)).toEqual(before);
      } finally {
        await h.close();
      }
    });
  }

  it('names every schema issue with a JSON pointer and the view that failed', async () => {
    const h = await prepared(backing);
    try {
      const error = await h.service
        .set(root, { ref: REF, config: { pool: 5 }, overrides: { staging: { pool: 0, host: 7 as never } } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SchemaValidationError);
      const issues = (error as SchemaValidationError).issues.map((i) => i.pointer).sort();
      expect(issues).toEqual(['/host', '/pool']);
      expect((error as Error).message).toMatch(/app:billing\/database@staging/);
    } finally {
      await h.close();
    }
  });

  it('stores injection strings in values, messages and actor ids verbatim', async () => {
    const h = await prepared(backing);
    try {
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal placeholder is the point
      const evil = "'); DROP TABLE config_versions; -- \\x00 $1 %s ${x} <script>";
      const actor = { id: `mallory"; DELETE FROM config_audit; --`, roles: ['config-admin'] };
      const v = await h.service.set(
        actor,
        {
          ref: REF,
          config: { pool: 5, host: evil, [evil]: evil },
          overrides: { staging: { host: evil } },
          message: evil,
        },
        { emergency: true },
      );
      const read = await h.service.get(root, REF);
      expect(read).toEqual(v);
      expect(read).toMatchObject({ createdBy: actor.id, message: evil, config: { host: evil, [evil]: evil } });
      const [event] = await h.service.audit(root, { actor: actor.id });
      expect(event?.actor).toBe(actor.id);
      expect(event?.message).toContain(evil);
      expect(await h.service.verifyAudit(root)).toMatchObject({ ok: true });
    } finally {
      await h.close();
    }
  });

  it('refuses every call after close() with CLOSED', async () => {
    const h = await prepared(backing);
    try {
      await h.service.close();
      await h.service.close();
      expect(await codeOf(h.service.get(root, REF))).toBe('CLOSED');
      expect(await codeOf(h.service.set(root, { ref: REF, config: {} }))).toBe('CLOSED');
      expect(await codeOf(h.service.verifyAudit(root))).toBe('CLOSED');
    } finally {
      await h.close();
    }
  });
});

describe('service options', () => {
  it('names the bad option at construction', async () => {
    const { createConfigService, createRbac } = await import('@summit-config/core');
    const { createMemoryGovernance, createMemoryStore } = await import('@summit-config/backends/memory');
    const store = createMemoryStore();
    const governance = createMemoryGovernance();
    const rbac = createRbac();
    expect(() => createConfigService(undefined as never)).toThrow(/options are required/);
    expect(() => createConfigService({ governance, rbac } as never)).toThrow(/option store/);
    expect(() => createConfigService({ store, rbac } as never)).toThrow(/option governance/);
    expect(() => createConfigService({ store, governance } as never)).toThrow(/option rbac/);
    expect(() => createConfigService({ store, governance, rbac, clock: 5 as never })).toThrow(/option clock/);
    expect(() => createConfigService({ store, governance, rbac, source: 'web' as never })).toThrow(/source/);
    expect(() => createConfigService({ store, governance, rbac, maxDocumentBytes: 0 })).toThrow(/maxDocumentBytes/);
    expect(() =>
      createConfigService({ store, governance, rbac, environments: [{ name: 'a', parent: 'a', production: false }] }),
    ).toThrow(/loop/);
    expect(() =>
      createConfigService({ store, governance, rbac, environments: [{ name: 'a b', production: false }] }),
    ).toThrow(/environment name/);
  });
});
