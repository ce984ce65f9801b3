/**
 * Secrets over the API: metadata, rotation policies and the rotation trigger, on the local provider
 * with a real master key (memory storage, and SQL storage on PostgreSQL) and a real rotation
 * manager. No response ever holds a secret value: every body is scanned for every value.
 */
import { type Actor, createRbac, type RbacDefinition } from '@summit-config/core';
import {
  createLocalProvider,
  createMemoryRotationPolicies,
  createRotationManager,
  createSqlRotationPolicies,
  createSqlSecretStorage,
  generateMasterKey,
  type RotationManager,
  type SecretProvider,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { type Harness, harness } from '@summit-config/test-support/service';
import { adminPool } from '@summit-config/test-support/sql';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigServer } from '../src/index.js';
import {
  auth,
  OPEN_ENVIRONMENTS,
  ROOT,
  ROOT_ACTOR,
  SERVER_RBAC,
  staticBearer,
  TOKENS,
  validateResponses,
} from './support.js';

const RBAC_DEF: RbacDefinition = {
  roles: {
    ...SERVER_RBAC.roles,
    'secrets-reader': ['secrets:read'],
    rotator: ['secrets:rotate', 'secrets:read'],
  },
  bindings: [],
};

const PEOPLE: Record<string, Actor> = {
  ...TOKENS,
  'sam-secret': { id: 'sam', roles: ['secrets-reader'], kind: 'token', credential: 'token:t-sam' },
  'rita-secret': { id: 'rita', roles: ['rotator'], kind: 'token', credential: 'token:t-rita' },
};

/** Values written in these tests; generated ones are added as they appear. */
const VALUES = ['Sup3r-s3cret-DB-password-71f2', 'api-key-VALUE-0c9d8e7f6a5b4c3d'];

interface Setup {
  h: Harness;
  app: FastifyInstance;
  provider: SecretProvider;
  rotation: RotationManager;
  /** Every response body the server sent. */
  bodies: string[];
  call(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let current: Setup | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function setup(backing: 'memory' | 'postgres', withRotation = true, withNames = true): Promise<Setup> {
  const h = await harness(backing, { rbac: RBAC_DEF, environments: OPEN_ENVIRONMENTS });
  const rbac = createRbac(RBAC_DEF);
  const key = generateMasterKey();
  const pool = backing === 'postgres' ? adminPool() : undefined;
  const provider = createLocalProvider({
    key,
    ...(pool ? { storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema: h.schema }) } : {}),
  });
  const policies = pool
    ? createSqlRotationPolicies({
        sql: sqlFromPgPool(pool),
        schema: h.schema,
        migrator: h.store as unknown as { migrate(): Promise<unknown> },
      })
    : createMemoryRotationPolicies();
  const rotation = createRotationManager({
    policies,
    providers: [provider],
    service: h.service,
    store: h.store,
    rbac,
    actor: ROOT_ACTOR,
  });
  const names = new Set<string>();
  const app = createConfigServer({
    service: h.service,
    store: h.store,
    authenticators: [staticBearer(PEOPLE)],
    rbac,
    secrets: {
      provider,
      ...(withRotation ? { rotation } : {}),
      ...(withNames ? { listNames: async () => [...names] } : {}),
    },
  });
  // Every response is checked against the served OpenAPI document.
  validateResponses(app);
  const bodies: string[] = [];
  const s: Setup = {
    h,
    app,
    provider,
    rotation,
    bodies,
    async call(options) {
      const res = await app.inject(options);
      bodies.push(res.body);
      return res;
    },
    async close() {
      await app.close();
      await rotation.close();
      await policies.close();
      await provider.close();
      await h.service.close();
      await h.close();
    },
  };
  current = s;
  for (const [i, name] of ['db-password', 'api-key'].entries()) {
    await provider.create(name, VALUES[i] as string, { labels: { team: 'payments' } });
    names.add(name);
  }
  return s;
}

