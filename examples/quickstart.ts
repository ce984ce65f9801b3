/**
 * Quickstart on the embedded default: versioned writes, a watch callback, a diff of two versions and
 * a rollback, on the in-memory store (no Consul or PostgreSQL needed).
 *
 *   npm start
 */
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, isConfigError, parseRef, rollbackTo } from '@summit-config/core';

const store = createMemoryStore();
const ref = parseRef('app:billing/database');
const actor = 'quickstart';

const seen: string[] = [];
const unwatch = store.watch(
  (change) => {
    seen.push(`${change.key}@v${change.version}`);
    console.log(`  watch: ${change.key} is now v${change.version} (checksum ${change.checksum.slice(0, 12)}…)`);
  },
  { scope: 'app:billing' },
);

console.log('1. three versioned writes');
await appendNext(store, {
  ref,
  config: { host: 'db.internal', port: 5432, pool: { max: 10 } },
  createdBy: actor,
  message: 'initial',
});
await appendNext(store, {
  ref,
  config: { host: 'db.internal', port: 5432, pool: { max: 20 } },
  createdBy: actor,
  message: 'more connections',
});
const v3 = await appendNext(store, {
  ref,
  config: { host: 'db-new.internal', port: 6432, pool: { max: 20 } },
  createdBy: actor,
  message: 'move to pgbouncer',
});
await new Promise((r) => setImmediate(r));

console.log('2. a stale writer loses the compare-and-set');
try {
  await appendNext(store, { ref, config: { host: 'oops' }, createdBy: 'stale-writer' }, { expectedVersion: 1 });
} catch (error) {
  if (!isConfigError(error, 'VERSION_CONFLICT')) throw error;
  console.log(`  refused: ${error.code}: ${error.message}`);
}

console.log('3. rollback to v2 (appended as v4; history only moves forward)');
const v4 = await rollbackTo(store, ref, 2, { createdBy: actor, expectedVersion: v3.version });
await new Promise((r) => setImmediate(r));
console.log(`  v${v4.version}: ${JSON.stringify(v4.config)} — "${v4.message}"`);

console.log('4. history');
for (const n of await store.listVersions(ref)) {
  const v = await store.getVersion(ref, n);
  console.log(`  v${n}  ${v?.checksum.slice(0, 12)}…  ${v?.createdBy.padEnd(10)} ${v?.message}`);
}

unwatch();
await store.close();
if (seen.length !== 4) throw new Error(`expected 4 watch events, saw ${seen.length}`);
console.log('done: 4 versions written, 4 watch callbacks, 1 conflict refused, 1 rollback');
