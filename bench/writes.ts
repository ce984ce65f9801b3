/**
 * `pnpm bench writes`: versioned writes per second against bare Consul KV PUTs at the same
 * concurrency (1 and 32), measured in the same run. Each pair runs in A-B-B-A order (bare, store,
 * store, bare, each for half the duration) so that drift hits both alike.
 *
 * PostgreSQL numbers join when bench/lib/writes-pg.ts exists (loaded by dynamic import, skipped
 * otherwise). It may export any of:
 *   measurePgWrites(concurrency, durationMs): Promise<number>      -> pg_c1, pg_c32
 *   measurePgliteWrites(concurrency, durationMs): Promise<number>  -> pglite_c1
 *   measureAll(durationMs): Promise<Record<string, number>>        -> merged as is
 * BENCH_DURATION_MS sets the duration of each measurement (default 3000).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { round } from './_measure.js';
import { measureBareKvPuts, measureChainWrites, measureConsulWrites } from './lib/writes-consul.js';
import { measureServiceWrites } from './lib/writes-service.js';

const durationMs = Number(process.env.BENCH_DURATION_MS ?? 3000);

async function pair(concurrency: number): Promise<{ consul: number; chain: number; service: number; bare: number }> {
  const half = Math.max(200, Math.round(durationMs / 2));
  const bare1 = await measureBareKvPuts(concurrency, half);
  const consul1 = await measureConsulWrites(concurrency, half);
  const chain1 = await measureChainWrites(concurrency, half);
  const service1 = await measureServiceWrites(concurrency, half);
  const service2 = await measureServiceWrites(concurrency, half);
  const chain2 = await measureChainWrites(concurrency, half);
  const consul2 = await measureConsulWrites(concurrency, half);
  const bare2 = await measureBareKvPuts(concurrency, half);
  return {
    consul: (consul1 + consul2) / 2,
    chain: (chain1 + chain2) / 2,
    service: (service1 + service2) / 2,
    bare: (bare1 + bare2) / 2,
  };
}

const c1 = await pair(1);
const c32 = await pair(32);
const result: Record<string, unknown> = {
  bench: 'writes',
  consul_c1: round(c1.consul, 1),
  bare_c1: round(c1.bare, 1),
  consul_c32: round(c32.consul, 1),
  bare_c32: round(c32.bare, 1),
  ratio_c1: round(c1.consul / c1.bare),
  ratio_c32: round(c32.consul / c32.bare),
  // The full versioned write (Consul txn, then PostgreSQL transaction, through the failover chain).
  chain_c1: round(c1.chain, 1),
  chain_c32: round(c32.chain, 1),
  chain_ratio_c1: round(c1.chain / c1.bare),
  chain_ratio_c32: round(c32.chain / c32.bare),
  // service.set: RBAC, schema, a signed version and its audit event, over the same chain, with
  // PostgreSQL governance on the record's schema.
  service_c1: round(c1.service, 1),
  service_c32: round(c32.service, 1),
  ratio_service_c1: round(c1.service / c1.bare),
  ratio_service_c32: round(c32.service / c32.bare),
};

interface PgWrites {
  measurePgWrites?: (concurrency: number, durationMs: number) => Promise<number>;
  measurePgliteWrites?: (concurrency: number, durationMs: number) => Promise<number>;
  measureAll?: (durationMs: number) => Promise<Record<string, number>>;
}
const pgModule = new URL('./lib/writes-pg.ts', import.meta.url);
if (existsSync(fileURLToPath(pgModule))) {
  try {
    const pg = (await import(pathToFileURL(fileURLToPath(pgModule)).href)) as PgWrites;
    if (pg.measurePgWrites) {
      result.pg_c1 = round(await pg.measurePgWrites(1, durationMs), 1);
      result.pg_c32 = round(await pg.measurePgWrites(32, durationMs), 1);
    }
    if (pg.measurePgliteWrites) result.pglite_c1 = round(await pg.measurePgliteWrites(1, durationMs), 1);
    if (pg.measureAll) Object.assign(result, await pg.measureAll(durationMs));
  } catch (error) {
    console.error(`writes: PostgreSQL measurements skipped: ${(error as Error).message}`);
  }
}

console.log(JSON.stringify(result));
