/**
 * The rollouts routes over `inject`, on the memory backing and a real change service: the list of
 * refs whose head has rules (the share, step, next step and the agent's last gate check of each
 * progressive rule), and the hand moves (advance, promote, abort) written as new versions with a
 * compare-and-set, or proposed as change requests where the environments are guarded. Every
 * response is checked against the OpenAPI document.
 */
import type { Actor } from '@summit-config/core';
import { harness } from '@summit-config/test-support/service';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigServer } from '../src/index.js';
import {
  auth,
  GUARDED_ENVIRONMENTS,
  json,
  OPEN_ENVIRONMENTS,
  ROOT,
  ROOT_ACTOR,
  SERVER_RBAC,
  type ServerHarness,
  staticBearer,
  TOKENS,
  validateResponses,
} from './support.js';

/** A deployer writes configs and proposes changes, but holds no `rollout:step`. */
const RBAC = {
  ...SERVER_RBAC,
  roles: {
    ...SERVER_RBAC.roles,
    deployer: ['config:read', 'config:list', 'config:write', 'approval:request'],
  },
};
const PEOPLE: Record<string, Actor> = {
  ...TOKENS,
  'dana-secret': { id: 'dana', roles: ['deployer'], kind: 'token', credential: 'token:t-dana' },
};

const CANARY = {
  id: 'pool',
  strategy: 'canary',
  patch: { pool: 50 },
  schedule: [1000, 2500, 5000, 10000],
  step: 0,
  stepIntervalMinutes: 30,
  healthGate: { kind: 'prometheus', query: 'sum(rate(http_errors[5m]))', max: 0.01 },
};
const ROLLOUT = {
  description: 'pool size',
  rules: [CANARY, { id: 'beta', strategy: 'immediate', patch: { beta: true }, when: { groups: ['staff'] } }],
};

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

type Json = Record<string, unknown>;

async function setup(guarded = false): Promise<ServerHarness> {
  const h = await harness('memory', { rbac: RBAC, environments: guarded ? GUARDED_ENVIRONMENTS : OPEN_ENVIRONMENTS });
  const app = createConfigServer({ service: h.service, store: h.store, authenticators: [staticBearer(PEOPLE)] });
  validateResponses(app);
  s = {
    h,
    app,
    async close() {
      await app.close();
      await h.service.close();
      await h.close();
    },
  };
  const set = (input: Json) => s?.h.service.set(ROOT_ACTOR, input as never, { emergency: guarded });
  await set({ ref: 'global/db', config: { pool: 10 }, rollout: ROLLOUT });
  // The agent's stepping message, as packages/agent/src/rollout-steps.ts writes it.
  await set({
    ref: 'global/db',
    config: { pool: 10 },
    rollout: { ...ROLLOUT, rules: [{ ...CANARY, step: 1 }, ROLLOUT.rules[1]] },
    message: 'rollout pool: advanced to 2500 bps (sum(rate(http_errors[5m])) = 0.002 (allowed -inf..0.01))',
  });
  await set({ ref: 'global/plain', config: { a: 1 } });
  await set({ ref: 'app:web/flags', config: {}, rollout: { flags: { dark: true } } });
  return s;
}

const move = (h: ServerHarness, ref: string, payload: Json, headers: Json = ROOT) =>
  h.app.inject({ method: 'POST', url: `/api/v1/rollouts/${ref}`, payload, headers: headers as never });

