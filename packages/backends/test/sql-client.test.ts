/** Both clients of the SQL seam run its contract suite: `pg` on the real PostgreSQL, and PGlite. */
import { runSqlClientContract } from '@summit-config/test-support/contract/sql-client-contract';
import { services } from '@summit-config/test-support/services';
import { createPgClient } from '../src/pg-client.js';
import { createPgliteClient } from '../src/pglite-client.js';

runSqlClientContract('pg', {
  create: () =>
    createPgClient({
      config: { connectionString: services().databaseUrl, max: 2 },
      connectTimeoutMs: 5_000,
      statementTimeoutMs: 10_000,
      applicationName: 'summit-sql-contract',
    }),
});

// A PGlite of its own (in memory), closed with the client.
runSqlClientContract('pglite', { create: () => createPgliteClient() });
