/**
 * The audit-derived metrics of a real agent process (real Consul and PostgreSQL) after real actions
 * through the CLI (set, propose, approve, reject, apply): each value scraped from `/metrics` is
 * exactly what the actions imply, the approval latency is the request-to-decision time of the
 * requests themselves, and a second agent that does not lead counts nothing.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { RBAC_YAML, runIn } from '../../packages/agent/test/cli-harness.js';
import { type AgentProcess, killAllAgents, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';

let cluster: Cluster | undefined;
const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await cluster?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The value of one sample (exact label set), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const keys = Object.keys(labels);
    if (keys.length === Object.keys(have).length && keys.every((k) => have[k] === labels[k])) return Number(m[3]);
  }
  return undefined;
}

async function leading(agent: AgentProcess): Promise<boolean> {
  return ((await (await fetch(`${agent.base}/v1/status`)).json()) as { leader: { leading: boolean } }).leader.leading;
}

describe('audit-derived metrics (real agents, Consul, PostgreSQL)', () => {
  it('counts changes by scope, environment and actor kind, approvals by action, latency and pending, on the leader only', async () => {
    cluster = createCluster('auditm');
    const config = cluster.agentConfig({ notifications: { pollMs: 200 } });
    const agents = await Promise.all([
      startAgentProcess({ label: 'auditm-a', config }),
      startAgentProcess({ label: 'auditm-b', config }),
    ]);
    await until(
      async () => (await leading(agents[0] as AgentProcess)) || leading(agents[1] as AgentProcess),
      'a leader',
      60_000,
    );
    const leader = ((await leading(agents[0] as AgentProcess)) ? agents[0] : agents[1]) as AgentProcess;
    const follower = agents.find((a) => a !== leader) as AgentProcess;
    await leader.waitForLog((l) => String(l.msg).startsWith('audit feed: metrics starts'), 'the metrics feed');

    const dir = await mkdtemp(join(tmpdir(), 'summit-auditm-'));
    dirs.push(dir);
    await writeFile(join(dir, 'rbac.yaml'), RBAC_YAML);
    await writeFile(join(dir, 'agent.yaml'), JSON.stringify(config));
    const env = {
      PATH: process.env.PATH,
      SUMMIT_RBAC_FILE: join(dir, 'rbac.yaml'),
      SUMMIT_AGENT_CONFIG: join(dir, 'agent.yaml'),
    };
    const cli = async (args: string[], actor = 'alice') => {
      const r = await runIn(env, [...args, '--json'], { actor });
      if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
      return r.json();
    };

    // Changes: 2 global, 1 app base, 1 app override in staging.
    await cli(['env', 'create', 'staging']);
    await cli(['set', 'global/database', '--json-value', '{"host":"db1"}']);
    await cli(['set', 'global/database', '--json-value', '{"host":"db2"}'], 'bob');
    await cli(['set', 'app:billing/limits', '--json-value', '{"rps":100}']);
    await cli(['set', 'app:billing/limits', '--env', 'staging', '--json-value', '{"rps":10}']);
    // Requests in production: one approved and applied, one rejected, one left pending.
    await cli(['env', 'create', 'production', '--production', '--approvers', 'alice,carol']);
    const applied = await cli(
      ['propose', 'app:billing/limits', '--env', 'production', '--json-value', '{"rps":50}'],
      'bob',
    );
    await cli(['approve', applied.id]);
    await cli(['apply', applied.id], 'bob');
    const rejected = await cli(['propose', 'global/database', '--json-value', '{"host":"db3"}'], 'bob');
    await cli(['reject', rejected.id, '--reason', 'not now'], 'carol');
    const pending = await cli(['propose', 'global/database', '--json-value', '{"host":"db4"}'], 'bob');

    // The decisions' times, from the audit trail itself.
    const governance = createPostgresGovernance({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    let decisions: Array<{ action: string; requestId: string | null; at: string }>;
    try {
      decisions = (await governance.queryAudit({ action: 'request.' })).map((r) => ({
        action: r.action,
        requestId: r.requestId,
        at: r.at,
      }));
    } finally {
      await governance.close();
    }
    const decidedAt = (id: string, action: string) =>
      decisions.find((d) => d.requestId === id && d.action === action)?.at;
    const latency = (request: { requestedAt: string }, at: string | undefined) =>
      (Date.parse(at as string) - Date.parse(request.requestedAt)) / 1000;
    const approvedLatency = latency(applied, decidedAt(applied.id, 'request.approve'));
    const rejectedLatency = latency(rejected, decidedAt(rejected.id, 'request.reject'));

    const expected: Array<[string, Record<string, string>, number]> = [
      ['summit_agent_config_changes_total', { scope: 'global', environment: 'all', actor_kind: 'user' }, 2],
      ['summit_agent_config_changes_total', { scope: 'app:billing', environment: 'all', actor_kind: 'user' }, 1],
      ['summit_agent_config_changes_total', { scope: 'app:billing', environment: 'staging', actor_kind: 'user' }, 1],
      ['summit_agent_config_changes_total', { scope: 'app:billing', environment: 'production', actor_kind: 'user' }, 1],
      ['summit_agent_approvals_total', { action: 'requested' }, 3],
      ['summit_agent_approvals_total', { action: 'approved' }, 1],
      ['summit_agent_approvals_total', { action: 'rejected' }, 1],
      ['summit_agent_approvals_total', { action: 'applied' }, 1],
      ['summit_agent_approval_latency_seconds_count', { environment: 'production', decision: 'approved' }, 1],
      [
        'summit_agent_approval_latency_seconds_sum',
        { environment: 'production', decision: 'approved' },
        approvedLatency,
      ],
      ['summit_agent_approval_latency_seconds_count', { environment: 'production', decision: 'rejected' }, 1],
      [
        'summit_agent_approval_latency_seconds_sum',
        { environment: 'production', decision: 'rejected' },
        rejectedLatency,
      ],
      ['summit_agent_approvals_pending', {}, 1],
    ];
    let text = '';
    await until(
      async () => {
        text = await (await fetch(`${leader.base}/metrics`)).text();
        return expected.every(([name, labels, value]) => sample(text, name, labels) === value);
      },
      'the metrics to reflect the actions',
      60_000,
    ).catch((error: Error) => {
      const seen = expected.map(
        ([name, labels, value]) => `${name}${JSON.stringify(labels)} want ${value} got ${sample(text, name, labels)}`,
      );
      throw new Error(`${error.message}\n${seen.join('\n')}`);
    });
    // Nothing else counted: no other change series, no expiry.
    const changeSeries = text.split('\n').filter((l) => l.startsWith('summit_agent_config_changes_total{'));
    expect(changeSeries).toHaveLength(4);
    expect(sample(text, 'summit_agent_approvals_total', { action: 'expired' }) ?? 0).toBe(0);
    // The oldest pending request's age: from its requestedAt to about now, and it grows.
    const age = sample(text, 'summit_agent_approval_oldest_pending_seconds') as number;
    expect(age).toBeGreaterThan(0);
    expect(age).toBeLessThanOrEqual((Date.now() - Date.parse(pending.requestedAt)) / 1000);
    await until(
      async () =>
        (sample(await (await fetch(`${leader.base}/metrics`)).text(), 'summit_agent_approval_oldest_pending_seconds') ??
          0) > age,
      'the oldest pending age to grow',
    );

    // The follower counts nothing (only the leader follows the trail).
    const other = await (await fetch(`${follower.base}/metrics`)).text();
    expect(other.split('\n').filter((l) => l.startsWith('summit_agent_config_changes_total{'))).toEqual([]);
    expect(sample(other, 'summit_agent_approvals_total', { action: 'requested' }) ?? 0).toBe(0);
    expect(sample(other, 'summit_agent_approvals_pending')).toBe(0);
  }, 240_000);
});
