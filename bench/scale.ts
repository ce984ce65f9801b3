/**
 * `pnpm bench scale`: 10 000 refs and 1 000 watch callbacks in one process, over real Consul and
 * PostgreSQL through the failover chain.
 *
 *   cold_start_ms       createConfigClient until ready (heads listed, 10 000 documents fetched, resolved)
 *   heap_mb             V8 heap used by the process once ready, after a GC when available
 *   wakeups_per_change  blocking-query wake-ups of the client's watches per appended change
 *   fetches_per_change  document fetches the client makes per appended change
 *   acks_requests_at_start    ack/ackMany calls the client makes on the chain at start (every ref acknowledged)
 *   consul_requests_at_start  HTTP requests to Consul from createConfigClient until every ref is acknowledged
 *   pg_queries_at_start       PostgreSQL queries over the same span
 *   cpu_ms_per_change   process CPU per appended change, the client keeping a snapshot file
 */
import { randomBytes } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { createFailoverStore } from '@summit-config/backends';
import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, type ConfigStore, createConfigClient, parseRef } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import pg from 'pg';
import { round } from './_measure.js';

const REFS = 10_000;
const CALLBACKS = 1_000;
const CHANGES = 20;
const consulAddr = process.env.CONSUL_HTTP_ADDR;
const databaseUrl = process.env.DATABASE_URL;
if (!consulAddr || !databaseUrl) throw new Error('run through `pnpm bench scale` (it starts the services)');
const tag = randomBytes(4).toString('hex');
const prefix = `bench-scale-${tag}/`;
const schema = `bench_scale_${tag}`;

function chain() {
  const consul = createConsulStore({ address: consulAddr, prefix });
  const store = createFailoverStore({
    tiers: [
      consul,
      createPostgresStore({ connectionString: databaseUrl, schema }),
      createMemoryStore({ name: 'cache' }),
    ],
  });
  return { consul, store };
}

// Seed: 10 000 refs of the app, written through the chain (Consul txn + PostgreSQL transaction each).
const seeding = chain();
const ids = Array.from({ length: REFS }, (_, i) => `svc/${String(i).padStart(5, '0')}/settings`);
const seedStart = Date.now();
let cursor = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    while (cursor < ids.length) {
      const id = ids[cursor++] as string;
      await seeding.store.append(
        createVersion(
          {
            ref: { scope: 'app:scale', id },
            config: { id, pool: { min: 1, max: 10 }, flags: ['a', 'b'] },
            createdBy: 'bench',
          },
          1,
        ),
      );
    }
  }),
);
console.error(`seeded ${REFS} refs in ${Date.now() - seedStart} ms`);

// The process under test: a fresh chain and a client for the app.
const { consul, store } = chain();
let fetches = 0;
const acks = { requests: 0, docs: 0, inFlight: 0 };
const counting: ConfigStore = new Proxy(store, {
  get(target, prop, receiver) {
    const value = Reflect.get(target, prop, receiver);
    if (prop === 'getVersion' || prop === 'getVersionDetailed') {
      return (...args: unknown[]) => {
        fetches++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    }
    if ((prop === 'ack' || prop === 'ackMany') && typeof value === 'function') {
      return async (arg: unknown) => {
        acks.requests++;
        acks.docs += Array.isArray(arg) ? arg.length : 1;
        acks.inFlight++;
        try {
          return await (value as (a: unknown) => Promise<void>).call(target, arg);
        } finally {
          acks.inFlight--;
        }
      };
    }
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
// Requests at start: Consul over node:http, PostgreSQL through pg's Client#query.
let consulRequests = 0;
subscribe('http.client.request.start', () => consulRequests++);
let pgQueries = 0;
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  pgQueries++;
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pgQuery;
const snapshotDir = await mkdtemp(join(tmpdir(), 'bench-scale-'));
globalThis.gc?.();
const coldStart = performance.now();
const [consul0, pg0] = [consulRequests, pgQueries];
const client = await createConfigClient({
  store: counting,
  app: 'scale',
  environment: 'production',
  snapshotFile: join(snapshotDir, 'scale.snapshot.json'),
});
const coldStartMs = performance.now() - coldStart;
if (client.ids().length !== REFS) throw new Error(`client loaded ${client.ids().length} ids, expected ${REFS}`);
// The start's acknowledgements are sent in the background: wait for every ref's.
const acksDeadline = Date.now() + 60_000;
while ((acks.docs < REFS || acks.inFlight > 0) && Date.now() < acksDeadline) await new Promise((r) => setTimeout(r, 5));
if (acks.docs < REFS) throw new Error(`only ${acks.docs} of ${REFS} refs acknowledged at start`);
const acksRequestsAtStart = acks.requests;
const consulRequestsAtStart = consulRequests - consul0;
const pgQueriesAtStart = pgQueries - pg0;

let calls = 0;
for (let i = 0; i < CALLBACKS; i++) client.watch(`svc/${String(i * 10).padStart(5, '0')}/*`, () => calls++);
globalThis.gc?.();
const heapMb = getHeapStatistics().used_heap_size / 2 ** 20;

// Changes: one append each, then wait for the callback; count wake-ups and fetches in between.
const wakeups = () => Object.values((consul as ConsulStore).watchStats()).reduce((sum, s) => sum + s.wakeups, 0);
await new Promise((r) => setTimeout(r, 500));
const writer = chain();
const w0 = wakeups();
const f0 = fetches;
const cpu0 = process.cpuUsage();
for (let c = 0; c < CHANGES; c++) {
  const id = ids[(c * 10) % REFS] as string; // each has a watcher
  const before = calls;
  await appendNext(writer.store, { ref: parseRef(`app:scale/${id}`), config: { id, changed: c }, createdBy: 'bench' });
  const deadline = Date.now() + 5000;
  while (calls === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  if (calls === before) throw new Error(`change ${c} never reached its callback`);
}
// Let late wake-ups land before counting.
await new Promise((r) => setTimeout(r, 300));
const wakeupsPerChange = (wakeups() - w0) / CHANGES;
const fetchesPerChange = (fetches - f0) / CHANGES;
const cpu = process.cpuUsage(cpu0);
const cpuMsPerChange = (cpu.user + cpu.system) / 1000 / CHANGES;

await client.close();
await store.close();
await writer.store.close();
await seeding.store.close();
await rm(snapshotDir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: 'scale',
    refs: REFS,
    callbacks: CALLBACKS,
    cold_start_ms: round(coldStartMs, 0),
    heap_mb: round(heapMb, 1),
    wakeups_per_change: round(wakeupsPerChange),
    fetches_per_change: round(fetchesPerChange),
    acks_requests_at_start: acksRequestsAtStart,
    consul_requests_at_start: consulRequestsAtStart,
    pg_queries_at_start: pgQueriesAtStart,
    cpu_ms_per_change: round(cpuMsPerChange, 1),
  }),
);
