/**
 * The served clients' schema registry (`served-schemas.ts`) over a governance storage, and the HTTP
 * guard of a resolving app in an in-process agent whose configuration skipped the load-time check.
 */
import { createMemoryGovernance } from '@summit-config/backends/memory';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { appendNext, type ConfigError } from '@summit-config/core';
import { until } from '@summit-config/test-support/wait';
import { afterAll, describe, expect, it } from 'vitest';
import { Agent } from '../src/agent.js';
import { type AgentEventMap, AgentEvents } from '../src/events.js';
import { createServedSchemas } from '../src/served-schemas.js';
import { memoryTiers, removeTestSnapshots, testConfig } from './helpers.js';

afterAll(() => removeTestSnapshots());

const pool = (max: number) => ({
  type: 'object',
  properties: { max: { type: 'integer', maximum: max }, idleMs: { type: 'integer', default: 30_000 } },
});

describe('served schemas', () => {
  it('reads every stored version in order at start, and the newer ones on refresh', async () => {
    const governance = createMemoryGovernance();
    await governance.saveSchema('pool', 1, pool(10));
    await governance.saveSchema('pool', 2, pool(20));
    const schemas = createServedSchemas({ governance, events: new AgentEvents(), refreshMs: 0 });
    try {
      await schemas.ready();
      expect(schemas.registry.latestVersion('pool')).toBe(2);
      expect(schemas.registry.defaults('pool')).toEqual({ idleMs: 30_000 });
      expect(schemas.registry.check('pool', { max: 15 })).toEqual([]);

      await governance.saveSchema('pool', 3, pool(12));
      await governance.saveSchema('cache', 1, { type: 'object', properties: { ttl: { default: 60 } } });
      expect(await schemas.refresh()).toBe(2);
      expect(schemas.registry.latestVersion('pool')).toBe(3);
      expect(schemas.registry.check('pool', { max: 15 }).map((i) => i.pointer)).toEqual(['/max']);
      expect(schemas.registry.defaults('cache')).toEqual({ ttl: 60 });
      expect(await schemas.refresh()).toBe(0);
    } finally {
      schemas.close();
      await governance.close();
    }
  });

  it('a stored schema that does not compile is reported and the others still load', async () => {
    const governance = createMemoryGovernance();
    await governance.saveSchema('broken', 1, { type: 'no-such-type' });
    await governance.saveSchema('pool', 1, pool(10));
    const events = new AgentEvents();
    const seen: Array<{ where: string; error: ConfigError }> = [];
    events.on('error', (e) => seen.push(e));
    const schemas = createServedSchemas({ governance, events, refreshMs: 0 });
    try {
      await schemas.ready();
      expect(schemas.registry.latestVersion('pool')).toBe(1);
      expect(schemas.registry.latestVersion('broken')).toBeUndefined();
      expect(seen.map((e) => [e.where, e.error.code])).toEqual([['schema broken v1', 'SCHEMA_VALIDATION']]);
    } finally {
      schemas.close();
      await governance.close();
    }
  });

  it('an unreachable storage: ready() still resolves, the failure is reported, the registry stays empty', async () => {
    // Nothing listens on port 1: a real connection refusal.
    const governance = createPostgresGovernance({
      connectionString: 'postgres://summit@127.0.0.1:1/none',
      connectTimeoutMs: 1000,
    });
    const events = new AgentEvents();
    const seen: Array<{ where: string; error: ConfigError }> = [];
    events.on('error', (e) => seen.push(e));
    const schemas = createServedSchemas({ governance, events, refreshMs: 0 });
    try {
      await schemas.ready();
      expect(seen.map((e) => [e.where, e.error.code])).toEqual([['schemas', 'BACKEND_UNAVAILABLE']]);
      await expect(schemas.refresh()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    } finally {
      schemas.close();
      await governance.close();
    }
  });

  it('refuses a bad refreshMs, naming it', () => {
    expect(() => createServedSchemas({ governance: undefined, events: new AgentEvents(), refreshMs: -1 })).toThrow(
      expect.objectContaining({ code: 'CONSTRAINT_VIOLATION', message: expect.stringMatching(/refreshMs/) }),
    );
  });
});

describe('an in-process agent with a governance storage', () => {
  it('serves the schema defaults and refuses an invalid version: rejected event, metric, the last good kept', async () => {
    const governance = Object.assign(createMemoryGovernance(), { migrate: async () => undefined });
    await governance.saveSchema('pool', 1, pool(10));
    const tiers = memoryTiers();
    const agent = new Agent({
      config: testConfig({ apps: [{ app: 'billing', environment: 'prod' }] }),
      stores: (onEvent) => ({ ...tiers.build(onEvent), governance }),
    });
    const rejected: Array<AgentEventMap['rejected']> = [];
    agent.events.on('rejected', (e) => rejected.push(e));
    try {
      await agent.start();
      const good = await appendNext(agent.store, { ref: 'app:billing/pool', config: { max: 8 }, createdBy: 'test' });
      await until(() => agent.client('billing', 'prod')?.get('pool') !== undefined, 'the client');
      expect(agent.client('billing', 'prod')?.get('pool')).toEqual({ max: 8, idleMs: 30_000 });
      const bad = await appendNext(agent.store, { ref: 'app:billing/pool', config: { max: 80 }, createdBy: 'test' });
      await until(() => rejected.length === 1, 'the rejected event');
      expect(rejected[0]).toMatchObject({
        app: 'billing',
        environment: 'prod',
        ref: 'app:billing/pool',
        code: 'SCHEMA_VALIDATION',
      });
      expect(agent.client('billing', 'prod')?.resolve('pool').versions.app).toBe(good.version);
      const text = await agent.metrics.registry.metrics();
      expect(text).toContain(
        'summit_agent_versions_rejected_total{app="billing",environment="prod",code="SCHEMA_VALIDATION"} 1',
      );
      const acks = (await agent.store.listAcks?.(bad.ref)) ?? [];
      expect(acks.find((a) => a.version === bad.version)).toMatchObject({ status: 'rejected' });
    } finally {
      await agent.close();
      await governance.close();
    }
  });
});

describe('a resolving app in an in-process agent', () => {
  it('over TCP without a token (a configuration built by hand, past the load check): 403 with no-store; a refs app still served', async () => {
    const config = testConfig({
      http: { port: 0, token: 'only-to-pass-the-check' },
      apps: [
        { app: 'billing', environment: 'prod', secrets: 'resolve' },
        { app: 'plain', environment: 'prod' },
      ],
      // A provider that reaches nothing until a reference names it.
      secrets: { providers: { aws: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9' } } },
    });
    config.http.token = undefined;
    const tiers = memoryTiers();
    const agent = new Agent({ config, stores: tiers.build });
    try {
      await agent.start();
      await appendNext(agent.store, { ref: 'global/flags', config: { on: true }, createdBy: 'test' });
      await until(() => agent.client('plain', 'prod')?.get('flags') !== undefined, 'the plain client');
      await until(() => agent.client('billing', 'prod')?.get('flags') !== undefined, 'the resolving client');
      const base = `http://127.0.0.1:${agent.address?.port}`;
      const refused = await fetch(`${base}/v1/config/global/flags?app=billing`);
      expect(refused.status).toBe(403);
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(await refused.json()).toMatchObject({ error: { code: 'ACCESS_DENIED' } });
      const plain = await fetch(`${base}/v1/config/global/flags?app=plain`);
      expect(plain.status).toBe(200);
      expect(await plain.json()).toEqual({ on: true });
    } finally {
      await agent.close();
    }
  });
});
