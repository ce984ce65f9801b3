/**
 * Versioned-write throughput of the PostgreSQL store (real server through `pg`) and of the same
 * store on embedded PGlite. Each of `concurrency` workers appends to its own ref in a loop (one
 * transaction per append: head lock, version insert, head move, audit row, NOTIFY), so the numbers
 * measure the write path, not CAS conflicts. Used by bench/writes.ts and bench/writes-pg.ts.
 */
import { randomBytes } from 'node:crypto';
import { createPgliteStore } from '@summit-config/backends/pglite';
import { createPostgresStore, type PostgresStore } from '@summit-config/backends/postgres';
import { createVersion } from '@summit-config/core/internal';
import pg from 'pg';
import { throughput } from './throughput.js';

const databaseUrl = () => process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:15432/summit';

/** Appends per second that `store` sustains with `concurrency` writers for `durationMs`. */
export async function measureStoreWrites(
  store: PostgresStore,
  concurrency: number,
  durationMs: number,
): Promise<number> {
  const pad = 'x'.repeat(200);
  const next = Array.from({ length: concurrency }, () => 1);
  // The first append of each writer warms up: migrations, connections, prepared plans.
  return throughput(concurrency, durationMs, (worker) => {
    const version = next[worker] as number;
    next[worker] = version + 1;
    return store.append(
      createVersion({ ref: `global/bench/w${worker}`, config: { version, pad }, createdBy: 'bench' }, version),
    );
  });
}

/** Appends per second on the real PostgreSQL (DATABASE_URL), in a fresh schema dropped afterwards. */
export async function measurePgWrites(concurrency: number, durationMs: number): Promise<number> {
  const schema = `summit_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const store = createPostgresStore({
    connectionString: databaseUrl(),
    schema,
    pool: { max: Math.min(Math.max(concurrency, 1), 50) },
  });
  try {
    return await measureStoreWrites(store, concurrency, durationMs);
  } finally {
    await store.close();
    const admin = new pg.Client({ connectionString: databaseUrl() });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
  }
}

/** Appends per second on an in-memory PGlite (one connection: writers queue behind each other). */
export async function measurePgliteWrites(concurrency: number, durationMs: number): Promise<number> {
  const store = createPgliteStore();
  try {
    return await measureStoreWrites(store, concurrency, durationMs);
  } finally {
    await store.close();
  }
}
