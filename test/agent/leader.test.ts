/**
 * Leadership across agent processes against the real Consul: exactly one leader; the survivor
 * takes over after the leader is SIGKILLed (bounded by the session TTL, lock-delay 0 here); a
 * SIGTERMed leader exits 0 within 2 s and releases the lock on its way out.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type AgentProcess, killAllAgents, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

const clusters: Cluster[] = [];
afterEach(() => killAllAgents());
afterAll(async () => {
  killAllAgents();
  await Promise.all(clusters.map((c) => c.close()));
});

interface Status {
  leader: { leading: boolean; kind: string; fencingToken?: number };
}

async function status(agent: AgentProcess): Promise<Status> {
  return (await (await fetch(`${agent.base}/v1/status`)).json()) as Status;
}

async function lockEntry(cluster: Cluster): Promise<{ Session?: string; LockIndex: number } | undefined> {
  const res = await fetch(`${cluster.consulAddr}/v1/kv/${cluster.prefix}locks/agents?consistent`);
  if (res.status === 404) return undefined;
  return ((await res.json()) as Array<{ Session?: string; LockIndex: number }>)[0];
}

/** Starts two agents and returns them as [leader, follower] once exactly one leads. */
async function twoAgents(cluster: Cluster): Promise<[AgentProcess, AgentProcess]> {
  const [a, b] = await Promise.all([
    startAgentProcess({ label: 'a', config: cluster.agentConfig() }),
    startAgentProcess({ label: 'b', config: cluster.agentConfig() }),
  ]);
  await until(async () => (await status(a)).leader.leading || (await status(b)).leader.leading, 'a leader');
  const [sa, sb] = await Promise.all([status(a), status(b)]);
  expect([sa.leader.leading, sb.leader.leading].filter(Boolean)).toHaveLength(1);
  expect(sa.leader.kind).toBe('consul');
  return sa.leader.leading ? [a, b] : [b, a];
}

describe('agent leadership (real Consul)', () => {
  it('elects exactly one leader; after the leader is killed with SIGKILL the other takes over', async () => {
    const cluster = createCluster('lead');
    clusters.push(cluster);
    const [leader, follower] = await twoAgents(cluster);
    const first = await status(leader);
    const heldBy = (await lockEntry(cluster))?.Session;
    expect(heldBy).toBeDefined();
    // Still exactly one a moment later: the follower keeps waiting.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await status(follower)).leader.leading).toBe(false);

    leader.signal('SIGKILL');
    await leader.exited;
    // The dead leader's session expires after its TTL (Consul allows up to twice the TTL).
    await follower.waitForLog((l) => l.msg === 'leadership acquired', 'the takeover', 60_000);
    const after = await status(follower);
    expect(after.leader.leading).toBe(true);
    // The fencing token grew: a write fenced with the old token is refused.
    expect(after.leader.fencingToken).toBeGreaterThan(first.leader.fencingToken as number);
    const entry = await lockEntry(cluster);
    expect(entry?.Session).toBeDefined();
    expect(entry?.Session).not.toBe(heldBy);
  }, 120_000);

  it('a leader stopped with SIGTERM exits 0 within 2 s and releases the lock for the other agent', async () => {
    const cluster = createCluster('term');
    clusters.push(cluster);
    const [leader, follower] = await twoAgents(cluster);
    const heldBy = (await lockEntry(cluster))?.Session as string;
    expect(heldBy).toBeDefined();

    leader.signal('SIGTERM');
    const tookMs = await leader.waitForPidExit(10_000);
    expect((await leader.exited).code).toBe(0);
    expect(tookMs).toBeLessThan(2000);
    expect(leader.logs.find((l) => l.msg === 'agent stopped')).toMatchObject({ code: 0, forced: false });

    // Released, not left to expire: the old session is gone at once and no longer holds the key.
    const sessions = (await (await fetch(`${cluster.consulAddr}/v1/session/info/${heldBy}`)).json()) as
      | unknown[]
      | null;
    expect(sessions ?? []).toEqual([]);
    expect((await lockEntry(cluster))?.Session).not.toBe(heldBy);
    await follower.waitForLog((l) => l.msg === 'leadership acquired', 'the follower to lead', 60_000);
    expect((await status(follower)).leader.leading).toBe(true);
  }, 120_000);
});
