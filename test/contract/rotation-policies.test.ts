/**
 * Every rotation policy storage runs the rotation policy storage contract suite: memory, the real
 * PostgreSQL, PGlite. The SQL ones start on a bare schema: the table migrates itself.
 */
import { createPgliteClient } from '@summit-config/backends/pglite';
import { createMemoryRotationPolicies, createSqlRotationPolicies, sqlFromPgPool } from '@summit-config/secrets';
import { runRotationPoliciesContract } from '@summit-config/test-support/contract/rotation-policies-contract';
import { adminPool, freshSchema, pglite, schemasToDrop } from '@summit-config/test-support/sql';

const schemas = schemasToDrop();

runRotationPoliciesContract('memory', { durable: false, create: () => createMemoryRotationPolicies() });

runRotationPoliciesContract('postgres', {
  durable: true,
  create: () => {
    const schema = freshSchema('rpol');
    schemas.push(schema);
    return createSqlRotationPolicies({ sql: sqlFromPgPool(adminPool()), schema });
  },
});

runRotationPoliciesContract('pglite', {
  durable: true,
  create: async () =>
    createSqlRotationPolicies({
      sql: createPgliteClient({ pglite: await pglite() }),
      schema: freshSchema('rpol'),
      kind: 'pglite',
    }),
});