/** No body holds a value, raw or JSON-escaped. */
function expectNoValues(s: Setup, values: readonly string[]): void {
  expect(s.bodies.length).toBeGreaterThan(0);
  for (const body of s.bodies) {
    for (const value of values) {
      expect(body.includes(value), `a response holds a secret value: ${body.slice(0, 200)}`).toBe(false);
      expect(body.includes(JSON.stringify(value).slice(1, -1))).toBe(false);
    }
  }
}

type Json = Record<string, unknown> & { code?: string };
const body = (res: { body: string }) => JSON.parse(res.body) as Json;

for (const backing of ['memory', 'postgres'] as const) {
  describe(`secrets (${backing})`, () => {
    it('lists and shows metadata, sets a policy, rotates; no response holds a value', async () => {
      const s = await setup(backing);
      // A config that references the secret: the rotation bumps it.
      const put = await s.call({
        method: 'PUT',
        url: '/api/v1/configs/app:billing/database',
        payload: { config: { password: { $secret: { provider: 'local', name: 'db-password' } } } },
        headers: ROOT,
      });
      expect(put.statusCode).toBe(201);

      const list = await s.call({ url: '/api/v1/secrets', headers: auth('sam-secret') });
      expect(list.statusCode).toBe(200);
      expect(body(list)).toMatchObject({
        provider: 'local',
        kind: 'local',
        items: [
          { name: 'api-key', current: '1', versions: 1 },
          { name: 'db-password', current: '1', versions: 1 },
        ],
      });

      const one = await s.call({ url: '/api/v1/secrets/db-password', headers: auth('sam-secret') });
      expect(one.statusCode).toBe(200);
      expect(body(one)).toMatchObject({
        provider: 'local',
        name: 'db-password',
        current: '1',
        rotation: null,
        versions: [{ version: '1', stage: 'current', state: 'enabled', labels: { team: 'payments' } }],
      });

      const noPolicy = await s.call({ url: '/api/v1/secrets/db-password/rotation', headers: ROOT });
      expect(noPolicy.statusCode).toBe(404);
      const rotateFirst = await s.call({ method: 'POST', url: '/api/v1/secrets/db-password/rotate', headers: ROOT });
      expect(rotateFirst.statusCode).toBe(404);

      const policy = await s.call({
        method: 'PUT',
        url: '/api/v1/secrets/db-password/rotation',
        payload: { intervalDays: 30, graceMs: 0, notify: ['https://hooks.example.com/T0/B0/tok3n'] },
        headers: ROOT,
      });
      expect(policy.statusCode).toBe(200);
      expect(body(policy)).toMatchObject({
        secret: { provider: 'local', name: 'db-password' },
        state: 'idle',
        enabled: true,
        intervalDays: 30,
        graceMs: 0,
        notifyCount: 1,
        generator: { type: 'password' },
      });
      // Webhook URLs may carry credentials: never served.
      expect(policy.body).not.toContain('hooks.example.com');
      const got = await s.call({ url: '/api/v1/secrets/db-password/rotation', headers: auth('sam-secret') });
      expect(body(got)).toMatchObject({ intervalDays: 30, revision: body(policy).revision });

      const rotated = await s.call({ method: 'POST', url: '/api/v1/secrets/db-password/rotate', headers: ROOT });
      expect(rotated.statusCode).toBe(200);
      const after = body(rotated) as Json & { state: string; run?: { newVersion?: string }; lastRun?: object };
      expect(after.state).not.toBe('failed');
      const versions = await s.provider.listVersions('db-password');
      const currentVersion = versions.find((v) => v.stage === 'current')?.version;
      expect(currentVersion).toBe('2');
      // The generated value, read behind the server's back, is scanned for too.
      const generated = (await s.provider.read('db-password')).value;

      const shown = await s.call({ url: '/api/v1/secrets/db-password', headers: ROOT });
      expect(body(shown)).toMatchObject({ current: '2', rotation: { secret: { name: 'db-password' } } });
      const listed = await s.call({ url: '/api/v1/secrets', headers: ROOT });
      expect((body(listed).items as Array<{ name: string; rotation?: object }>)[1]?.rotation).toBeDefined();
      // The config referencing the secret was bumped by the rotation.
      const history = await s.call({ url: '/api/v1/versions/app:billing/database', headers: ROOT });
      expect((body(history).items as unknown[]).length).toBeGreaterThanOrEqual(2);

      const deleted = await s.call({ method: 'DELETE', url: '/api/v1/secrets/api-key/rotation', headers: ROOT });
      expect(deleted.statusCode).toBe(404);
      // The policy and the rotation are in the audit trail, with the request's origin.
      const events = body(await s.call({ url: '/api/v1/audit?action=secret.', headers: ROOT })).items as Array<{
        action: string;
        actor: string;
        source: string;
        message: string;
        origin?: { method?: string; tokenId?: string };
      }>;
      expect(events.map((e) => [e.action, e.actor, e.source, e.origin?.method, e.origin?.tokenId])).toEqual([
        ['secret.policy', 'root', 'api', 'token', 't-root'],
        ['secret.rotate', 'root', 'api', 'token', 't-root'],
      ]);
      expect(events[1]?.message).toMatch(/^secret local\/db-password: rotation started by hand \(run /);
      expectNoValues(s, [...VALUES, generated]);
    });
  });
}

describe('secrets: access, bad input, missing options (memory)', () => {
  it('RBAC: secrets:read for metadata, secrets:write for policies, secrets:rotate to rotate', async () => {
    const s = await setup('memory');
    const reader = auth('reader-secret'); // config reader: no secrets permission
    for (const url of ['/api/v1/secrets', '/api/v1/secrets/db-password', '/api/v1/secrets/db-password/rotation']) {
      const res = await s.call({ url, headers: reader });
      expect({ url, status: res.statusCode, code: body(res).code }).toEqual({
        url,
        status: 403,
        code: 'ACCESS_DENIED',
      });
    }
    const samPut = await s.call({
      method: 'PUT',
      url: '/api/v1/secrets/db-password/rotation',
      payload: { intervalDays: 7 },
      headers: auth('sam-secret'),
    });
    expect(samPut.statusCode).toBe(403);
    await s.call({
      method: 'PUT',
      url: '/api/v1/secrets/db-password/rotation',
      payload: { intervalDays: 7, graceMs: 0 },
      headers: ROOT,
    });
    const samRotate = await s.call({
      method: 'POST',
      url: '/api/v1/secrets/db-password/rotate',
      headers: auth('sam-secret'),
    });
    expect(samRotate.statusCode).toBe(403);
    expect((await s.provider.listVersions('db-password')).length).toBe(1);
    const ritaRotate = await s.call({
      method: 'POST',
      url: '/api/v1/secrets/db-password/rotate',
      payload: {},
      headers: auth('rita-secret'),
    });
    expect(ritaRotate.statusCode).toBe(200);
    const anon = await s.call({ url: '/api/v1/secrets' });
    expect(anon.statusCode).toBe(401);
    const deleted = await s.call({ method: 'DELETE', url: '/api/v1/secrets/db-password/rotation', headers: ROOT });
    expect(deleted.statusCode).toBe(204);
    expectNoValues(s, [...VALUES, (await s.provider.read('db-password')).value]);
  });

  it('refuses bad input with a typed problem and writes nothing', async () => {
    const s = await setup('memory');
    const missing = await s.call({ url: '/api/v1/secrets/nope', headers: ROOT });
    expect({ status: missing.statusCode, code: body(missing).code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    const missingPolicy = await s.call({
      method: 'PUT',
      url: '/api/v1/secrets/nope/rotation',
      payload: { intervalDays: 1 },
      headers: ROOT,
    });
    expect(missingPolicy.statusCode).toBe(404);
    const cases: Array<[string, string, unknown]> = [
      ['GET', '/api/v1/secrets/bad%20name', undefined],
      ['GET', '/api/v1/secrets/a%2F..%2Fb', undefined],
      ['GET', "/api/v1/secrets/x'%3BDROP%20TABLE%20summit_secrets%3B--", undefined],
      ['PUT', '/api/v1/secrets/db-password/rotation', { intervalDays: 1, cron: '0 0 * * *' }],
      ['PUT', '/api/v1/secrets/db-password/rotation', {}],
      ['PUT', '/api/v1/secrets/db-password/rotation', { intervalDays: 0 }],
      ['PUT', '/api/v1/secrets/db-password/rotation', { intervalDays: 'weekly' }],
      ['PUT', '/api/v1/secrets/db-password/rotation', { cron: 'not a cron' }],
      ['PUT', '/api/v1/secrets/db-password/rotation', { intervalDays: 1, notify: ['file:///etc/passwd'] }],
      ['PUT', '/api/v1/secrets/db-password/rotation', { intervalDays: 1, value: 'x' }],
      ['POST', '/api/v1/secrets/db-password/rotate', { now: true }],
    ];
    for (const [method, url, payload] of cases) {
      const res = await s.call({
        method: method as 'GET',
        url,
        headers: ROOT,
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      expect({ url, payload, status: res.statusCode, code: body(res).code }).toEqual({
        url,
        payload,
        status: 400,
        code: 'CONSTRAINT_VIOLATION',
      });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
    const text = await s.call({
      method: 'PUT',
      url: '/api/v1/secrets/db-password/rotation',
      payload: 'intervalDays=1',
      headers: { ...ROOT, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(text.statusCode).toBe(415);
    expect(await s.rotation.listPolicies(ROOT_ACTOR)).toEqual([]);
    expect((await s.provider.listVersions('db-password')).length).toBe(1);
  });

  it('a secret name with "/" is served as %2F', async () => {
    const s = await setup('memory');
    await s.provider.create('team/db', 'nested-VALUE-55aa66bb');
    const res = await s.call({ url: '/api/v1/secrets/team%2Fdb', headers: ROOT });
    expect(res.statusCode).toBe(200);
    expect(body(res)).toMatchObject({ name: 'team/db', current: '1' });
    expectNoValues(s, ['nested-VALUE-55aa66bb']);
  });

  it('without rotation: metadata served, rotation routes 501; without names: the list is 501', async () => {
    const s = await setup('memory', false, false);
    const one = await s.call({ url: '/api/v1/secrets/api-key', headers: ROOT });
    expect(body(one)).toMatchObject({ name: 'api-key', rotation: null });
    for (const [method, url] of [
      ['GET', '/api/v1/secrets'],
      ['GET', '/api/v1/secrets/api-key/rotation'],
      ['PUT', '/api/v1/secrets/api-key/rotation'],
      ['POST', '/api/v1/secrets/api-key/rotate'],
    ] as const) {
      const res = await s.call({
        method,
        url,
        headers: ROOT,
        ...(method === 'PUT' ? { payload: { intervalDays: 1 } } : {}),
      });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 501 });
    }
  });

  it('a server without the secrets option answers 501; secrets without rbac is refused at construction', async () => {
    const h = await harness('memory', { rbac: RBAC_DEF, environments: OPEN_ENVIRONMENTS });
    const provider = createLocalProvider({ key: generateMasterKey() });
    try {
      const app = createConfigServer({ service: h.service, store: h.store, authenticators: [staticBearer(PEOPLE)] });
      validateResponses(app);
      const res = await app.inject({ url: '/api/v1/secrets/x', headers: ROOT });
      expect(res.statusCode).toBe(501);
      expect(JSON.parse(res.body).code).toBe('CONSTRAINT_VIOLATION');
      await app.close();
      expect(() =>
        createConfigServer({ service: h.service, authenticators: [staticBearer()], secrets: { provider } }),
      ).toThrow(/rbac/);
      expect(() =>
        createConfigServer({
          service: h.service,
          authenticators: [staticBearer()],
          rbac: createRbac(RBAC_DEF),
          secrets: { provider: {} as SecretProvider },
        }),
      ).toThrow(/secrets.provider/);
    } finally {
      await provider.close();
      await h.service.close();
      await h.close();
    }
  });
});
