/**
 * The SQL token store runs the token store contract suite on the real PostgreSQL (a fresh schema
 * per test; the peer is another pool, as another process) and on PGlite; then what only SQL has:
 * the table it creates (only hashes stored), concurrent first use, a revocation made by raw SQL.
 */
import { createPgliteClient } from '@summit-config/backends/pglite';
import { sqlFromPgPool } from '@summit-config/secrets';
import { runTokenStoreContract } from '@summit-config/test-support/contract/token-store-contract';
import { adminPool, adminQuery, freshSchema, pglite, pgPool, q, schemasToDrop } from '@summit-config/test-support/sql';
import type pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqlTokenStore, hashToken, type TokenStore } from '../../src/tokens/index.js';

const schemas = schemasToDrop();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

/** A pool of its own: another process's connections. */
function ownPool(): pg.Pool {
  const pool = pgPool(4);
  pools.push(pool);
  return pool;
}

const schemaOf = new WeakMap<TokenStore, string>();

runTokenStoreContract('postgres', {
  durable: true,
  create: (now) => {
    const schema = freshSchema('tok');
    schemas.push(schema);
    const store = createSqlTokenStore({ sql: sqlFromPgPool(adminPool()), schema, now });
    schemaOf.set(store, schema);
    return store;
  },
  peer: (store, now) =>
    createSqlTokenStore({ sql: sqlFromPgPool(ownPool()), schema: schemaOf.get(store) as string, now }),
});

runTokenStoreContract('pglite', {
  durable: true,
  create: async (now) => {
    const schema = freshSchema('tok');
    const store = createSqlTokenStore({
      sql: createPgliteClient({ pglite: await pglite() }),
      schema,
      now,
      kind: 'pglite',
    });
    schemaOf.set(store, schema);
    return store;
  },
  peer: async (store, now) =>
    createSqlTokenStore({
      sql: createPgliteClient({ pglite: await pglite() }),
      schema: schemaOf.get(store) as string,
      now,
      kind: 'pglite',
    }),
});

describe('sql token store on the real PostgreSQL', () => {
  it('stores only the SHA-256 of the token, in hex, never the token or its secret', async () => {
    const schema = freshSchema('tok');
    schemas.push(schema);
    const store = createSqlTokenStore({ sql: sqlFromPgPool(adminPool()), schema });
    const { token, record } = await store.create({ name: 'ci', owner: 'svc:ci', roles: ['config-reader'] });
    const rows = await adminQuery(`SELECT * FROM ${q(schema)}.server_tokens`);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).toBe(hashToken(token));
    const text = JSON.stringify(rows);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(-43));
    expect(rows[0]?.id).toBe(record.id);
    await store.close();
  });

  it('creates its table once when many processes start at once on a bare schema', async () => {
    const schema = freshSchema('tok');
    schemas.push(schema);
    const stores = Array.from({ length: 6 }, () => createSqlTokenStore({ sql: sqlFromPgPool(ownPool()), schema }));
    const created = await Promise.all(
      stores.map((s, i) => s.create({ name: `p${i}`, owner: 'svc:ci', roles: ['config-reader'] })),
    );
    expect(new Set(created.map((c) => c.record.id)).size).toBe(6);
    expect((await stores[0]?.list())?.length).toBe(6);
    // A second start finds the table complete.
    const again = createSqlTokenStore({ sql: sqlFromPgPool(ownPool()), schema });
    expect(await again.list()).toHaveLength(6);
    await Promise.all([...stores, again].map((s) => s.close()));
  });

  it('a revocation written by anyone (raw SQL) holds from the next verify: nothing is cached', async () => {
    const schema = freshSchema('tok');
    schemas.push(schema);
    const store = createSqlTokenStore({ sql: sqlFromPgPool(adminPool()), schema });
    const { token, record } = await store.create({ name: 'ci', owner: 'svc:ci', roles: ['config-reader'] });
    expect(await store.verify(token)).toBeDefined();
    await adminQuery(`UPDATE ${q(schema)}.server_tokens SET revoked_at = now(), revoked_by = 'dba' WHERE id = $1`, [
      record.id,
    ]);
    expect(await store.verify(token)).toBeUndefined();
    await store.close();
  });

  it('a database it cannot reach is BACKEND_UNAVAILABLE, never "unknown token"', async () => {
    const pool = pgPool(1);
    await pool.end();
    const store = createSqlTokenStore({ sql: sqlFromPgPool(pool), schema: freshSchema('tok') });
    const error = await store.verify(`sct_${'a'.repeat(12)}_${'A'.repeat(43)}`).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('refuses bad options with CONSTRAINT_VIOLATION naming the option', () => {
    expect(() => createSqlTokenStore({ sql: {} as never })).toThrow(/option sql/);
    expect(() => createSqlTokenStore({ sql: sqlFromPgPool(adminPool()), schema: '' })).toThrow(/option schema/);
    expect(() => createSqlTokenStore({ sql: sqlFromPgPool(adminPool()), kind: 'mysql' as never })).toThrow(
      /option kind/,
    );
  });
});
