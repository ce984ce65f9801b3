/**
 * The agent's /metrics after real actions, against the real Consul and PostgreSQL (each reached
 * through a TCP proxy this test owns, so it can cut them): config reads over HTTP, a scheduled secret
 * rotation that succeeds and one that fails, a tampered document found and repaired by drift
 * detection, Consul cut (the tier gauge and the failovers), a write while Consul is away (unsynced,
 * divergent refs), both stores cut (reads answered by the cache tier), and the PostgreSQL pools.
 * The served client's store reads are timed. Every value is checked exactly against what really happened: the requests sent, the rotation
 * policies' states, the agent's own events, and PostgreSQL's pg_stat_activity.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendNext, createRbac, parseRef } from '@summit-config/core';
import { until } from '@summit-config/test-support/wait';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../packages/agent/src/agent.js';
import { resolveAgentConfig } from '../../packages/agent/src/config.js';
import type { AgentEventMap } from '../../packages/agent/src/events.js';
import { createLocalRotation, type LocalRotation } from '../../packages/agent/src/local-secrets.js';
import { openRuntime, type Runtime } from '../../packages/agent/src/runtime.js';
import { startProxy, type TcpProxy } from '../faults/proxy.js';
import { uniqueSuffix } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';
import { parseScrape, type Scrape, sampleValue } from './prom-text.js';

const MASTER_KEY = randomBytes(32).toString('base64');
const ADMIN = { id: 'metrics-admin', roles: ['admin'] };
const RBAC = createRbac({
  roles: { admin: ['secrets:read', 'secrets:write', 'secrets:rotate', 'config:read', 'config:write'] },
  bindings: [],
});

let cluster: Cluster;
let consulProxy: TcpProxy;
let pgProxy: TcpProxy;
let agent: Agent;
/** A second runtime on the same stores, as the CLI opens one: it writes the secrets and policies. */
let cli: Runtime;
let local: LocalRotation;
let db: pg.Client;
const snapshotDir = join(tmpdir(), `summit-metrics-snapshots-${uniqueSuffix()}`);
const drift: AgentEventMap['drift'][] = [];
const storeEvents: AgentEventMap['store'][] = [];

async function scrape(): Promise<Scrape> {
  const address = agent.address as { port: number };
  const res = await fetch(`http://127.0.0.1:${address.port}/metrics`);
  expect(res.status).toBe(200);
  return parseScrape(await res.text());
}

/** A sample's value, 0 when the labelled series was never set (prom-client prints only the family). */
const value = (s: Scrape, name: string, labels: Record<string, string> = {}) => sampleValue(s, name, labels) ?? 0;

beforeAll(async () => {
  process.env.SUMMIT_MASTER_KEY = MASTER_KEY; // the agent's local provider reads it from its environment
  cluster = createCluster('metrics');
  consulProxy = await startProxy(Number(new URL(cluster.consulAddr).port));
  const pgUrl = new URL(cluster.databaseUrl);
  pgProxy = await startProxy(Number(pgUrl.port), pgUrl.hostname);
  const proxiedPg = new URL(cluster.databaseUrl);
  proxiedPg.port = String(pgProxy.port);
  await appendNext(cluster.chain, {
    ref: parseRef('global/database'),
    config: { host: 'db', port: 5432 },
    createdBy: 'test',
  });

  // Secrets and policies, written beforehand the way `summit-config secret` does.
  cli = await openRuntime(
    resolveAgentConfig(
      {
        stores: {
          consul: { address: cluster.consulAddr, prefix: cluster.prefix },
          postgres: { url: cluster.databaseUrl, schema: cluster.schema },
        },
      },
      {},
    ),
    { role: 'cli' },
  );
  local = await createLocalRotation({
    handle: await (cli.secretSql as NonNullable<Runtime['secretSql']>)(),
    migrator: cli.governance as NonNullable<Runtime['governance']>,
    service: cli.service(RBAC, { source: 'cli' }),
    store: cli.store,
    rbac: RBAC,
    actor: ADMIN,
    env: { SUMMIT_MASTER_KEY: MASTER_KEY },
  });
  await local.provider.create('metrics/good', 'first-value-of-good');
  const now = new Date().toISOString();
  await local.rotation.putPolicy(ADMIN, {
    secret: { provider: 'local', name: 'metrics/good' },
    intervalDays: 30,
    graceMs: 0,
    nextRotationAt: now,
  });
  // A policy whose secret does not exist: its rotation fails.
  await local.rotation.putPolicy(ADMIN, {
    secret: { provider: 'local', name: 'metrics/missing' },
    intervalDays: 30,
    graceMs: 0,
    nextRotationAt: now,
  });

  const config = resolveAgentConfig(
    {
      instance: `metrics-${uniqueSuffix()}`,
      http: { port: 0 },
      stores: {
        consul: { address: `http://127.0.0.1:${consulProxy.port}`, prefix: cluster.prefix },
        postgres: { url: proxiedPg.toString(), schema: cluster.schema },
      },
      apps: [{ app: 'billing', environment: 'prod' }],
      drift: { enabled: false },
      reconcile: { intervalMs: 0 },
      leader: { name: 'agents', ttlMs: 10_000, lockDelayMs: 0 },
      jobs: { rotationsMs: 200, scheduledAppliesMs: 0, rolloutStepsMs: 0, auditCheckpointsMs: 0 },
      snapshotDir,
    },
    { SUMMIT_MASTER_KEY: MASTER_KEY },
  );
  agent = new Agent({ config });
  agent.events.on('drift', (f) => drift.push(f));
  agent.events.on('store', (e) => storeEvents.push(e));
  await agent.start();
  db = new pg.Client({ connectionString: cluster.databaseUrl });
  await db.connect();
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await local?.close();
  await cli?.close();
  await db?.end();
  await consulProxy?.close();
  await pgProxy?.close();
  await cluster?.close();
  await rm(snapshotDir, { recursive: true, force: true });
  delete process.env.SUMMIT_MASTER_KEY;
});

