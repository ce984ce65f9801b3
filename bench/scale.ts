/**
 * `pnpm bench scale`: what one change costs as the number of refs grows, 100 against 10 000 refs of
 * one app in the same run, over real Consul and PostgreSQL through the failover chain; then an agent
 * process serving the 10 000-ref app through 10 000 changes.
 *
 * Per size (fields suffixed `_100` and `_10k`):
 *   cold_start_ms       createConfigClient until ready (heads listed, every document fetched, resolved)
 *   heap_mb             V8 heap used by the process once ready, after a GC
 *   acks_requests_at_start    ack/ackMany calls the client makes on the chain at start (every ref acknowledged)
 *   consul_requests_at_start  HTTP requests to Consul from createConfigClient until every ref is acknowledged
 *   pg_queries_at_start       PostgreSQL queries over the same span
 *   wakeups_per_change  wake-ups of the client's Consul watches per appended change
 *   fetches_per_change  document fetches the client makes per change (0: the document came with the change)
 *   bytes_per_change    bytes Consul sent the client's watches per change
 *   p50_ms, p99_ms      append (another chain in this process) to the client's watch callback
 *   cpu_ms_per_change   process CPU per change (writer and client, the client keeping a snapshot file)
 * Ratios: `ratio_p99_10k_100` (the goal: at most 1.5), `ratio_bytes_10k_100`.
 *
 * Agent (a forked `runAgent` process on the 10 000-ref app; 10 000 changes written at concurrency 8):
 *   agent_rss_mb_warm   its RSS after the first 1 000 changes (after a GC, as every sample)
 *   agent_rss_mb_end    its RSS after all 10 000 (and every change served)
 *   agent_rss_mb_min, agent_rss_mb_max   over the samples taken every 1 000 changes and at the end
 *   agent_rss_growth    end / warm; agent_rss_max_growth: max / warm (the goal: within 1.10)
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { createFailoverStore } from '@summit-config/backends';
import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { type ConfigStore, createConfigClient, parseRef } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import pg from 'pg';
import { percentile, round } from './_measure.js';
import { dropPrefix, dropSchema } from './lib/writes-service.js';

/** Watch callbacks, the same number at both sizes (one ref in 100 has one at 10 000 refs, every ref at 100). */
const CALLBACKS = 100;
const CHANGES = Number(process.env.BENCH_CHANGES ?? 500);
const WARMUP = 20;
const AGENT_CHANGES = Number(process.env.BENCH_AGENT_CHANGES ?? 10_000);
/** The large size (10 000; smaller only to try the benchmark quickly). */
const LARGE = Number(process.env.BENCH_REFS_LARGE ?? 10_000);
const consulAddr = process.env.CONSUL_HTTP_ADDR;
const databaseUrl = process.env.DATABASE_URL;
if (!consulAddr || !databaseUrl) throw new Error('run through `pnpm bench scale` (it starts the services)');
const here = dirname(fileURLToPath(import.meta.url));
const now = () => performance.timeOrigin + performance.now();

