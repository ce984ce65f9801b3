/**
 * The HTTP API of an in-process agent over memory tiers: auth, refs, ETag/304, long-poll (wake-up,
 * timeout, client disconnect, shutdown drain), explain, readiness and metrics.
 */
import { appendNext, type JsonObject } from '@summit-config/core';
import { until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { parseWait } from '../src/http.js';
import { memoryTiers, removeTestSnapshots, testConfig } from './helpers.js';

const agents: Agent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
});
afterAll(() => removeTestSnapshots());

async function startAgent(raw: Record<string, unknown> = {}) {
  const tiers = memoryTiers();
  const agent = new Agent({
    config: testConfig({
      apps: [{ app: 'billing', environment: 'prod', environments: ['staging'] }],
      ...raw,
    }),
    stores: tiers.build,
  });
  agents.push(agent);
  await agent.start();
  const base = `http://127.0.0.1:${agent.address?.port}`;
  return { agent, tiers, base };
}

/** An agent whose client loaded `app:billing/flags` ({ on: false }), and that document's ETag. */
async function agentWithFlags(raw: Record<string, unknown> = {}) {
  const { agent, base } = await startAgent(raw);
  await write(agent, 'app:billing/flags', { on: false });
  await until(() => agent.client('billing', 'prod')?.get('flags') !== undefined, 'the client to load');
  const etag = (await get(`${base}/v1/config/app:billing/flags`)).headers.get('etag') as string;
  return { agent, base, etag };
}

