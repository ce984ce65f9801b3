/**
 * The demo of the main job: its environments and configs, seeded by `seed-demo.ts` and used by the
 * tests that check what the agent serves for every demo ref (`test/agent/served-parity.test.ts`).
 */
import type { Environment, SetInput } from '@summit-config/core';

/** The demo's environments: production ones need one approval. */
export const DEMO_ENVIRONMENTS: readonly Environment[] = [
  { name: 'staging', production: false },
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1 } },
  { name: 'production-eu', parent: 'production', production: true, approvalPolicy: { requiredApprovals: 1 } },
];
/** The demo's configs, as the change service writes them. */
export const DEMO_CONFIGS: readonly SetInput[] = [
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
