/**
 * The `pg` client's statement options: `prepare` (a named statement, prepared once per connection)
 * and `last` (COMMIT sent right behind a transaction's last statement).
 */
import { services } from '@summit-config/test-support/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgClient } from '../src/pg-client.js';
import { createPgliteClient } from '../src/pglite-client.js';
import type { SqlClient } from '../src/sql-client.js';

const table = `summit_stmt_${process.pid}_${Date.now()}`;

describe.each([
  [
    'pg',
    () =>
      createPgClient({
        config: { connectionString: services().databaseUrl, max: 2 },
        connectTimeoutMs: 5_000,
        statementTimeoutMs: 10_000,
        applicationName: 'summit-statements-test',
      }),
  ],
  ['pglite', () => createPgliteClient()],
] as const)('SQL statement options on %s', (_name, create) => {
  let client: SqlClient;
  beforeAll(async () => {
    client = create();
    await client.query(`CREATE TABLE ${table} (k text PRIMARY KEY, v int NOT NULL)`);
  });
  afterAll(async () => {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {});
    await client.close();
  });

  it('runs a prepared statement again and again, with other parameters', async () => {
    for (let i = 0; i < 5; i++) {
      await client.query(`INSERT INTO ${table} (k, v) VALUES ($1, $2)`, [`p${i}`, i], { prepare: true });
    }
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE k LIKE $1`,
      ['p%'],
      { prepare: true },
    );
    expect(rows[0]?.n).toBe(5);
  });

  it('commits a transaction whose last statement ran with `last`', async () => {
    const out = await client.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} (k, v) VALUES ($1, $2)`, ['a', 1]);
      return tx.query<{ k: string }>(`INSERT INTO ${table} (k, v) VALUES ($1, $2) RETURNING k`, ['b', 2], {
        prepare: true,
        last: true,
      });
    });
    expect(out.rows).toEqual([{ k: 'b' }]);
    const { rows } = await client.query<{ k: string }>(`SELECT k FROM ${table} WHERE k IN ('a', 'b') ORDER BY k`);
    expect(rows.map((r) => r.k)).toEqual(['a', 'b']);
  });

  it('rolls the whole transaction back when the `last` statement fails, and rethrows its error', async () => {
    await expect(
      client.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} (k, v) VALUES ($1, $2)`, ['c', 3]);
        return tx.query(`INSERT INTO ${table} (k, v) VALUES ($1, $2)`, ['a', 4], { last: true });
      }),
    ).rejects.toMatchObject({ code: '23505' });
    const { rows } = await client.query(`SELECT k FROM ${table} WHERE k = 'c'`);
    expect(rows).toEqual([]);
    // The connection is usable (not left inside a transaction).
    const again = await client.transaction((tx) => tx.query<{ one: number }>('SELECT 1 AS one', [], { last: true }));
    expect(again.rows).toEqual([{ one: 1 }]);
  });
});

describe('the pg client refuses a statement after the last one', () => {
  it('CONSTRAINT_VIOLATION, and the transaction stays committed', async () => {
    const client = createPgClient({
      config: { connectionString: services().databaseUrl, max: 1 },
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'summit-statements-test',
    });
    try {
      await expect(
        client.transaction(async (tx) => {
          await tx.query('SELECT 1', [], { last: true });
          await tx.query('SELECT 2');
        }),
      ).rejects.toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
      expect((await client.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.close();
    }
  });
});