async function write(agent: Agent, ref: string, config: JsonObject, overrides: Record<string, JsonObject> = {}) {
  return appendNext(agent.store, { ref, config, overrides, createdBy: 'test' });
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

describe('agent HTTP API', () => {
  it('serves the resolved config of an app and environment, with an ETag and 304', async () => {
    const { agent, base } = await startAgent();
    await write(agent, 'global/database', { host: 'db', port: 5432 }, { prod: { host: 'db-prod' } });
    await write(agent, 'app:billing/database', { pool: 10 });
    await until(() => agent.client('billing', 'prod')?.get('database')?.pool === 10, 'the client to load');

    const res = await get(`${base}/v1/config/app:billing/database`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ host: 'db-prod', port: 5432, pool: 10 });
    const etag = res.headers.get('etag') as string;
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect(res.headers.get('x-summit-version')).toBe('1');
    expect(res.headers.get('x-summit-source')).toBe('primary');

    const staging = await get(`${base}/v1/config/global/database?environment=staging&app=billing`);
    expect(staging.body).toEqual({ host: 'db', port: 5432, pool: 10 });

    const notModified = await get(`${base}/v1/config/app:billing/database`, { 'If-None-Match': etag });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);

    const changed = await write(agent, 'app:billing/database', { pool: 20 });
    await until(() => agent.client('billing', 'prod')?.get('database')?.pool === 20, 'the change');
    const after = await get(`${base}/v1/config/app%3Abilling/database`, { 'If-None-Match': etag });
    expect(after.status).toBe(200);
    expect(after.headers.get('x-summit-version')).toBe(String(changed.version));
    expect(after.headers.get('etag')).not.toBe(etag);
  });

  it('answers unknown refs, bad refs, apps and environments with a coded JSON error', async () => {
    const { agent, base } = await startAgent();
    await write(agent, 'global/only-global', { a: 1 });
    await until(() => agent.client('billing', 'prod')?.get('only-global') !== undefined, 'the client to load');
    const cases: Array<[string, number, string]> = [
      ['/v1/config/global/missing', 404, 'NOT_FOUND'],
      ['/v1/config/app:billing/only-global', 404, 'NOT_FOUND'], // the app scope holds no such document
      ['/v1/config/global/a/../b', 404, 'NOT_FOUND'], // URL normalisation removes the dot segments
      ['/v1/config/global/bad%20id', 400, 'INVALID_CONFIG_REF'],
      ['/v1/config/team:x/db', 400, 'INVALID_CONFIG_REF'],
      ['/v1/config/app:other/db', 404, 'NOT_FOUND'],
      ['/v1/config/global/only-global?environment=qa', 404, 'ENVIRONMENT_NOT_FOUND'],
      ['/v1/config/app:billing/db?app=other', 400, 'CONSTRAINT_VIOLATION'],
      ['/v1/config/global/only-global?index=1&wait=soon', 400, 'CONSTRAINT_VIOLATION'],
      ['/v1/nothing', 404, 'NOT_FOUND'],
    ];
    for (const [path, status, code] of cases) {
      const res = await get(`${base}${path}`);
      expect({ path, status: res.status, code: (res.body as { error: { code: string } }).error.code }).toEqual({
        path,
        status,
        code,
      });
    }
    expect((await get(`${base}/v1/config/global/only-global`)).body).toEqual({ a: 1 });
    const post = await fetch(`${base}/v1/config/global/only-global`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('requires the bearer token on /v1 and /metrics when one is configured, not on the health probes', async () => {
    const { agent, base } = await startAgent({ http: { port: 0, token: 's3cret' } });
    await write(agent, 'global/x', { a: 1 });
    const denied = await get(`${base}/v1/config/global/x`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(denied.body).toMatchObject({ error: { code: 'ACCESS_DENIED' } });
    expect((await get(`${base}/v1/config/global/x`, { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(`${base}/metrics`)).status).toBe(401);
    expect((await get(`${base}/healthz`)).status).toBe(200);
    await until(async () => (await get(`${base}/readyz`)).status === 200, 'ready');
    const ok = await get(`${base}/v1/config/global/x`, { Authorization: 'Bearer s3cret' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ a: 1 });
  });

  it('holds a long-poll until the value changes, and answers at once when the index is already stale', async () => {
    const { agent, base, etag } = await agentWithFlags();

    const polling = get(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=10s`);
    const byVersion = get(`${base}/v1/config/app:billing/flags?index=1&wait=10s`);
    await until(() => pendingPolls(agent) === 2, 'both polls to be held');
    await write(agent, 'app:billing/flags', { on: true });
    const [a, b] = await Promise.all([polling, byVersion]);
    for (const res of [a, b]) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ on: true });
      expect(res.headers.get('etag')).not.toBe(etag);
    }
    expect(b.headers.get('x-summit-version')).toBe('2');
    // A stale index answers at once.
    const stale = await get(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=10s`);
    expect(stale.body).toEqual({ on: true });
    expect(pendingPolls(agent)).toBe(0);
  });

  it('ends a long-poll when the wait ends, and releases it when the client goes away', async () => {
    const { agent, base, etag } = await agentWithFlags();
    const timedOut = await get(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=200ms`);
    expect(timedOut.status).toBe(200);
    expect(timedOut.headers.get('etag')).toBe(etag);

    const controller = new AbortController();
    const abandoned = fetch(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=60s`, {
      signal: controller.signal,
    }).catch((e: unknown) => e);
    await until(() => pendingPolls(agent) === 1, 'the poll to be held');
    controller.abort();
    await abandoned;
    await until(() => pendingPolls(agent) === 0, 'the poll to be released on disconnect');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^summit_agent_long_polls 0$/m);
  });

  it('caps the wait a request asks for', async () => {
    const { base, etag } = await agentWithFlags({ http: { port: 0, maxWaitMs: 1000 } });
    // Asked for 100 minutes; answered (unchanged) once the 1 s cap ends, well inside the test timeout.
    const res = await get(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=100m`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(etag);
  });

  it('answers held long-polls with the current value on shutdown', async () => {
    const { agent, base, etag } = await agentWithFlags();
    const held = get(`${base}/v1/config/app:billing/flags?index=${encodeURIComponent(etag)}&wait=5m`);
    await until(() => pendingPolls(agent) === 1, 'the poll to be held');
    await agent.close();
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ on: false });
  });

  it('explains which layer set every leaf', async () => {
    const { agent, base } = await startAgent();
    await write(agent, 'global/database', { host: 'db', port: 5432 }, { prod: { host: 'db-prod' } });
    await write(agent, 'app:billing/database', { pool: 10 });
    await until(() => agent.client('billing', 'prod')?.get('database')?.pool === 10, 'the client to load');
    const res = await get(`${base}/v1/config/app:billing/database?explain=1`);
    expect(res.body).toMatchObject({
      ref: 'app:billing/database',
      value: { host: 'db-prod', port: 5432, pool: 10 },
      explain: {
        '/host': { value: 'db-prod', layer: { kind: 'override', scope: 'global', environment: 'prod' } },
        '/port': { value: 5432, layer: { kind: 'global' } },
        '/pool': { value: 10, layer: { kind: 'app', scope: 'app:billing', version: 1 } },
      },
      versions: { global: 1, app: 1 },
      reason: 'STATIC',
    });
  });

  it('is not ready while a store is down, and says why', async () => {
    const { agent, tiers, base } = await startAgent();
    await until(async () => (await get(`${base}/readyz`)).status === 200, 'ready');
    tiers.primary.down = true;
    tiers.record.down = true;
    const res = await get(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ ready: false, error: expect.stringMatching(/switched off/) });
    tiers.primary.down = false;
    tiers.record.down = false;
    await until(async () => (await get(`${base}/readyz`)).status === 200, 'ready again');
    expect((await get(`${base}/healthz`)).body).toEqual({ status: 'ok' });
    void agent;
  });

  it('exposes the metrics in Prometheus text format', async () => {
    const { agent, base } = await startAgent();
    await until(async () => (await get(`${base}/readyz`)).status === 200, 'the clients to load');
    // Both writes land after the clients loaded: both are applied changes.
    await write(agent, 'app:billing/x', { a: 1 });
    await until(() => agent.client('billing', 'prod')?.get('x') !== undefined, 'the client to load');
    await write(agent, 'app:billing/x', { a: 2 });
    await until(() => agent.client('billing', 'prod')?.get('x')?.a === 2, 'the change');
    await get(`${base}/v1/config/app:billing/x`);
    agent.metrics.rotations.inc({ result: 'success' });
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const line of [
      /^summit_agent_config_changes_applied_total\{app="billing",environment="prod"\} 2$/m,
      /^summit_agent_propagation_seconds_count\{app="billing",environment="prod"\} 2$/m,
      /^summit_agent_http_read_duration_seconds_count\{status="200"\} 1$/m,
      /^summit_agent_leader 1$/m,
      /^summit_agent_rotations_total\{result="success"\} 1$/m,
      /^summit_agent_tier_up\{tier="primary"\} 1$/m,
      /^# TYPE summit_agent_drift_total counter$/m,
      /^# TYPE summit_agent_reconcile_runs_total counter$/m,
      /^# TYPE summit_agent_failovers_total counter$/m,
      /^# TYPE summit_agent_approvals_total counter$/m,
      /^summit_agent_process_cpu_seconds_total /m,
    ]) {
      expect(text).toMatch(line);
    }
  });

  it('parses waits', () => {
    expect(parseWait('30s')).toBe(30_000);
    expect(parseWait('250ms')).toBe(250);
    expect(parseWait('2m')).toBe(120_000);
    expect(parseWait('5')).toBe(5000);
    expect(() => parseWait('-1s')).toThrow(/wait must look like/);
  });
});

function pendingPolls(agent: Agent): number {
  return agent.status().http?.longPolls ?? -1;
}
