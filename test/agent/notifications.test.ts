/**
 * Outbound notifications from real agent processes against the real Consul and PostgreSQL, with
 * real changes made through the CLI, checked over what receivers on 127.0.0.1 recorded:
 *
 * - every audited change of the kinds a channel subscribes to is delivered, signed, once (no id
 *   accepted twice), in audit order per ref, through a receiver that fails its first requests
 *   (retries with backoff); a Slack-format channel gets `{ text, blocks }`;
 * - a receiver that always fails gets each event `maxAttempts` times, then the event is a dead
 *   letter (`notifications list --dead`, the dead-letter gauge); after it recovers
 *   `notifications retry --all` delivers each once, and a second retry has nothing to do;
 * - the leader killed with SIGKILL, the other agent takes over from the cursor: the changes made
 *   meanwhile are delivered, nothing lost and nothing twice.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { signatureOf } from '../../packages/agent/src/notifications/deliver.js';
import { RBAC_YAML, runIn } from '../../packages/agent/test/cli-harness.js';
import { type AgentProcess, killAllAgents, startAgentProcess, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';
import { type Receiver, startReceiver, verifyWebhook } from './webhook-receiver.js';

const SECRET = randomBytes(24).toString('hex');
const clusters: Cluster[] = [];
const receivers: Receiver[] = [];
const dirs: string[] = [];
afterAll(async () => {
  killAllAgents();
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all(clusters.map((c) => c.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface AuditRow {
  seq: number;
  hash: string | null;
  action: string;
  ref: string | null;
}

/** The audit trail as PostgreSQL holds it, after `afterSeq`. */
async function auditAfter(cluster: Cluster, afterSeq: number): Promise<AuditRow[]> {
  const governance = createPostgresGovernance({ connectionString: cluster.databaseUrl, schema: cluster.schema });
  try {
    return (await governance.readAuditChain(afterSeq, 10_000)).map((r) => ({
      seq: r.seq,
      hash: r.hash,
      action: r.action,
      ref: r.ref,
    }));
  } finally {
    await governance.close();
  }
}

const idOf = (r: Pick<AuditRow, 'seq' | 'hash'>) => `${r.seq}-${r.hash ? r.hash.slice(0, 16) : 'unhashed'}`;

async function leaderOf(agents: AgentProcess[]): Promise<AgentProcess> {
  let found: AgentProcess | undefined;
  await until(
    async () => {
      for (const a of agents) {
        const status = (await (await fetch(`${a.base}/v1/status`)).json()) as { leader: { leading: boolean } };
        if (status.leader.leading) found = a;
      }
      return found !== undefined;
    },
    'a leader',
    60_000,
  );
  return found as AgentProcess;
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (
      Object.entries(labels).every(([k, v]) => have[k] === v) &&
      Object.keys(have).length === Object.keys(labels).length
    ) {
      return Number(m[3]);
    }
  }
  return undefined;
}

