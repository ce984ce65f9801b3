import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { type Actor, createConfigService, createRbac, type JsonObject, parseRef } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHealthGate, stepRollouts } from '../src/rollout-steps.js';

/** A health endpoint on 127.0.0.1 whose answer the test sets. */
async function healthServer(answer: { status: number; body: string }) {
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/query')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(answer.body);
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** The first rule of a stored rollout. */
function ruleOf(rollout: unknown): { step?: number; state?: string } | undefined {
  return (rollout as { rules?: Array<{ step?: number; state?: string }> } | null | undefined)?.rules?.[0];
}

const servers: Array<{ close: () => Promise<unknown> }> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function setup() {
  const store = createMemoryStore();
  const service = createConfigService({
    store,
    governance: createMemoryGovernance(),
    rbac: createRbac({
      roles: { stepper: ['config:read', 'config:list', 'config:write', 'rollout:step'], writer: ['config:*'] },
      bindings: [],
    }),
    environments: [
      { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1, allowEmergency: true } },
    ],
  });
  const admin: Actor = { id: 'alice', roles: ['config-admin'] };
  const agent: Actor = { id: 'summit-agent', roles: ['stepper'] };
  const writer: Actor = { id: 'walt', roles: ['writer'] };
  return { store, service, admin, agent, writer };
}

const canary = (url: string, extra: JsonObject = {}): JsonObject => ({
  rules: [
    {
      id: 'pool',
      strategy: 'canary',
      patch: { pool: { max: 50 } },
      schedule: [1000, 5000, 10000],
      stepIntervalMinutes: 10,
      healthGate: { kind: 'webhook', url: `${url}/health` },
      ...extra,
    },
  ],
});

describe('canary stepping behind a health gate', () => {
  it('advances a due canary step by step, promotes it, and needs rollout:step rather than a new approval', async () => {
    const health = await healthServer({ status: 200, body: '{"healthy":true}' });
    servers.push(health);
    const { service, admin, agent, writer } = setup();
    const ref = parseRef('app:shop/database');
    // The canary plan itself goes through approval (here: the emergency path of an admin).
    const v1 = await service.set(
      admin,
      { ref, config: { pool: { max: 10 } }, rollout: canary(health.url) },
      { emergency: true },
    );
    const t0 = Date.parse(v1.createdAt);
    expect((await stepRollouts({ service, actor: agent, now: t0 + 5 * 60_000 })).steps).toEqual([]);
    const first = await stepRollouts({ service, actor: agent, now: t0 + 11 * 60_000 });
    expect(first.steps).toEqual([
      expect.objectContaining({ ruleId: 'pool', action: 'advanced', fromVersion: 1, toVersion: 2 }),
    ]);
    const v2 = await service.get(admin, ref);
    expect(ruleOf(v2?.rollout)?.step).toBe(1);
    expect(v2?.message).toMatch(/advanced to 5000 bps/);
    // Someone without rollout:step cannot make the same kind of change without approval.
    await expect(
      service.set(
        writer,
        { ref, config: v2?.config ?? {}, rollout: canary(health.url, { step: 2 }) },
        { expectedVersion: 2 },
      ),
    ).rejects.toMatchObject({ code: 'APPROVAL_REQUIRED' });
    // Nor can the agent change anything but the step or state.
    await expect(
      service.set(agent, { ref, config: { pool: { max: 99 } }, rollout: v2?.rollout ?? null }, { expectedVersion: 2 }),
    ).rejects.toMatchObject({ code: 'APPROVAL_REQUIRED' });
    const t2 = Date.parse(v2?.createdAt ?? '');
    await stepRollouts({ service, actor: agent, now: t2 + 11 * 60_000 });
    const v3 = await service.get(admin, ref);
    const t3 = Date.parse(v3?.createdAt ?? '');
    const last = await stepRollouts({ service, actor: agent, now: t3 + 11 * 60_000 });
    expect(last.steps[0]?.action).toBe('promoted');
    const promoted = await service.get(admin, ref);
    expect(ruleOf(promoted?.rollout)?.state).toBe('promoted');
    // A promoted rule is never stepped again.
    expect(
      (await stepRollouts({ service, actor: agent, now: Date.parse(promoted?.createdAt ?? '') + 3_600_000 })).steps,
    ).toEqual([]);
  });

  it('aborts the canary when the gate fails, so no unit gets the candidate any more', async () => {
    const health = await healthServer({ status: 503, body: 'down' });
    servers.push(health);
    const { service, admin, agent } = setup();
    const ref = parseRef('app:shop/database');
    const v1 = await service.set(
      admin,
      { ref, config: { pool: { max: 10 } }, rollout: canary(health.url) },
      { emergency: true },
    );
    const run = await stepRollouts({ service, actor: agent, now: Date.parse(v1.createdAt) + 11 * 60_000 });
    expect(run.steps).toEqual([expect.objectContaining({ action: 'aborted', detail: 'webhook answered HTTP 503' })]);
    const aborted = await service.get(admin, ref);
    expect(ruleOf(aborted?.rollout)?.state).toBe('aborted');
  });

  it('evaluates Prometheus gates against their bounds and treats errors as unhealthy', async () => {
    const prom = await healthServer({
      status: 200,
      body: '{"status":"success","data":{"result":[{"value":[1,"0.02"]}]}}',
    });
    servers.push(prom);
    expect(await checkHealthGate({ kind: 'prometheus', url: prom.url, query: 'errors', max: 0.05 })).toMatchObject({
      healthy: true,
    });
    expect(await checkHealthGate({ kind: 'prometheus', url: prom.url, query: 'errors', max: 0.01 })).toMatchObject({
      healthy: false,
      detail: expect.stringContaining('errors = 0.02'),
    });
    expect(await checkHealthGate({ kind: 'webhook', url: 'http://127.0.0.1:1/health', timeoutMs: 500 })).toMatchObject({
      healthy: false,
    });
    expect(await checkHealthGate({ kind: 'prometheus', query: 'x' })).toMatchObject({ healthy: false });
  });
});
