/**
 * Seeds the demo of the main job into the embedded store (PGlite in SUMMIT_DATA_DIR, default
 * ./.summit/data, signed by the embedded writer key): the environments `staging`, `production` and `production-eu` (production ones
 * need one approval), and three configs, written through the change service so that the audit trail
 * starts with them. Idempotent: a second run changes nothing.
 */
import { loadAgentConfig, openRuntime } from '@summit-config/agent';
import { createRbac, parseRef } from '@summit-config/core';
import { DEMO_CONFIGS as configs, DEMO_ENVIRONMENTS as environments } from './demo-data.js';

// The agent's own runtime: the embedded store in SUMMIT_DATA_DIR (default ./.summit/data) and its
// writer key (generated on first start beside the data directory), so every seeded version is signed.
const runtime = await openRuntime(await loadAgentConfig(), { role: 'cli' });
const { store } = runtime;
const seed = { id: 'seed', roles: ['seeder'] };
const service = runtime.service(createRbac({ roles: { seeder: ['env:*', 'config:*'] }, bindings: [] }), {
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
  await runtime.close();
}
