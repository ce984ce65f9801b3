/** Every migration history runs the migration history contract suite: memory, the real PostgreSQL, PGlite. */
import { createMemoryMigrationHistory } from '@summit-config/backends/memory';
import { createPgliteMigrationHistory } from '@summit-config/backends/pglite';
import { createPostgresMigrationHistory } from '@summit-config/backends/postgres';
import { runMigrationHistoryContract } from '@summit-config/test-support/contract/migration-history-contract';
import { services } from '@summit-config/test-support/services';
import { freshSchema, pglite, schemasToDrop } from '@summit-config/test-support/sql';

const schemas = schemasToDrop();

runMigrationHistoryContract('memory', {
  storage: () => {
    const shared = createMemoryMigrationHistory();
    return { open: () => shared };
  },
});

runMigrationHistoryContract('postgres', {
  storage: () => {
    const schema = freshSchema('mig');
    schemas.push(schema);
    return { open: () => createPostgresMigrationHistory({ connectionString: services().databaseUrl, schema }) };
  },
});

runMigrationHistoryContract('pglite', {
  storage: async () => {
    const db = await pglite();
    const schema = freshSchema('mig');
    return { open: () => createPgliteMigrationHistory({ pglite: db, schema }) };
  },
});
