/** The secrets' `sqlFromPgPool` (statements and transactions over a `pg.Pool`) runs the SQL seam's contract suite. */
import { sqlFromPgPool } from '@summit-config/secrets';
import { runSqlClientContract } from '@summit-config/test-support/contract/sql-client-contract';
import { pgPool } from '@summit-config/test-support/sql';
import type pg from 'pg';

const pools = new Map<object, pg.Pool>();

runSqlClientContract('sqlFromPgPool', {
  create: () => {
    const pool = pgPool(2);
    const db = sqlFromPgPool(pool);
    pools.set(db, pool);
    return db;
  },
  release: async (db) => {
    await pools.get(db)?.end();
    pools.delete(db);
  },
});
