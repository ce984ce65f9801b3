/** Every secret storage of the local provider runs the secret storage contract suite: memory, the real PostgreSQL, PGlite. */
import { createPgliteClient } from '@summit-config/backends/pglite';
import { createMemorySecretStorage, createSqlSecretStorage, sqlFromPgPool } from '@summit-config/secrets';
import { runSecretStorageContract } from '@summit-config/test-support/contract/secret-storage-contract';
import { adminPool, freshSchema, pglite, schemasToDrop } from '@summit-config/test-support/sql';

const schemas = schemasToDrop();

runSecretStorageContract('memory', { kind: 'memory', durable: false, create: () => createMemorySecretStorage() });

runSecretStorageContract('postgres', {
  kind: 'postgres',
  durable: true,
  create: () => {
    const schema = freshSchema('sst');
    schemas.push(schema);
    return createSqlSecretStorage({ sql: sqlFromPgPool(adminPool()), schema });
  },
});

runSecretStorageContract('pglite', {
  kind: 'pglite',
  durable: true,
  create: async () =>
    createSqlSecretStorage({
      sql: createPgliteClient({ pglite: await pglite() }),
      schema: freshSchema('sst'),
      kind: 'pglite',
    }),
});
