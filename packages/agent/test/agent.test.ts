/**
 * The agent's wiring, in process over memory tiers: leader jobs registered by users, the built-in
 * reconciliation and drift jobs, store events turned into metrics, and the lifecycle.
 */
import { createMemoryGovernance } from '@summit-config/backends/memory';
import { appendNext, createConfigService, createRbac } from '@summit-config/core';
import {
  createLocalProvider,
  createMemoryRotationPolicies,
  createRotationManager,
  generateMasterKey,
  type RotationEvent,
} from '@summit-config/secrets';
import { until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import type { AgentEventMap } from '../src/events.js';
import type { LeaderJobContext } from '../src/leader.js';
import { memoryTiers, removeTestSnapshots, testConfig } from './helpers.js';

const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(() => removeTestSnapshots());

function makeAgent(raw: Record<string, unknown> = {}) {
  const tiers = memoryTiers();
  const agent = new Agent({
    config: testConfig({ apps: [{ app: 'billing', environment: 'prod' }], ...raw }),
    stores: tiers.build,
  });
  agents.push(agent);
  return { agent, tiers };
}

describe('agent', () => {
  it('runs leader jobs registered before start on the embedded leader, with its fencing token', async () => {
    const { agent } = makeAgent();
    const runs: LeaderJobContext[] = [];
    const jobs: AgentEventMap['job'][] = [];
    agent.events.on('job', (j) => jobs.push(j));
    agent.registerLeaderJob('rotate', 20, (ctx) => {
      runs.push(ctx);
    });
    expect(() => agent.registerLeaderJob('rotate', 20, () => {})).toThrow(/already registered/);
    await agent.start();
    await until(() => runs.length >= 2, 'two runs');
    expect(agent.isLeader).toBe(true);
    expect(runs[0]?.fencingToken).toBe(1);
    expect(runs[0]?.guardOp()).toBeUndefined(); // no Consul, no lock to guard with
    expect(jobs[0]).toMatchObject({ name: 'rotate', ok: true });
    expect(agent.status().jobs.find((j) => j.name === 'rotate')?.runs).toBeGreaterThanOrEqual(2);
    const text = await agent.metrics.registry.metrics();
    expect(text).toMatch(/^summit_agent_leader_job_runs_total\{job="rotate",result="ok"\} [1-9]/m);
    await agent.close();
    expect(runs.at(-1)?.signal.aborted).toBe(true);
    expect(() => agent.registerLeaderJob('later', 20, () => {})).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await agent.close(); // idempotent
  });

  it('reconciles on the leader: a write that reached one tier only is copied to the other', async () => {
    const { agent, tiers } = makeAgent({ reconcile: { intervalMs: 100 } });
    const reconciled: AgentEventMap['reconciled'][] = [];
    agent.events.on('reconciled', (r) => reconciled.push(r));
    await agent.start();
    await appendNext(tiers.record, { ref: 'global/only-in-record', config: { a: 1 }, createdBy: 't' });
    await until(
      async () => (await tiers.primary.getHead({ scope: 'global', id: 'only-in-record' })) !== undefined,
      'the copy',
    );
    await until(() => reconciled.some((r) => r.copied.length > 0), 'the reconciled event');
    const text = await agent.metrics.registry.metrics();
    expect(text).toMatch(/^summit_agent_reconcile_copied_total 1$/m);
    expect(text).toMatch(/^summit_agent_reconcile_runs_total\{result="ok"\} [1-9]/m);
  });

  it('detects drift on the leader and reports it as events, and counts breaker transitions', async () => {
    const { agent, tiers } = makeAgent({ drift: { enabled: true, intervalMs: 100, lagGraceMs: 0 } });
    const findings: AgentEventMap['drift'][] = [];
    const storeEvents: AgentEventMap['store'][] = [];
    agent.events.on('drift', (f) => findings.push(f));
    agent.events.on('store', (e) => storeEvents.push(e));
    await agent.start();
    await appendNext(tiers.primary, { ref: 'global/only-in-primary', config: { a: 1 }, createdBy: 't' });
    await until(() => findings.some((f) => f.kind === 'missing' && f.ref === 'global/only-in-primary'), 'the finding');
    expect(findings.find((f) => f.kind === 'missing')).toMatchObject({ tier: 'record', source: 'scan' });

    tiers.record.down = true;
    await until(() => storeEvents.some((e) => e.type === 'breaker' && e.tier === 'record' && e.to === 'open'), 'open');
    tiers.record.down = false;
    await until(
      () => storeEvents.some((e) => e.type === 'breaker' && e.tier === 'record' && e.to === 'closed'),
      'closed',
    );
    const text = await agent.metrics.registry.metrics();
    expect(text).toMatch(/^summit_agent_failovers_total\{tier="record",from="closed",to="open"\} [1-9]/m);
    expect(text).toMatch(/^summit_agent_drift_total\{kind="missing"\} [1-9]/m);
  });

  it('rotates a due secret from a leader job on a six-field (seconds) cron schedule', async () => {
    const { agent } = makeAgent();
    await agent.start();
    // The rotation side, as a user of the agent wires it: the local provider with a generated master
    // key, policies in memory, and a change service over the agent's own store chain.
    const rbac = createRbac({
      roles: { rotator: ['secrets:rotate', 'config:write', 'config:read'] },
      bindings: [{ users: ['sam'], roles: ['secrets-admin'] }],
    });
    const service = createConfigService({ store: agent.store, governance: createMemoryGovernance(), rbac });
    const provider = createLocalProvider({ key: generateMasterKey() });
    const policies = createMemoryRotationPolicies();
    const manager = createRotationManager({
      policies,
      providers: [provider],
      service,
      store: agent.store,
      rbac,
      actor: { id: 'summit-agent:test', roles: ['rotator'] },
    });
    const events: RotationEvent[] = [];
    manager.on('*', (e) => events.push(e));
    const admin = { id: 'sam' };
    const secret = { provider: provider.name, name: 'billing/db-password' };
    const v1 = (await provider.create(secret.name, 'initial-password-value')).version;
    // A policy's own schedule has minute resolution (5 fields); the seconds field is the job's.
    await expect(manager.putPolicy(admin, { secret, cron: '*/1 * * * * *' })).rejects.toThrow(/must have 5 fields/);
    await manager.putPolicy(admin, { secret, intervalDays: 30, graceMs: 0, nextRotationAt: new Date().toISOString() });
    expect((await manager.dueRotations()).map((p) => p.secret.name)).toEqual([secret.name]);
    expect((await provider.read(secret.name)).version).toBe(v1); // due, not rotated: nothing runs it yet

    // Nothing calls runDue but the job, and the job runs only when node-cron fires it (no run on start).
    const ticks: Date[] = [];
    const registeredAt = Date.now();
    agent.registerLeaderJob('rotate-every-second', '*/1 * * * * *', async (ctx) => {
      ticks.push(ctx.startedAt);
      await manager.runDue({ signal: ctx.signal });
    });
    const job = () => agent.status().jobs.find((j) => j.name === 'rotate-every-second');
    expect(job()).toMatchObject({ schedule: '*/1 * * * * *', runs: 0 });

    // The first tick rotates; the next tick, a second later, finds nothing due.
    await until(async () => (await policies.get(secret))?.lastRun !== undefined, 'the scheduled rotation', {
      timeoutMs: 5_000,
    });
    await until(() => (job()?.runs ?? 0) >= 2, 'the next tick', { timeoutMs: 3_000 });
    expect(job()).toMatchObject({ failures: 0, lastError: undefined });
    const policy = await policies.get(secret);
    const current = await provider.read(secret.name);
    expect(current.version).not.toBe(v1);
    expect(current.value).not.toBe('initial-password-value');
    expect(policy).toMatchObject({
      state: 'idle',
      lastRun: { version: current.version, previousVersion: v1 },
    });
    const rotatedAt = Date.parse(policy?.lastRotatedAt as string);
    expect(Date.parse(policy?.nextRotationAt as string)).toBe(rotatedAt + 30 * 86_400_000);
    const started = events.filter((e) => e.type === 'started');
    expect(started).toMatchObject([{ reason: 'scheduled' }]);
    expect(events.filter((e) => e.type === 'completed')).toMatchObject([{ version: current.version }]);
    // Every tick came from the cron: none before the whole second that followed the registration
    // (node-cron fires on second boundaries), and the rotation started inside the first tick.
    const firstSecond = Math.floor(registeredAt / 1000) * 1000 + 1000;
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.every((t) => t.getTime() >= firstSecond)).toBe(true);
    expect(Date.parse((started[0] as RotationEvent).at)).toBeGreaterThanOrEqual((ticks[0] as Date).getTime());

    await agent.close();
    await manager.close();
    await policies.close();
    await service.close();
    await provider.close();
  });

  it('serves nothing before start and refuses start after close', async () => {
    const { agent } = makeAgent();
    expect(agent.address).toBeUndefined();
    expect(() => agent.store).toThrow(/not started/);
    await agent.close();
    expect(() => agent.start()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });
});
