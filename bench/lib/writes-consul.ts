/**
 * Write throughput through the real Consul, for bench/writes.ts:
 * - `measureConsulWrites`: versioned appends through the Consul store (one `/v1/txn` each: doc
 *   check-not-exists + set + head CAS), `concurrency` writers each appending to its own ref.
 * - `measureBareKvPuts`: the anchor, plain `PUT /v1/kv/<key>` of a value of the same size over a
 *   keep-alive `node:http` agent, at the same concurrency.
 * Both return operations per second over `durationMs` (after one warm-up write per writer).
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createConsulStore } from '@summit-config/backends/consul';
import { type ConfigStore, type JsonObject, parseRef } from '@summit-config/core';
import { createVersion, serializeVersion } from '@summit-config/core/internal';
import { throughput } from './throughput.js';

const address = () => process.env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:18500';

/** A realistic small configuration document. */
export function benchConfig(writer: number, n: number): JsonObject {
  return {
    host: `db${writer}.internal`,
    port: 5432,
    pool: { min: 2, max: 20, idleTimeoutMs: 30_000 },
    features: { retries: 3, circuitBreaker: true },
    tags: ['primary', 'eu-west-1'],
    n,
    notes: 'x'.repeat(200),
  };
}

function raw(agent: Agent, method: string, path: string, body?: string): Promise<void> {
  const url = new URL(address());
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${method} ${path}: HTTP ${res.statusCode}`)),
      );
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Appends per second of `concurrency` writers, each to its own ref, through `store`; then closes it and drops `prefix`. */
async function measureStoreWrites(
  store: ConfigStore,
  prefix: string,
  concurrency: number,
  durationMs: number,
): Promise<number> {
  const versions = new Array<number>(concurrency).fill(0);
  try {
    return await throughput(concurrency, durationMs, async (w) => {
      const ref = parseRef(`global/bench/writer-${w}`);
      const v = (versions[w] as number) + 1;
      await store.append(createVersion({ ref, config: benchConfig(w, v), createdBy: 'bench' }, v));
      versions[w] = v;
    });
  } finally {
    await store.close();
    const agent = new Agent({ keepAlive: false });
    await raw(agent, 'DELETE', `/v1/kv/${prefix}?recurse`).catch(() => {});
  }
}

/** Versioned appends per second through the Consul store at `concurrency`. */
export async function measureConsulWrites(concurrency: number, durationMs: number): Promise<number> {
  const prefix = `bench-writes-${randomUUID().slice(0, 8)}/`;
  return measureStoreWrites(createConsulStore({ address: address(), prefix }), prefix, concurrency, durationMs);
}

/**
 * Versioned appends per second through the whole write path of DESIGN.md section 10: the failover
 * chain writing each version to Consul (one txn) and then PostgreSQL (one transaction).
 */
export async function measureChainWrites(concurrency: number, durationMs: number): Promise<number> {
  const tag = randomUUID().slice(0, 8);
  const prefix = `bench-chain-${tag}/`;
  const { createFailoverStore } = await import('@summit-config/backends');
  const { createPostgresStore } = await import('@summit-config/backends/postgres');
  const store = createFailoverStore({
    tiers: [
      createConsulStore({ address: address(), prefix }),
      createPostgresStore({
        connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:15432/summit',
        schema: `bench_chain_${tag}`,
        pool: { max: Math.max(10, concurrency) },
      }),
    ],
  });
  return measureStoreWrites(store, prefix, concurrency, durationMs);
}

/** Plain KV PUTs per second of a same-sized value at `concurrency`. */
export async function measureBareKvPuts(concurrency: number, durationMs: number): Promise<number> {
  const prefix = `bench-bare-${randomUUID().slice(0, 8)}/`;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const versions = new Array<number>(concurrency).fill(0);
  try {
    return await throughput(concurrency, durationMs, async (w) => {
      const v = (versions[w] as number) + 1;
      const doc = createVersion({ ref: `global/bench/writer-${w}`, config: benchConfig(w, v), createdBy: 'bench' }, v);
      await raw(agent, 'PUT', `/v1/kv/${prefix}writer-${w}`, serializeVersion(doc));
      versions[w] = v;
    });
  } finally {
    await raw(agent, 'DELETE', `/v1/kv/${prefix}?recurse`).catch(() => {});
    agent.destroy();
  }
}
