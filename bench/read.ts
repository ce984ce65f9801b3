/**
 * `pnpm bench read`: client.get of a resolved key against a plain Map.get and node-config's
 * config.get on the same data, measured in the same run.
 */
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, createConfigClient } from '@summit-config/core';
import { nsPerOp, round } from './_measure.js';

const KEYS = 200;
const data: Record<string, Record<string, unknown>> = {};
for (let i = 0; i < KEYS; i++) {
  data[`service${i}`] = { host: `db${i}.internal`, port: 5432 + i, pool: { min: 1, max: 10 + i }, tags: ['a', 'b'] };
}

const store = createMemoryStore();
for (const [id, config] of Object.entries(data)) {
  await appendNext(store, { ref: { scope: 'global', id }, config: config as never, createdBy: 'bench' });
  await appendNext(store, {
    ref: { scope: 'app:bench', id },
    config: { pool: { max: 99 } },
    overrides: { production: { port: 1 } },
    createdBy: 'bench',
  });
}
const client = await createConfigClient({ store, app: 'bench', environment: 'production' });

const map = new Map<string, unknown>();
for (const id of client.ids()) map.set(id, client.get(id));

// node-config reads NODE_CONFIG (JSON) when no config directory exists.
process.env.NODE_CONFIG = JSON.stringify(Object.fromEntries(map));
process.env.NODE_CONFIG_DIR = '/nonexistent-summit-bench';
process.env.SUPPRESS_NO_CONFIG_WARNING = 'y';
const { default: config } = await import('config');

const ids = [...map.keys()];
const n = ids.length;
// Alternate the two measurements (A B A B ...) and keep each one's best median, so that JIT warm-up and
// machine noise do not favour whichever runs first.
let get_ns = Number.POSITIVE_INFINITY;
let map_get_ns = Number.POSITIVE_INFINITY;
for (let round = 0; round < 3; round++) {
  get_ns = Math.min(
    get_ns,
    nsPerOp((i) => client.get(ids[i % n] as string)),
  );
  map_get_ns = Math.min(
    map_get_ns,
    nsPerOp((i) => map.get(ids[i % n] as string)),
  );
}
const node_config_ns = nsPerOp((i) => config.get(ids[i % n] as string), 200_000);

await client.close();
await store.close();
console.log(
  JSON.stringify({
    bench: 'read',
    get_ns: round(get_ns),
    map_get_ns: round(map_get_ns),
    node_config_ns: round(node_config_ns),
    ratio_vs_map: round(get_ns / map_get_ns),
    ratio_vs_node_config: round(node_config_ns / get_ns),
  }),
);