describe('agent /metrics after real actions (real Consul and PostgreSQL)', () => {
  it('counts each config read by status in the read-latency histogram and the request counter', async () => {
    const base = `http://127.0.0.1:${agent.address?.port}`;
    await until(async () => (await fetch(`${base}/readyz`)).status === 200, 'the agent to be ready', {
      timeoutMs: 30_000,
    });
    const sent: number[] = [];
    for (let i = 0; i < 3; i++) sent.push((await fetch(`${base}/v1/config/global/database`)).status);
    const first = await fetch(`${base}/v1/config/global/database`);
    sent.push(first.status);
    const etag = first.headers.get('etag') as string;
    sent.push((await fetch(`${base}/v1/config/global/database`, { headers: { 'If-None-Match': etag } })).status);
    sent.push((await fetch(`${base}/v1/config/global/nothing-here`)).status);
    expect(sent).toEqual([200, 200, 200, 200, 304, 404]);

    const s = await scrape();
    for (const status of ['200', '304', '404']) {
      const n = sent.filter((x) => String(x) === status).length;
      expect(value(s, 'summit_agent_http_read_duration_seconds_count', { status })).toBe(n);
      expect(value(s, 'summit_agent_http_read_duration_seconds_bucket', { status, le: '+Inf' })).toBe(n);
      expect(value(s, 'summit_agent_http_requests_total', { route: 'config', status })).toBe(n);
    }
    expect(value(s, 'summit_agent_http_read_duration_seconds_sum', { status: '200' })).toBeGreaterThan(0);
  });

  it("times the served client's reads through the store chain (all ok), and counts the version it applies", async () => {
    const reads = (s: Scrape) =>
      s.samples
        .filter((x) => x.name === 'summit_agent_store_read_duration_seconds_count')
        .reduce((n, x) => n + x.value, 0);
    const applied = (s: Scrape) =>
      value(s, 'summit_agent_config_changes_applied_total', { app: 'billing', environment: 'prod' });
    const before = await scrape();
    expect(reads(before)).toBeGreaterThan(0); // the client's start read the heads
    await appendNext(cluster.chain, {
      ref: parseRef('global/database'),
      config: { host: 'db2', port: 5432 },
      createdBy: 'test',
    });
    await until(async () => applied(await scrape()) === applied(before) + 1, 'the new version to be applied', {
      timeoutMs: 20_000,
    });
    const after = await scrape();
    // The watch delivered the new version with its document (no read); the start's reads stay counted.
    expect(reads(after)).toBeGreaterThanOrEqual(reads(before));
    for (const series of after.samples.filter((x) => x.name === 'summit_agent_store_read_duration_seconds_count')) {
      expect(series.labels.result).toBe('ok');
      expect(value(after, 'summit_agent_store_read_duration_seconds_bucket', { ...series.labels, le: '+Inf' })).toBe(
        series.value,
      );
    }
    const base = `http://127.0.0.1:${agent.address?.port}`;
    expect(await (await fetch(`${base}/v1/config/global/database`)).json()).toEqual({ host: 'db2', port: 5432 });
  });

  it('counts the scheduled rotation that succeeded as success and the one that failed as failed', async () => {
    const good = { provider: 'local', name: 'metrics/good' };
    const missing = { provider: 'local', name: 'metrics/missing' };
    await until(
      async () => {
        const [g, m] = await Promise.all([
          local.rotation.getPolicy(ADMIN, good),
          local.rotation.getPolicy(ADMIN, missing),
        ]);
        return g?.state === 'idle' && g.lastRun !== undefined && m?.state === 'failed';
      },
      'both rotations to end',
      { timeoutMs: 20_000 },
    ).catch(async (e: Error) => {
      throw new Error(
        `${e.message}: ${JSON.stringify(await local.rotation.listPolicies(ADMIN))} ${JSON.stringify(agent.status())}`,
      );
    });
    // Two more runs of the job after both ended: neither policy is due again, so nothing more counts.
    const runs = () => agent.status().jobs.find((j) => j.name === 'rotations')?.runs ?? 0;
    const after = runs();
    await until(() => runs() >= after + 2, 'two more rotation job runs', { timeoutMs: 10_000 });
    expect((await local.provider.read('metrics/good')).value).not.toBe('first-value-of-good');

    const s = await scrape();
    expect(value(s, 'summit_agent_rotations_total', { result: 'success' })).toBe(1);
    expect(value(s, 'summit_agent_rotations_total', { result: 'failed' })).toBe(1);
    expect(s.samples.filter((x) => x.name === 'summit_agent_rotations_total').map((x) => x.labels.result)).toEqual(
      expect.arrayContaining(['success', 'failed']),
    );
    expect(s.samples.filter((x) => x.name === 'summit_agent_rotations_total')).toHaveLength(2);
  });

  it('counts drift findings and repairs as the agent reported them, and the last run in drift_current', async () => {
    // Tamper with the head document in Consul behind the store's back (same version, other content).
    const head = await cluster.chain.getHead(parseRef('global/database'));
    const key = `${cluster.prefix}docs/global/database/v/${head?.version}`;
    const raw = (await (await cluster.consulKv('GET', `${key}?raw`)).json()) as Record<string, unknown>;
    expect(
      await (await cluster.consulKv('PUT', key, JSON.stringify({ ...raw, config: { host: 'evil' } }))).json(),
    ).toBe(true);
    const report = await agent.runDrift({ remediate: true });
    const tampered = report.findings.filter((f) => f.kind === 'checksum-mismatch');
    expect(tampered).toEqual([expect.objectContaining({ ref: 'global/database', remediated: true })]);
    const clean = await agent.runDrift({ remediate: true });
    expect(clean.findings).toEqual([]);

    const s = await scrape();
    const kinds = new Set(drift.map((f) => f.kind));
    expect(kinds.has('checksum-mismatch')).toBe(true);
    for (const kind of kinds) {
      expect(value(s, 'summit_agent_drift_total', { kind })).toBe(drift.filter((f) => f.kind === kind).length);
      expect(value(s, 'summit_agent_drift_remediated_total', { kind })).toBe(
        drift.filter((f) => f.kind === kind && f.remediated).length,
      );
    }
    // The last run was clean: every kind reads 0 now.
    for (const sample of s.samples.filter((x) => x.name === 'summit_agent_drift_current')) {
      expect(sample.value, sample.labels.kind).toBe(0);
    }
    expect(value(s, 'summit_agent_drift_runs_total', { result: 'ok' })).toBe(2);
  });

  it('reports each PostgreSQL pool as PostgreSQL sees its connections', async () => {
    const pools = { store: 'summit-agent', governance: 'summit-agent:governance', secrets: 'summit-agent:secrets' };
    const max = { store: 10, governance: 4, secrets: 2 };
    const seen = async () => {
      const { rows } = await db.query<{ application_name: string; n: number }>(
        'SELECT application_name, count(*)::int AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[]) GROUP BY 1',
        [pgProxy.upstreamPorts()],
      );
      return new Map(rows.map((r) => [r.application_name, r.n]));
    };
    // The agent's jobs may open or release a connection between the scrape and the query: wait for
    // a scrape that agrees with the server (every pool has opened one by now: the store served the
    // clients, governance ran the rotations, the secrets pool wrote their values).
    let last = '';
    await until(
      async () => {
        const s = await scrape();
        const server = await seen();
        const got = Object.entries(pools).map(([pool, app]) => [
          value(s, 'summit_agent_pg_pool_connections', { pool, state: 'total' }),
          server.get(app) ?? 0,
        ]);
        last = JSON.stringify({ got, server: [...server] });
        return got.every(([metric, actual]) => metric === actual && (actual as number) > 0);
      },
      'the pool gauges to match pg_stat_activity',
      { timeoutMs: 20_000 },
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${last}`);
    });
    const s = await scrape();
    for (const [pool, n] of Object.entries(max)) {
      const total = value(s, 'summit_agent_pg_pool_connections', { pool, state: 'total' });
      expect(value(s, 'summit_agent_pg_pool_connections', { pool, state: 'idle' })).toBeLessThanOrEqual(total);
      expect(value(s, 'summit_agent_pg_pool_connections', { pool, state: 'waiting' })).toBe(0);
      // Pools of one kind add up (the rotation job and the audit feed each open a secrets pool).
      const most = value(s, 'summit_agent_pg_pool_max_connections', { pool });
      expect(most % n).toBe(0);
      expect(most).toBeGreaterThanOrEqual(Math.max(total, n));
    }
  });

  it('flips the Consul tier gauge when Consul is cut and counts each breaker transition; a write meanwhile is unsynced and divergent', async () => {
    expect(value(await scrape(), 'summit_agent_tier_up', { tier: 'consul' })).toBe(1);
    // The test's own writer reaches Consul directly: its repair loop would copy the agent's write
    // there at once. Closed, only the agent knows what Consul lacks.
    await cluster.chain.close();
    consulProxy.cut();
    await until(async () => value(await scrape(), 'summit_agent_tier_up', { tier: 'consul' }) === 0, 'consul down', {
      timeoutMs: 20_000,
    });
    const s1 = await scrape();
    expect(value(s1, 'summit_agent_tier_up', { tier: 'postgres' })).toBe(1);

    await appendNext(agent.store, { ref: parseRef('global/while-consul-away'), config: { a: 1 }, createdBy: 'test' });
    expect(agent.store.status().unsynced).toEqual(['global/while-consul-away']);
    // The record lists the ref as lagging behind the mirror: the chain's repair loop counts it.
    await until(() => agent.store.status().divergent === 1, 'the ref to be counted as divergent', {
      timeoutMs: 20_000,
    });
    const s2 = await scrape();
    expect(value(s2, 'summit_agent_divergent_refs')).toBe(1);
    expect(value(s2, 'summit_agent_unsynced_writes_total')).toBe(
      storeEvents.filter((e) => e.type === 'unsynced-write').length,
    );
    expect(value(s2, 'summit_agent_unsynced_writes_total')).toBeGreaterThan(0);
  });

  it('answers from the cache tier while both stores are cut, counting one hit and one miss', async () => {
    // A read PostgreSQL answers fills the cache with the head (the client took it from the watch).
    const ref = parseRef('global/database');
    expect((await agent.store.getVersion(ref))?.config).toEqual({ host: 'db2', port: 5432 });
    pgProxy.cut();
    await until(
      async () => value(await scrape(), 'summit_agent_tier_up', { tier: 'postgres' }) === 0,
      'postgres down',
      { timeoutMs: 20_000 },
    );
    const before = await scrape();
    const doc = await agent.store.getVersion(ref);
    expect(doc?.config).toEqual({ host: 'db2', port: 5432 });
    await expect(agent.store.getVersion(parseRef('global/never-written'))).rejects.toMatchObject({
      code: 'BACKEND_UNAVAILABLE',
    });
    const after = await scrape();
    expect(value(after, 'summit_agent_cache_hits_total') - value(before, 'summit_agent_cache_hits_total')).toBe(1);
    expect(value(after, 'summit_agent_cache_misses_total') - value(before, 'summit_agent_cache_misses_total')).toBe(1);
    expect(value(after, 'summit_agent_cache_documents')).toBeGreaterThan(0);
  });

  it('brings both tiers back and counts every breaker transition the agent reported', async () => {
    consulProxy.restore();
    pgProxy.restore();
    await until(
      async () => {
        const s = await scrape();
        return (
          value(s, 'summit_agent_tier_up', { tier: 'consul' }) === 1 &&
          value(s, 'summit_agent_tier_up', { tier: 'postgres' }) === 1
        );
      },
      'both tiers back',
      { timeoutMs: 30_000 },
    );
    await until(() => agent.store.status().divergent === 0, 'repair', { timeoutMs: 30_000 });
    const s = await scrape();
    expect(value(s, 'summit_agent_divergent_refs')).toBe(0);
    const transitions = new Map<string, number>();
    for (const e of storeEvents) {
      if (e.type !== 'breaker') continue;
      const k = JSON.stringify({ tier: e.tier, from: e.from, to: e.to });
      transitions.set(k, (transitions.get(k) ?? 0) + 1);
    }
    const samples = s.samples.filter((x) => x.name === 'summit_agent_failovers_total');
    expect(samples).toHaveLength(transitions.size);
    for (const [k, n] of transitions) {
      expect(value(s, 'summit_agent_failovers_total', JSON.parse(k) as Record<string, string>), k).toBe(n);
    }
    expect(
      value(s, 'summit_agent_failovers_total', { tier: 'consul', from: 'closed', to: 'open' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