describe('outbound notifications (real agents, Consul, PostgreSQL)', () => {
  it('delivers every subscribed change once, in order, through retries, dead letters and a leader change', async () => {
    const cluster = createCluster('notify');
    clusters.push(cluster);
    const good = await startReceiver({ secret: SECRET, failFirst: 3 });
    const down = await startReceiver({ secret: SECRET, failing: true });
    const slack = await startReceiver({ secret: SECRET });
    receivers.push(good, down, slack);
    const notifications = {
      pollMs: 200,
      webhooks: [
        {
          name: 'good',
          url: good.url,
          secretEnv: 'HOOK_SECRET',
          events: ['config.*', 'request.*'],
          maxAttempts: 6,
          backoffMs: 20,
          maxBackoffMs: 100,
        },
        {
          name: 'down',
          url: down.url,
          secretEnv: 'HOOK_SECRET',
          events: ['config.set'],
          maxAttempts: 3,
          backoffMs: 10,
          maxBackoffMs: 20,
        },
        { name: 'slack', url: slack.url, secretEnv: 'HOOK_SECRET', events: ['request.*'], format: 'slack' },
      ],
    };
    const config = cluster.agentConfig({ notifications });
    const env = { HOOK_SECRET: SECRET };
    const agents = await Promise.all([
      startAgentProcess({ label: 'notify-a', config, env }),
      startAgentProcess({ label: 'notify-b', config, env }),
    ]);
    const leader = await leaderOf(agents);
    const follower = agents.find((a) => a !== leader) as AgentProcess;
    // Each channel starts at the trail's head when first seen: wait for that before changing anything.
    for (const name of ['good', 'down', 'slack']) {
      await leader.waitForLog((l) => String(l.msg).startsWith(`audit feed: notifications:${name} starts`), name);
    }
    const start = (await auditAfter(cluster, 0)).at(-1)?.seq ?? 0;

    // The CLI, on the same stores, with the channels of the agent configuration.
    const dir = await mkdtemp(join(tmpdir(), 'summit-notify-'));
    dirs.push(dir);
    await writeFile(join(dir, 'rbac.yaml'), RBAC_YAML);
    await writeFile(join(dir, 'agent.yaml'), JSON.stringify(config));
    const cliEnv = {
      PATH: process.env.PATH,
      HOOK_SECRET: SECRET,
      SUMMIT_RBAC_FILE: join(dir, 'rbac.yaml'),
      SUMMIT_AGENT_CONFIG: join(dir, 'agent.yaml'),
    };
    const cli = async (args: string[], actor = 'alice') => {
      const r = await runIn(cliEnv, [...args, '--json'], { actor });
      if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
      return r.json();
    };

    await cli(['env', 'create', 'staging']);
    await cli(['set', 'global/database', '--json-value', '{"host":"db1","pool":5}']);
    await cli(['set', 'app:billing/limits', '--json-value', '{"rps":100}']);
    await cli(['set', 'global/database', '--json-value', '{"host":"hunter-two","pool":5}']);
    await cli(['set', 'app:billing/limits', '--env', 'staging', '--json-value', '{"rps":10}']);
    await cli(['delete', 'app:billing/limits']);
    await cli(['env', 'create', 'production', '--production', '--approvers', 'alice,carol']);
    const request = await cli(
      ['propose', 'global/database', '--env', 'production', '--json-value', '{"pool":9}'],
      'bob',
    );
    await cli(['approve', request.id]);
    await cli(['apply', request.id], 'bob');
    const other = await cli(['propose', 'global/database', '--json-value', '{"pool":1}'], 'bob');
    await cli(['reject', other.id, '--reason', 'no']);

    const wanted = (rows: AuditRow[], patterns: RegExp) => rows.filter((r) => patterns.test(r.action)).map(idOf);
    const phase1 = await auditAfter(cluster, start);
    const forGood = wanted(phase1, /^(config|request)\./);
    const forDown = wanted(phase1, /^config\.set$/);
    const forSlack = wanted(phase1, /^request\./);
    expect(forGood).toHaveLength(10); // 4 set, 1 delete; create, approve, apply, create, reject
    await until(() => forGood.every((id) => good.accepted().includes(id)), 'every change at the good receiver', 60_000);
    await until(
      () => forSlack.every((id) => slack.accepted().includes(id)),
      'every request at the slack receiver',
      60_000,
    );

    // Delivered: exactly the subscribed events, each accepted once, none with a bad signature.
    expect([...good.accepted()].sort()).toEqual([...forGood].sort());
    expect(good.received.filter((r) => r.verdict === 'duplicate' || r.verdict === 'bad-signature')).toEqual([]);
    expect(good.received.filter((r) => r.verdict === 'failing')).toHaveLength(3); // answered 500, retried
    // In audit order per ref (and here overall: one channel sends one event at a time).
    const seqOf = (id: string) => Number(id.split('-')[0]);
    expect(good.accepted().map(seqOf)).toEqual([...good.accepted().map(seqOf)].sort((a, b) => a - b));
    // The JSON body: ids, versions and a summary; never a document's values.
    for (const r of good.received.filter((x) => x.verdict === 'accepted')) {
      const body = JSON.parse(r.body) as Record<string, unknown>;
      expect(body.id).toBe(r.eventId);
      expect(body.type).toBe(r.type);
      expect(r.body).not.toContain('hunter');
    }
    const set = JSON.parse(
      good.received.find((r) => r.type === 'config.set' && r.verdict === 'accepted')?.body ?? '{}',
    ) as Record<string, unknown>;
    expect(set).toMatchObject({ ref: 'global/database', version: 1, actor: 'alice', actorKind: 'user' });
    expect(set.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect([...slack.accepted()].sort()).toEqual([...forSlack].sort());
    for (const r of slack.received) {
      const body = JSON.parse(r.body) as { text: unknown; blocks: unknown };
      expect(typeof body.text).toBe('string');
      expect(Array.isArray(body.blocks)).toBe(true);
    }

    // The failing receiver: maxAttempts tries each, then dead letters.
    await until(
      async () => (await runIn(cliEnv, ['notifications', 'list', '--dead', '--json'])).json().length === forDown.length,
      'the dead letters',
      60_000,
    );
    const dead = (await cli(['notifications', 'list', '--dead'])) as Array<{
      id: string;
      channel: string;
      eventId: string;
      attempts: number;
      status: string;
    }>;
    expect(dead.map((d) => d.eventId).sort()).toEqual([...forDown].sort());
    for (const d of dead) {
      expect(d).toMatchObject({ channel: 'down', attempts: 3, status: 'dead' });
      expect(down.received.filter((r) => r.eventId === d.eventId)).toHaveLength(3);
    }
    await until(async () => {
      const text = await (await fetch(`${leader.base}/metrics`)).text();
      return metric(text, 'summit_agent_notification_dead_letters') === forDown.length;
    }, 'the dead-letter gauge');
    const scraped = await (await fetch(`${leader.base}/metrics`)).text();
    expect(metric(scraped, 'summit_agent_notifications_total', { channel: 'down', result: 'dead' })).toBe(
      forDown.length,
    );
    expect(metric(scraped, 'summit_agent_notifications_total', { channel: 'good', result: 'delivered' })).toBe(
      forGood.length,
    );
    expect(metric(scraped, 'summit_agent_notifications_total', { channel: 'good', result: 'retried' })).toBe(3);

    // Retry by id of a delivered one is refused; after recovery --all delivers each dead letter once.
    const delivered = (await cli(['notifications', 'list', '--channel', 'good', '--limit', '1'])) as Array<{
      id: string;
    }>;
    const refused = await runIn(cliEnv, ['notifications', 'retry', delivered[0]?.id as string, '--json']);
    expect(refused.code).not.toBe(0);
    expect(refused.error().code).toBe('CONSTRAINT_VIOLATION');
    down.setFailing(false);
    const retried = await cli(['notifications', 'retry', '--all']);
    expect(retried.results.every((r: { delivered: boolean }) => r.delivered)).toBe(true);
    expect([...down.accepted()].sort()).toEqual([...forDown].sort());
    const requestsBefore = down.received.length;
    expect((await cli(['notifications', 'retry', '--all'])).results).toEqual([]);
    expect(await cli(['notifications', 'list', '--dead'])).toEqual([]);
    expect(down.received).toHaveLength(requestsBefore);
    expect(down.received.filter((r) => r.verdict === 'duplicate')).toEqual([]);

    // Leader change: SIGKILL the leader, change things while no one leads, the other takes over.
    const accepted = new Set(good.accepted());
    leader.signal('SIGKILL');
    await leader.exited;
    const third = await cli(['propose', 'global/database', '--json-value', '{"pool":3}'], 'bob');
    await cli(['reject', third.id, '--reason', 'no']);
    const fourth = await cli(['propose', 'global/database', '--json-value', '{"pool":4}'], 'bob');
    await follower.waitForLog((l) => l.msg === 'leadership acquired', 'the takeover', 90_000);
    const phase2 = await auditAfter(cluster, phase1.at(-1)?.seq ?? start);
    const later = wanted(phase2, /^(config|request)\./);
    expect(later.length).toBe(3);
    await until(
      () => later.every((id) => good.accepted().includes(id)),
      'the changes made during the takeover',
      60_000,
    );
    expect(
      good
        .accepted()
        .filter((id) => !accepted.has(id))
        .sort(),
    ).toEqual([...later].sort());
    expect(good.received.filter((r) => r.verdict === 'duplicate')).toEqual([]);
    expect(good.accepted().map(seqOf)).toEqual([...good.accepted().map(seqOf)].sort((a, b) => a - b));
    await until(() => slack.accepted().length === forSlack.length + 3, 'the slack channel after the takeover', 60_000);
    expect(slack.received.filter((r) => r.verdict === 'duplicate')).toEqual([]);
    expect(fourth.status).toBe('pending');
  }, 300_000);

  it("the agent's signature verifies; a tampered body, another secret, an old timestamp (replay) do not", () => {
    const body = '{"id":"1-abc"}';
    const t = Math.floor(Date.now() / 1000);
    // The agent's signature, checked by the receiver's recipe (docs/notifications.md).
    const sign = (secret: string, at: number, text: string) => signatureOf(secret, at, text);
    expect(verifyWebhook(SECRET, sign(SECRET, t, body), body)).toBe('ok');
    expect(verifyWebhook(SECRET, sign(SECRET, t, body), body.replace('abc', 'abd'))).toBe('bad-signature');
    expect(verifyWebhook(SECRET, sign('another-secret-of-16', t, body), body)).toBe('bad-signature');
    expect(verifyWebhook(SECRET, sign(SECRET, t - 3600, body), body)).toBe('stale');
    expect(verifyWebhook(SECRET, undefined, body)).toBe('bad-signature');
  });
});