function chain(prefix: string, schema: string) {
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

const idOf = (i: number) => `svc/${String(i).padStart(5, '0')}/settings`;

/** Writes `count` refs of app `scale` through a chain (Consul txn + PostgreSQL transaction each), 32 at a time. */
async function seed(store: ConfigStore, count: number): Promise<void> {
  let cursor = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (cursor < count) {
        const id = idOf(cursor++);
        await store.append(
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
}

// Requests at start: Consul over node:http, PostgreSQL through pg's Client#query.
let consulRequests = 0;
subscribe('http.client.request.start', () => consulRequests++);
let pgQueries = 0;
const pgQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  pgQueries++;
  return (pgQuery as (...a: unknown[]) => unknown).apply(this, args);
} as typeof pgQuery;

async function scenario(refs: number) {
  const tag = randomBytes(4).toString('hex');
  const prefix = `bench-scale-${tag}/`;
  const schema = `bench_scale_${tag}`;
  const seeding = chain(prefix, schema);
  const seedStart = Date.now();
  await seed(seeding.store, refs);
  console.error(`seeded ${refs} refs in ${Date.now() - seedStart} ms`);

  // The process under test: a fresh chain and a client for the app.
  const { consul, store } = chain(prefix, schema);
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
  if (client.ids().length !== refs) throw new Error(`client loaded ${client.ids().length} ids, expected ${refs}`);
  // The start's acknowledgements are sent in the background: wait for every ref's.
  const acksDeadline = Date.now() + 60_000;
  while ((acks.docs < refs || acks.inFlight > 0) && Date.now() < acksDeadline)
    await new Promise((r) => setTimeout(r, 5));
  if (acks.docs < refs) throw new Error(`only ${acks.docs} of ${refs} refs acknowledged at start`);
  const acksRequestsAtStart = acks.requests;
  const consulRequestsAtStart = consulRequests - consul0;
  const pgQueriesAtStart = pgQueries - pg0;

  // Callbacks spread over the refs; each change below hits a ref with one.
  const step = Math.max(1, Math.floor(refs / CALLBACKS));
  const watched: string[] = [];
  const arrivals = new Map<string, (at: number) => void>();
  for (let i = 0; i < refs; i += step) {
    const id = idOf(i);
    watched.push(id);
    client.watch(id, (c) => arrivals.get(`${c.id}@${c.version}`)?.(now()));
  }
  globalThis.gc?.();
  const heapMb = getHeapStatistics().used_heap_size / 2 ** 20;

  const watchSum = (field: 'wakeups' | 'bytes') =>
    Object.values((consul as ConsulStore).watchStats()).reduce((sum, s) => sum + s[field], 0);
  await new Promise((r) => setTimeout(r, 500));
  const writer = chain(prefix, schema);
  const versions = new Map<string, number>();
  /** One change to a watched ref, appended by the writer; resolves with append-to-callback ms. */
  const change = async (c: number): Promise<number> => {
    const id = watched[(c * 7) % watched.length] as string;
    const version = (versions.get(id) ?? 1) + 1;
    versions.set(id, version);
    const arrived = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`change ${c} (${id} v${version}) never reached its callback`)),
        10_000,
      );
      arrivals.set(`${id}@${version}`, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
    const sent = now();
    await writer.store.append(
      createVersion({ ref: parseRef(`app:scale/${id}`), config: { id, changed: c }, createdBy: 'bench' }, version),
    );
    const latency = (await arrived) - sent;
    arrivals.delete(`${id}@${version}`);
    return latency;
  };
  // Warm-up changes (not counted), as in the propagation benchmark.
  for (let c = 0; c < WARMUP; c++) await change(c);
  const w0 = watchSum('wakeups');
  const b0 = watchSum('bytes');
  const f0 = fetches;
  const cpu0 = process.cpuUsage();
  const latencies: number[] = [];
  for (let c = WARMUP; c < WARMUP + CHANGES; c++) latencies.push(await change(c));
  // Let late wake-ups land before counting.
  await new Promise((r) => setTimeout(r, 300));
  const cpu = process.cpuUsage(cpu0);
  const out = {
    cold_start_ms: round(coldStartMs, 0),
    heap_mb: round(heapMb, 1),
    acks_requests_at_start: acksRequestsAtStart,
    consul_requests_at_start: consulRequestsAtStart,
    pg_queries_at_start: pgQueriesAtStart,
    wakeups_per_change: round((watchSum('wakeups') - w0) / CHANGES),
    fetches_per_change: round((fetches - f0) / CHANGES),
    bytes_per_change: round((watchSum('bytes') - b0) / CHANGES, 0),
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    cpu_ms_per_change: round((cpu.user + cpu.system) / 1000 / CHANGES, 1),
  };
  await client.close();
  await store.close();
  await writer.store.close();
  await rm(snapshotDir, { recursive: true, force: true });
  return { out, prefix, schema, seeding };
}

