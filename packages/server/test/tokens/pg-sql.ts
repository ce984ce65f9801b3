/**
 * Core's `SqlDatabase` over a `pg.Pool`, for these tests: what `sqlFromPgPool` of
 * `@summit-config/secrets` does (this package does not depend on secrets).
 */
import type { SqlDatabase, SqlResult } from '@summit-config/core/internal';
import type pg from 'pg';

function result<R>(r: pg.QueryResult): SqlResult<R> {
  return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
}

export function sqlOnPool(pool: pg.Pool): SqlDatabase {
  return {
    async query<R>(text: string, params?: readonly unknown[]) {
      return result<R>(await pool.query(text, params as unknown[] | undefined));
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn({
          query: async <R>(text: string, params?: readonly unknown[]) =>
            result<R>(await client.query(text, params as unknown[] | undefined)),
        });
        await client.query('COMMIT');
        client.release();
        return out;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release(true);
        throw error;
      }
    },
  };
}
