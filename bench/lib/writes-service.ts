/**
 * The real write path, for bench/writes.ts: `service.set` (RBAC, schema, signed version, audit event)
 * of `createConfigService` over the same failover chain as `measureChainWrites` (Consul mirror +
 * PostgreSQL record), with `createPostgresGovernance` on the record's schema, `concurrency` writers
 * each setting its own app's ref of one id (`app:bench-<w>/settings`) whose schema is registered and
 * which has a global document, so every set validates the view resolved with the global layer.
 * Returns sets per second over `durationMs` (after one warm-up set each).
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createConsulStore } from '@summit-config/backends/consul';
import { type Actor, createConfigService, createRbac, createSigner, generateSigningKey } from '@summit-config/core';
import { throughput } from './throughput.js';
import { benchConfig } from './writes-consul.js';

const address = () => process.env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:18500';
const databaseUrl = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:15432/summit';

const ACTOR: Actor = { id: 'bench', roles: ['config-admin'] };

/** The schema of the benchmark's id: what `benchConfig` writes, with a default. */
const SCHEMA = {
  type: 'object',
  properties: {
    host: { type: 'string' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    pool: {
      type: 'object',
      properties: { min: { type: 'integer' }, max: { type: 'integer' }, idleTimeoutMs: { type: 'integer' } },
    },
    features: { type: 'object' },
    tags: { type: 'array', items: { type: 'string' } },
    n: { type: 'integer' },
    notes: { type: 'string' },
    region: { type: 'string', default: 'eu-west-1' },
  },
};

export function dropPrefix(prefix: string): Promise<void> {
  const url = new URL(address());
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: `/v1/kv/${prefix}?recurse`,
        method: 'DELETE',
        agent: new Agent({ keepAlive: false }),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
      },
    );
    req.on('error', () => resolve());
    req.end();
  });
}

export async function dropSchema(schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: databaseUrl() });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } catch {
    // best effort
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The benchmark's change service over a fresh prefix and schema: the failover chain (Consul mirror
 * + PostgreSQL record), PostgreSQL governance, a signer, the schema of `settings` registered and a
 * global document written. `close` drops the prefix and the schema.
 */
export async function openBenchService(concurrency = 1) {
  const tag = randomUUID().slice(0, 8);
  const prefix = `bench-service-${tag}/`;
  const schema = `bench_service_${tag}`;
  const { createFailoverStore } = await import('@summit-config/backends');
  const { createPostgresStore, createPostgresGovernance } = await import('@summit-config/backends/postgres');
  const store = createFailoverStore({
    tiers: [
      createConsulStore({ address: address(), prefix }),
      createPostgresStore({ connectionString: databaseUrl(), schema, pool: { max: Math.max(10, concurrency) } }),
    ],
  });
  const governance = createPostgresGovernance({
    connectionString: databaseUrl(),
    schema,
    pool: { max: Math.max(4, concurrency) },
  });
  const service = createConfigService({
    store,
    governance,
    rbac: createRbac({}),
    signer: createSigner(generateSigningKey().privateKeyPem),
    environments: [
      { name: 'dev', production: false },
      { name: 'staging', production: false, parent: 'dev' },
    ],
  });
  const close = async () => {
    await service.close();
    await store.close();
    await governance.close();
    await dropPrefix(prefix);
    await dropSchema(schema);
  };
  try {
    await service.registerSchema(ACTOR, 'settings', SCHEMA);
    await service.set(ACTOR, { ref: 'global/settings', config: { port: 5432, pool: { min: 1, max: 10 } } });
  } catch (error) {
    await close();
    throw error;
  }
  return { service, actor: ACTOR, prefix, schema, close };
}

/** `service.set` per second at `concurrency`, each writer on its own ref. */
export async function measureServiceWrites(concurrency: number, durationMs: number): Promise<number> {
  const { service, close } = await openBenchService(concurrency);
  const versions = new Array<number>(concurrency).fill(0);
  try {
    return await throughput(concurrency, durationMs, async (w) => {
      const v = (versions[w] as number) + 1;
      await service.set(ACTOR, { ref: `app:bench-${w}/settings`, config: benchConfig(w, v) });
      versions[w] = v;
    });
  } finally {
    await close();
  }
}
