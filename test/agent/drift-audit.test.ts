/**
 * Drift into the audit trail and out as notifications, from a real leading agent process against
 * the real Consul and PostgreSQL: a document tampered with a raw Consul PUT is found and repaired;
 * the trail records one `drift.found` and one `drift.repaired` for it (however many drift runs
 * follow), and a webhook subscribed to `drift.*` receives both, signed, in that order.
 */
import { randomBytes } from 'node:crypto';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { appendNext, parseRef } from '@summit-config/core';
import { afterAll, describe, expect, it } from 'vitest';
import { killAllAgents, type LogLine, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';
import { type Receiver, startReceiver } from './webhook-receiver.js';

const SECRET = randomBytes(24).toString('hex');
let cluster: Cluster | undefined;
let receiver: Receiver | undefined;
afterAll(async () => {
  killAllAgents();
  await receiver?.close();
  await cluster?.close();
});

describe('drift in the audit trail (real agent, Consul, PostgreSQL)', () => {
  it('audits a tampered document once as found and once as repaired, and notifies both', async () => {
    cluster = createCluster('driftaudit');
    receiver = await startReceiver({ secret: SECRET });
    const ref = parseRef('global/database');
    // The writer's chain may still be syncing its breakers on a loaded machine: write once it serves.
    const chain = cluster.chain;
    await until(
      () =>
        appendNext(chain, { ref, config: { host: 'db', port: 5432 }, createdBy: 'test' }).then(
          () => true,
          (error: { code?: string }) => {
            if (error.code !== 'BACKEND_UNAVAILABLE') throw error;
            return false;
          },
        ),
      'the first write',
    );
    const agent = await startAgentProcess({
      label: 'driftaudit',
      config: cluster.agentConfig({
        drift: { enabled: true, intervalMs: 300, remediate: true },
        notifications: {
          pollMs: 200,
          webhooks: [{ name: 'drift', url: receiver.url, secretEnv: 'HOOK_SECRET', events: ['drift.*'] }],
        },
      }),
      env: { HOOK_SECRET: SECRET },
    });
    await agent.waitForLog((l) => String(l.msg).startsWith('audit feed: notifications:drift starts'), 'the feed');
    await agent.waitForLog((l) => l.msg === 'drift run', 'a first, clean drift run');

    const key = `${cluster.prefix}docs/global/database/v/1`;
    const raw = (await (await cluster.consulKv('GET', `${key}?raw`)).json()) as Record<string, unknown>;
    expect(
      await (await cluster.consulKv('PUT', key, JSON.stringify({ ...raw, config: { host: 'evil' } }))).json(),
    ).toBe(true);
    const repaired = (l: LogLine) =>
      (l.drift as { kind?: string; remediated?: boolean } | undefined)?.kind === 'checksum-mismatch' &&
      (l.drift as { remediated?: boolean }).remediated === true;
    await agent.waitForLog(repaired, 'the repair');
    // Several more runs: the repaired document is no finding any more, nothing more is audited.
    const runs = agent.logs.filter((l) => l.msg === 'drift run').length;
    await until(() => agent.logs.filter((l) => l.msg === 'drift run').length >= runs + 3, 'three more drift runs');
    const governance = createPostgresGovernance({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    let events: Awaited<ReturnType<typeof governance.queryAudit>>;
    try {
      events = await governance.queryAudit({ action: 'drift.' });
    } finally {
      await governance.close();
    }
    expect(events.map((e) => [e.action, e.ref, e.source])).toEqual([
      ['drift.found', 'global/database', 'agent'],
      ['drift.repaired', 'global/database', 'agent'],
    ]);
    expect(events[0]?.message).toMatch(/^checksum-mismatch: /);
    expect(events[1]?.message).toMatch(/^checksum-mismatch repaired: /);
    expect(events.every((e) => e.actor.startsWith('summit-agent:'))).toBe(true);

    const ids = events.map((e) => `${e.seq}-${(e.hash as string).slice(0, 16)}`);
    const hook = receiver;
    await until(() => ids.every((id) => hook.accepted().includes(id)), 'both notifications');
    expect(hook.accepted()).toEqual(ids);
    expect(hook.received.map((r) => r.verdict)).toEqual(['accepted', 'accepted']);
    const bodies = hook.received.map((r) => JSON.parse(r.body) as Record<string, unknown>);
    expect(bodies.map((b) => [b.type, b.ref, b.actorKind])).toEqual([
      ['drift.found', 'global/database', 'agent'],
      ['drift.repaired', 'global/database', 'agent'],
    ]);
    expect(JSON.stringify(bodies)).not.toContain('evil');
  }, 180_000);
});
