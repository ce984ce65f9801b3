/**
 * `pnpm bench resolve`: client.resolve of a config with a percentage rule gated by targeting
 * constraints, on a warm client, against a plain Map.get, measured in the same run.
 */
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, createConfigClient } from '@summit-config/core';
import { nsPerOp, round } from './_measure.js';

const store = createMemoryStore();
await appendNext(store, {
  ref: 'app:bench/checkout',
  config: { flow: 'classic', limits: { rps: 100 } },
  rollout: {
    rules: [
      {
        id: 'new-flow',
        strategy: 'percentage',
        bps: 2500,
        patch: { flow: 'new' },
        when: {
          constraints: [
            { attribute: 'country', operator: 'in', values: ['FR', 'DE', 'NL'] },
            { attribute: 'appVersion', operator: 'semver_gte', value: '2.3.0' },
          ],
        },
      },
    ],
  },
  createdBy: 'bench',
});
const client = await createConfigClient({ store, app: 'bench', environment: 'production' });

// A fixed pool of contexts, built before timing: the benchmark measures resolution, not allocation.
const countries = ['FR', 'DE', 'US', 'NL'];
const contexts = Array.from({ length: 1024 }, (_, i) => ({
  userId: `user-${i}`,
  country: countries[i % countries.length],
  appVersion: i % 3 === 0 ? '2.1.0' : '2.4.1',
}));
const map = new Map<string, unknown>([['checkout', client.get('checkout')]]);
const mask = contexts.length - 1;

const resolve_ns = nsPerOp((i) => client.resolve('checkout', contexts[i & mask]).value);
const map_get_ns = nsPerOp(() => map.get('checkout'));

const served = contexts.filter((c) => (client.resolve('checkout', c).value as { flow: string }).flow === 'new').length;
await client.close();
await store.close();
console.error(`units on the new flow: ${served}/${contexts.length}`);
console.log(
  JSON.stringify({
    bench: 'resolve',
    resolve_ns: round(resolve_ns),
    map_get_ns: round(map_get_ns),
    ratio_vs_map: round(resolve_ns / map_get_ns),
  }),
);
