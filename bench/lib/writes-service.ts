/**
 * The real write path, for bench/writes.ts: `service.set` (RBAC, schema, signed version, audit event)
 * of `createConfigService` over the same failover chain as `measureChainWrites` (Consul mirror +
 * PostgreSQL record), with `createPostgresGovernance` on the record's schema, `concurrency` writers
 * each setting its own ref. Returns sets per second over `durationMs` (after one warm-up set each).
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

function dropPrefix(prefix: string): Promise<void> {
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

async function dropSchema(schema: string): Promise<void> {
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

/** `service.set` per second at `concurrency`, each writer on its own ref. */
export async function measureServiceWrites(concurrency: number, durationMs: number): Promise<number> {
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
  const versions = new Array<number>(concurrency).fill(0);
  try {
    return await throughput(concurrency, durationMs, async (w) => {
      const v = (versions[w] as number) + 1;
      await service.set(ACTOR, { ref: `global/bench/writer-${w}`, config: benchConfig(w, v) });
      versions[w] = v;
    });
  } finally {
    await service.close();
    await store.close();
    await governance.close();
    await dropPrefix(prefix);
    await dropSchema(schema);
  }
}
