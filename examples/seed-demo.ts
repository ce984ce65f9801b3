/**
 * Seeds the demo configs of the main job into the embedded store (PGlite in SUMMIT_DATA_DIR, default
 * ./.summit/data) when they are not there yet. Idempotent: a second run changes nothing.
 */
import { createPgliteStore } from '@summit-config/backends/pglite';
import { appendNext, parseRef, type VersionInput } from '@summit-config/core';

const dataDir = process.env.SUMMIT_DATA_DIR ?? '.summit/data';
const store = createPgliteStore({ dataDir });
const seeds: VersionInput[] = [
  {
    ref: 'global/database',
    config: { host: 'db.internal', port: 5432, pool: { min: 2, max: 10 }, ssl: true },
    overrides: { production: { pool: { max: 50 } } },
    createdBy: 'seed',
    message: 'company-wide database defaults',
  },
  {
    ref: 'app:demo/database',
    config: { name: 'demo' },
    overrides: { 'production-eu': { host: 'db.eu.internal' } },
    createdBy: 'seed',
    message: 'the demo app database',
  },
  {
    ref: 'app:demo/checkout',
    config: { flow: 'classic', retries: 3 },
    rollout: {
      rules: [{ id: 'new-flow', strategy: 'percentage', bps: 2500, patch: { flow: 'new' } }],
      flags: { 'dark-mode': { variants: { on: true, off: false }, defaultVariant: 'off' } },
    },
    createdBy: 'seed',
    message: 'checkout with a 25% rollout of the new flow',
  },
];
try {
  for (const seed of seeds) {
    const ref = parseRef(seed.ref);
    if (await store.getHead(ref)) continue;
    const written = await appendNext(store, seed, { expectedVersion: 0 });
    console.log(`seeded ${written.ref.scope}/${written.ref.id} v${written.version}`);
  }
} finally {
  await store.close();
}
