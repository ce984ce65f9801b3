/** Every governance storage runs the governance contract suite: memory, the real PostgreSQL, PGlite. */
import { createMemoryGovernance } from '@summit-config/backends/memory';
import { createPgliteGovernance } from '@summit-config/backends/pglite';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import { runGovernanceContract } from '@summit-config/test-support/contract/governance-contract';
import { services } from '@summit-config/test-support/services';
import { freshSchema, pglite, schemasToDrop } from '@summit-config/test-support/sql';

const schemas = schemasToDrop();

runGovernanceContract('memory', { create: () => createMemoryGovernance() });

runGovernanceContract('postgres', {
  create: () => {
    const schema = freshSchema('gov');
    schemas.push(schema);
    return createPostgresGovernance({ connectionString: services().databaseUrl, schema });
  },
});

runGovernanceContract('pglite', {
  create: async () => createPgliteGovernance({ pglite: await pglite(), schema: freshSchema('gov') }),
});
