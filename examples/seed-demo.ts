/**
 * Seeds the demo of the main job into the embedded store (PGlite in SUMMIT_DATA_DIR, default
 * ./.summit/data): the environments `staging`, `production` and `production-eu` (production ones
 * need one approval), and three configs, written through the change service so that the audit trail
 * starts with them. Idempotent: a second run changes nothing.
 */
import { createFailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPgliteGovernance, createPgliteStore, openPglite } from '@summit-config/backends/pglite';
import { createConfigService, createRbac, type Environment, parseRef, type SetInput } from '@summit-config/core';

const dataDir = process.env.SUMMIT_DATA_DIR ?? '.summit/data';
const environments: Environment[] = [
  { name: 'staging', production: false },
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1 } },
  { name: 'production-eu', parent: 'production', production: true, approvalPolicy: { requiredApprovals: 1 } },
];
const configs: SetInput[] = [
  {
    ref: 'global/database',
    config: { host: 'db.internal', port: 5432, pool: { min: 2, max: 10 }, ssl: true },
    overrides: { production: { pool: { max: 50 } } },
    message: 'company-wide database defaults',
  },
  {
    ref: 'app:demo/database',
    config: { name: 'demo' },
    overrides: { 'production-eu': { host: 'db.eu.internal' } },
    message: 'the demo app database',
  },
  {
    ref: 'app:demo/checkout',
    config: { flow: 'classic', retries: 3 },
    rollout: {
      rules: [{ id: 'new-flow', strategy: 'percentage', bps: 2500, patch: { flow: 'new' } }],
      flags: { 'dark-mode': { variants: { on: true, off: false }, defaultVariant: 'off' } },
    },
    message: 'checkout with a 25% rollout of the new flow',
  },
];

const db = await openPglite(dataDir);
const store = createFailoverStore({ tiers: [createPgliteStore({ pglite: db }), createMemoryStore({ name: 'cache' })] });
const governance = createPgliteGovernance({ pglite: db });
const seed = { id: 'seed', roles: ['seeder'] };
const service = createConfigService({
  store,
  governance,
  rbac: createRbac({ roles: { seeder: ['env:*', 'config:*'] }, bindings: [] }),
  source: 'cli',
});
try {
  // Bootstrap order: the environments exist first (unguarded), the configs are written (their
  // overrides name those environments), then the production environments get their approval policy.
  const known = new Map((await service.listEnvironments(seed)).map((e) => [e.name, e]));
  for (const environment of environments) {
    if (known.has(environment.name)) continue;
    await service.createEnvironment(seed, { name: environment.name, parent: environment.parent, production: false });
  }
  for (const input of configs) {
    if (await store.getHead(parseRef(input.ref))) continue;
    const written = await service.set(seed, input, { expectedVersion: 0 });
    console.log(`seeded ${written.ref.scope}/${written.ref.id} v${written.version}`);
  }
  const now = new Map((await service.listEnvironments(seed)).map((e) => [e.name, e]));
  for (const environment of environments) {
    const current = now.get(environment.name);
    if (current?.production === environment.production && current.parent === environment.parent) continue;
    await service.updateEnvironment(seed, environment);
    console.log(`seeded environment ${environment.name}${environment.production ? ' (production: 1 approval)' : ''}`);
  }
} finally {
  await service.close();
  await governance.close();
  await store.close();
  await db.close();
}