/** A forked agent serving app `scale` of `prefix`/`schema`; reports its RSS and the versions it serves. */
async function agentRss(prefix: string, schema: string, store: ConfigStore, refs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'bench-scale-agent-'));
  const configFile = join(dir, 'agent.yaml');
  await writeFile(configFile, 'apps:\n  - app: scale\n    environment: production\n');
  const child = fork(join(here, 'lib', 'scale-agent-child.ts'), [configFile], {
    cwd: join(here, '..'),
    execArgv: ['--expose-gc', '--import', 'tsx', '--conditions=source'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: {
      ...process.env,
      SUMMIT_CONSUL_PREFIX: prefix,
      SUMMIT_PG_SCHEMA: schema,
      SUMMIT_AGENT_PORT: '0',
      SUMMIT_SNAPSHOT_DIR: join(dir, 'snapshots'),
      SUMMIT_DATA_DIR: join(dir, 'data'),
    },
  });
  let lastRss = 0;
  let served = 0;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`agent child exited (${code})`)));
    child.on('message', (m: { ready?: boolean; rss?: number; served?: number }) => {
      if (m.rss !== undefined) lastRss = m.rss;
      if (m.served !== undefined) served = m.served;
      if (m.ready) resolve();
    });
  });
  await ready;
  const sample = async (): Promise<number> => {
    globalThis.gc?.();
    child.send({ sample: true });
    const before = lastRss;
    const deadline = Date.now() + 5000;
    while (lastRss === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return lastRss;
  };
  // 10 000 changes at concurrency 8, spread over the refs; the child counts the versions it applies.
  let next = 0;
  const write = async () => {
    while (next < AGENT_CHANGES) {
      const c = next++;
      const id = idOf((c * 7919) % refs);
      const ref = parseRef(`app:scale/${id}`);
      const head = await store.getHead(ref);
      await store.append(
        createVersion({ ref, config: { id, agent: c }, createdBy: 'bench' }, (head?.version ?? 0) + 1),
      );
    }
  };
  const started = Date.now();
  const writers = Array.from({ length: 8 }, write);
  const done = Promise.all(writers);
  // RSS after every 1 000 changes written, the first one the warm baseline.
  const samples: number[] = [];
  for (let mark = 1000; mark < AGENT_CHANGES; mark += 1000) {
    while (next < mark) await new Promise((r) => setTimeout(r, 20));
    samples.push(await sample());
  }
  await done;
  const warm = samples[0] ?? (await sample());
  // Every change served (the child counts watch callbacks), then the settled RSS.
  const deadline = Date.now() + 60_000;
  child.send({ count: true });
  while (served < AGENT_CHANGES && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    child.send({ count: true });
  }
  const end = await sample();
  console.error(`agent: ${AGENT_CHANGES} changes in ${Date.now() - started} ms, ${served} served`);
  child.disconnect();
  await new Promise((r) => child.once('exit', r));
  await rm(dir, { recursive: true, force: true });
  return {
    agent_changes: AGENT_CHANGES,
    agent_changes_served: served,
    agent_rss_mb_warm: round(warm / 2 ** 20, 1),
    agent_rss_mb_end: round(end / 2 ** 20, 1),
    agent_rss_mb_min: round(Math.min(...samples, end) / 2 ** 20, 1),
    agent_rss_mb_max: round(Math.max(...samples, end) / 2 ** 20, 1),
    agent_rss_growth: round(end / warm),
    agent_rss_max_growth: round(Math.max(...samples, end) / warm),
  };
}

const small = await scenario(100);
await small.seeding.store.close();
const large = await scenario(LARGE);
const agent = await agentRss(large.prefix, large.schema, large.seeding.store, LARGE);
await large.seeding.store.close();
for (const { prefix, schema } of [small, large]) {
  await dropPrefix(prefix);
  await dropSchema(schema);
}

const suffixed = (o: Record<string, number>, suffix: string) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [`${k}_${suffix}`, v]));
console.log(
  JSON.stringify({
    bench: 'scale',
    refs: [100, LARGE],
    callbacks: CALLBACKS,
    changes: CHANGES,
    ...suffixed(small.out, '100'),
    ...suffixed(large.out, '10k'),
    ratio_p99_10k_100: round(large.out.p99_ms / small.out.p99_ms),
    ratio_bytes_10k_100: round(large.out.bytes_per_change / small.out.bytes_per_change),
    ...agent,
  }),
);
