/**
 * `poolStats()` of the `pg` client and of the PostgreSQL store and governance over it, against the
 * real PostgreSQL: nothing open before the first call, a connection open and idle after one, a
 * caller counted as waiting while the pool's only connection is held (by a statement blocked on an
 * advisory lock this test holds), nothing after close; PGlite has no pool.
 */
import { services } from '@summit-config/test-support/services';
import { until } from '@summit-config/test-support/wait';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPgClient } from '../src/pg-client.js';
import { createPgliteClient } from '../src/pglite-client.js';
import { createPostgresGovernance, createPostgresStore } from '../src/postgres.js';

const schema = `summit_pool_${process.pid}_${Date.now()}`;
/** Run last to first after the tests; the schema is dropped last. */
const cleanup: Array<() => Promise<unknown>> = [
  async () => {
    const admin = new pg.Client({ connectionString: services().databaseUrl });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  },
];
afterAll(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

describe('connection pool stats', () => {
  it('counts open, idle and waiting connections of the pg client', async () => {
    const client = createPgClient({
      config: { connectionString: services().databaseUrl, max: 1 },
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'summit-pool-stats-test',
    });
    cleanup.push(() => client.close());
    expect(client.poolStats?.()).toEqual({ total: 0, idle: 0, waiting: 0, max: 1 });
    await client.query('SELECT 1');
    expect(client.poolStats?.()).toEqual({ total: 1, idle: 1, waiting: 0, max: 1 });

    // Hold an advisory lock elsewhere: the pool's one connection blocks on it, the next caller waits.
    const holder = new pg.Client({ connectionString: services().databaseUrl });
    await holder.connect();
    cleanup.push(() => holder.end());
    const key = Math.floor(Math.random() * 1_000_000_000);
    await holder.query('SELECT pg_advisory_lock($1)', [key]);
    const blocked = client.query('SELECT pg_advisory_lock($1)', [key]);
    const queued = client.query('SELECT 2 AS two');
    await until(() => client.poolStats?.().waiting === 1, 'a caller waiting for the connection');
    expect(client.poolStats?.()).toEqual({ total: 1, idle: 0, waiting: 1, max: 1 });
    await holder.query('SELECT pg_advisory_unlock($1)', [key]);
    await blocked;
    expect((await queued).rows).toEqual([{ two: 2 }]);
    await client.query('SELECT pg_advisory_unlock($1)', [key]);
    expect(client.poolStats?.()).toEqual({ total: 1, idle: 1, waiting: 0, max: 1 });

    await client.close();
    expect(client.poolStats?.()).toMatchObject({ total: 0, waiting: 0 });
  });

  it('the PostgreSQL store and governance report their own pools; PGlite has none', async () => {
    const url = services().databaseUrl;
    const store = createPostgresStore({ connectionString: url, schema });
    cleanup.push(() => store.close());
    const governance = createPostgresGovernance({ connectionString: url, schema });
    cleanup.push(() => governance.close());
    expect(store.poolStats()).toEqual({ total: 0, idle: 0, waiting: 0, max: 10 });
    expect(governance.poolStats()).toEqual({ total: 0, idle: 0, waiting: 0, max: 4 });
    await store.listHeads();
    expect(store.poolStats()?.total).toBeGreaterThan(0);
    expect(store.poolStats()?.waiting).toBe(0);
    expect(governance.poolStats()?.total).toBe(0); // a pool of its own, still unused
    await governance.listEnvironments();
    expect(governance.poolStats()?.total).toBeGreaterThan(0);
    const pglite = createPgliteClient();
    cleanup.push(() => pglite.close());
    expect(pglite.poolStats).toBeUndefined();
  });
});