describe('rollouts routes', () => {
  it('lists the refs whose head has rules, with share, step, next step and the last gate check', async () => {
    const h = await setup();
    const res = await h.app.inject({ url: '/api/v1/rollouts', headers: auth('reader-secret') });
    expect(res.statusCode).toBe(200);
    const items = json<{ items: Json[] }>(res).items;
    expect(items.map((i) => i.ref)).toEqual(['app:web/flags', 'global/db']);
    const db = items[1] as { version: number; createdAt: string; description: string; rules: Json[] };
    expect(db).toMatchObject({ version: 2, enabled: true, description: 'pool size' });
    expect(db.rules[0]).toMatchObject({
      id: 'pool',
      strategy: 'canary',
      progressive: true,
      state: 'running',
      shareBps: 2500,
      step: 1,
      schedule: [1000, 2500, 5000, 10000],
      healthGate: { kind: 'prometheus', max: 0.01 },
      lastStep: {
        version: 2,
        action: 'advanced',
        shareBps: 2500,
        gate: 'sum(rate(http_errors[5m])) = 0.002 (allowed -inf..0.01)',
      },
    });
    expect(db.rules[0]?.nextStepAt).toBe(new Date(Date.parse(db.createdAt) + 30 * 60_000).toISOString());
    expect(db.rules[1]).toMatchObject({ id: 'beta', strategy: 'immediate', progressive: false });
    const scoped = await h.app.inject({ url: '/api/v1/rollouts?scope=global', headers: ROOT });
    expect(json<{ items: Json[] }>(scoped).items.map((i) => i.ref)).toEqual(['global/db']);
  });

  it('advances, promotes and aborts as new versions, with a compare-and-set', async () => {
    const h = await setup();
    const advanced = await move(h, 'global/db', { rule: 'pool', action: 'advance' });
    expect(advanced.statusCode).toBe(200);
    expect(json(advanced)).toMatchObject({ version: 3, message: 'rollout pool: advanced to 5000 bps by hand' });
    expect(advanced.headers.etag).toMatch(/^"3:/);
    const head = await h.h.service.get(ROOT_ACTOR, 'global/db');
    expect((head?.rollout as unknown as { rules: Json[] } | undefined)?.rules[0]).toMatchObject({ step: 2 });
    expect(head?.config).toEqual({ pool: 10 });

    // A stale If-Match: nothing written.
    const stale = await move(h, 'global/db', { rule: 'pool', action: 'promote' }, { ...ROOT, 'if-match': '"2"' });
    expect(stale.statusCode).toBe(412);
    const promoted = await move(
      h,
      'global/db',
      { rule: 'pool', action: 'promote', message: 'looks good' },
      { ...ROOT, 'if-match': '"3"' },
    );
    expect(json(promoted)).toMatchObject({ version: 4, message: 'looks good' });
    // Promoted cannot be aborted (roll back instead); an immediate rule is not progressive.
    const abortPromoted = await move(h, 'global/db', { rule: 'pool', action: 'abort' });
    expect({ status: abortPromoted.statusCode, code: json(abortPromoted).code }).toEqual({
      status: 400,
      code: 'CONSTRAINT_VIOLATION',
    });
    const immediate = await move(h, 'global/db', { rule: 'beta', action: 'abort' });
    expect(immediate.statusCode).toBe(400);
    const unknown = await move(h, 'global/db', { rule: 'nope', action: 'abort' });
    expect(unknown.statusCode).toBe(404);
    const noRollout = await move(h, 'global/plain', { rule: 'pool', action: 'abort' });
    expect(noRollout.statusCode).toBe(404);
    const bad = await move(h, 'global/db', { rule: 'pool', action: 'jump' });
    expect(bad.statusCode).toBe(400);
    expect((await h.h.service.get(ROOT_ACTOR, 'global/db'))?.version).toBe(4);

    // Abort on a fresh rollout; the list shows it at 0 bps.
    await h.h.service.set(ROOT_ACTOR, { ref: 'global/db', config: { pool: 10 }, rollout: ROLLOUT } as never);
    const aborted = await move(h, 'global/db', { rule: 'pool', action: 'abort' });
    expect(json(aborted)).toMatchObject({ version: 6, message: 'rollout pool: aborted by hand' });
    const list = json<{ items: Array<{ ref: string; rules: Json[] }> }>(
      await h.app.inject({ url: '/api/v1/rollouts', headers: ROOT }),
    );
    expect(list.items.find((i) => i.ref === 'global/db')?.rules[0]).toMatchObject({ state: 'aborted', shareBps: 0 });
  });

  it('pauses and resumes: the share kept, no next step while paused; a second pause is refused', async () => {
    const h = await setup();
    const paused = await move(h, 'global/db', { rule: 'pool', action: 'pause' });
    expect(paused.statusCode).toBe(200);
    expect(json(paused)).toMatchObject({ version: 3, message: 'rollout pool: paused by hand' });
    const rule = async () =>
      json<{ items: Array<{ ref: string; rules: Json[] }> }>(
        await h.app.inject({ url: '/api/v1/rollouts', headers: ROOT }),
      ).items.find((i) => i.ref === 'global/db')?.rules[0];
    const whilePaused = await rule();
    expect(whilePaused).toMatchObject({ state: 'paused', shareBps: 2500, step: 1 });
    expect(whilePaused?.nextStepAt).toBeUndefined();
    const again = await move(h, 'global/db', { rule: 'pool', action: 'pause' });
    expect({ status: again.statusCode, code: json(again).code }).toEqual({ status: 400, code: 'CONSTRAINT_VIOLATION' });
    const resumed = await move(h, 'global/db', { rule: 'pool', action: 'resume' }, { ...ROOT, 'if-match': '"3"' });
    expect(json(resumed)).toMatchObject({ version: 4, message: 'rollout pool: resumed by hand' });
    expect(await rule()).toMatchObject({ state: 'running', shareBps: 2500, step: 1 });
    expect((await rule())?.nextStepAt).toBeDefined();
    const notPaused = await move(h, 'global/db', { rule: 'pool', action: 'resume' });
    expect(notPaused.statusCode).toBe(400);
    expect((await h.h.service.get(ROOT_ACTOR, 'global/db'))?.version).toBe(4);
  });

  it('a reader cannot move a rollout; guarded environments need a change request without rollout:step', async () => {
    const h = await setup(true);
    const reader = await move(h, 'global/db', { rule: 'pool', action: 'advance' }, auth('reader-secret'));
    expect(reader.statusCode).toBe(403);
    const dana = auth('dana-secret');
    const guarded = await move(h, 'global/db', { rule: 'pool', action: 'advance' }, dana);
    expect(guarded.statusCode).toBe(409);
    expect(json(guarded)).toMatchObject({ code: 'APPROVAL_REQUIRED' });
    expect((json(guarded).environments as string[]).sort()).toEqual(['production', 'production-eu']);
    const proposed = await move(h, 'global/db', { rule: 'pool', action: 'advance', propose: true }, dana);
    expect(proposed.statusCode).toBe(201);
    const request = json<{ id: string; status: string }>(proposed);
    expect(request.status).toBe('pending');
    expect(proposed.headers.location).toBe(`/api/v1/change-requests/${encodeURIComponent(request.id)}`);
    const got = await h.h.service.getRequest(ROOT_ACTOR, request.id);
    expect(got.baseVersion).toBe(2);
    expect((got.proposed.rollout as unknown as { rules: Json[] }).rules[0]).toMatchObject({ step: 2 });
    expect((await h.h.service.get(ROOT_ACTOR, 'global/db'))?.version).toBe(2);
    // An approved canary moving along its schedule needs `rollout:step`, not a new approval (core's rule).
    const stepped = await move(h, 'global/db', { rule: 'pool', action: 'advance' });
    expect(json(stepped)).toMatchObject({ version: 3 });
  });
});
