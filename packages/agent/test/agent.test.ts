/**
 * The agent's wiring, in process over memory tiers: leader jobs registered by users, the built-in
 * reconciliation and drift jobs, store events turned into metrics, and the lifecycle.
 */
import { appendNext } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import type { AgentEventMap } from '../src/events.js';
import type { LeaderJobContext } from '../src/leader.js';
import { memoryTiers, testConfig, until } from './helpers.js';

const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});

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

  it('serves nothing before start and refuses start after close', async () => {
    const { agent } = makeAgent();
    expect(agent.address).toBeUndefined();
    expect(() => agent.store).toThrow(/not started/);
    await agent.close();
    expect(() => agent.start()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });
});
