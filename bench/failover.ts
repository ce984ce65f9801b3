/**
 * `pnpm bench failover`: 1 000 reads/s and 20 writes/s for 20 s through the failover chain over real
 * Consul and PostgreSQL; Consul is killed (SIGKILL) at 5 s and restarted at 12 s.
 *
 *   failed_reads     reads that threw (store reads through the chain, not only memory gets)
 *   lost_writes      acknowledged writes missing from both tiers after convergence
 *   watch_switch_ms  from the kill until a watcher in another chain follows PostgreSQL
 *   converge_ms      from the restart command until both chains are back on Consul and Consul holds
 *                    every version PostgreSQL held when it returned (includes Consul's own start-up)
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createFailoverStore, type FailoverStore } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, type ConfigRef, type ConfigVersion, parseRef, refKey } from '@summit-config/core';

const consulAddr = process.env.CONSUL_HTTP_ADDR;
const databaseUrl = process.env.DATABASE_URL;
if (!consulAddr || !databaseUrl) throw new Error('run through `pnpm bench failover` (it starts the services)');
const root = join(import.meta.dirname, '..');
const services = join(root, 'scripts', 'services.sh');
// Async, so the event loop (and the failover under test) keeps running while the script works.
const ctl = (...args: string[]) => promisify(execFile)('sh', [services, ...args]);
/** SIGKILL of the Consul agent the services script started: the instant of the fault is exact. */
const killConsul = () =>
  process.kill(Number(readFileSync(join(root, '.cache', 'run', 'consul.pid'), 'utf8')), 'SIGKILL');

const tag = randomBytes(4).toString('hex');
let start = Date.now();
const chain = (): FailoverStore =>
  createFailoverStore({
    tiers: [
      createConsulStore({ address: consulAddr, prefix: `bench-failover-${tag}/`, timeoutMs: 500, historyLimit: 1000 }),
      createPostgresStore({ connectionString: databaseUrl, schema: `bench_failover_${tag}`, connectTimeoutMs: 1000 }),
      createMemoryStore({ name: 'cache' }),
    ],
    probeIntervalMs: 100,
    probeTimeoutMs: 400,
    failureThreshold: 1,
    onEvent: (e) => {
      if (process.env.BENCH_DEBUG && e.type !== 'unsynced-write') {
        const extra =
          e.type === 'reconciled' ? ` copied=${e.report.copied.length} incomplete=${e.report.incomplete.length}` : '';
        const moved = e.type === 'breaker' ? `${e.tier} ${e.from}->${e.to}` : '';
        console.error(Date.now() - start, e.type, moved, extra);
      }
    },
  });

const writer = chain();
const watcher = chain();
const refs: ConfigRef[] = Array.from({ length: 20 }, (_, i) => parseRef(`app:bench/service-${i}`));
const acked: ConfigVersion[] = [];
for (const ref of refs) acked.push(await appendNext(writer, { ref, config: { n: 0 }, createdBy: 'bench' }));
const unwatch = watcher.watch(() => {});

const DURATION = 20_000;
start = Date.now();
let failedReads = 0;
let reads = 0;
let failedWrites = 0;
let stop = false;

const readLoop = async () => {
  // 1 000 reads/s: every tick issues the reads that are due by the clock, without waiting for
  // earlier ones, so a slow answer never lowers the offered load.
  let issued = 0;
  const pending = new Set<Promise<void>>();
  const loopStart = Date.now();
  while (!stop) {
    const due = Math.floor(Date.now() - loopStart) - issued;
    for (let k = 0; k < due; k++) {
      const ref = refs[issued++ % refs.length] as ConfigRef;
      reads++;
      const p = watcher.getVersion(ref).then(
        (doc) => {
          if (doc === undefined) failedReads++;
        },
        () => {
          failedReads++;
        },
      );
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
};
const writeLoop = async () => {
  // 20 writes/s.
  let i = 0;
  while (!stop) {
    const tick = Date.now();
    const ref = refs[i % refs.length] as ConfigRef;
    i++;
    try {
      acked.push(await appendNext(writer, { ref, config: { n: i }, createdBy: 'bench' }));
    } catch {
      failedWrites++;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - tick))));
  }
};

const loops = Promise.all([readLoop(), writeLoop()]);
const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, start + ms - Date.now())));

await at(5_000);
const killedAt = Date.now();
killConsul();
let watchSwitchMs = Number.NaN;
while (Date.now() - killedAt < 5_000) {
  if (watcher.status().watching === 'postgres') {
    watchSwitchMs = Date.now() - killedAt;
    break;
  }
  await new Promise((r) => setTimeout(r, 5));
}

await at(12_000);
// Measured from the restart command, so converge_ms is an upper bound that includes Consul's own
// start-up (the script returns once the new, empty dev agent has a leader and answers).
const restartedAt = Date.now();
await ctl('consul', 'start');
if (process.env.BENCH_DEBUG) console.error(restartedAt - start, 'consul answers again');

// Convergence, measured while the load goes on: both chains back on Consul, and Consul holding every
// version PostgreSQL held when Consul returned (all that was written during the outage).
const [consulTier, pgTier] = watcher.tiers();
const atReturn = await Promise.all(refs.map((ref) => pgTier?.getHead(ref)));
let convergeMs = Number.NaN;
while (Date.now() - restartedAt < 30_000) {
  const settled = [writer, watcher].every((c) => c.status().tiers.every((t) => t.state === 'closed'));
  if (settled) {
    const caughtUp = await Promise.all(
      refs.map(async (ref, i) => {
        const target = atReturn[i];
        if (!target) return false;
        const held = await consulTier?.getVersion(ref, target.version).catch(() => undefined);
        return held?.checksum === target.checksum;
      }),
    );
    if (caughtUp.every(Boolean)) {
      convergeMs = Date.now() - restartedAt;
      break;
    }
  }
  await new Promise((r) => setTimeout(r, 10));
}
await at(DURATION);
stop = true;
await loops;
// After the load stops, every head must agree (checked, not timed).
await writer.reconcile();
for (const ref of refs) {
  const [c, p] = await Promise.all([consulTier?.getHead(ref), pgTier?.getHead(ref)]);
  if (c?.checksum !== p?.checksum) throw new Error(`tiers disagree on ${refKey(ref)} after the run`);
}

let lost = 0;
for (const doc of acked) {
  const [c, p] = await Promise.all([
    consulTier?.getVersion(doc.ref, doc.version),
    pgTier?.getVersion(doc.ref, doc.version),
  ]);
  if (c?.checksum !== doc.checksum && p?.checksum !== doc.checksum) lost++;
}

unwatch();
await writer.close();
await watcher.close();
console.error(
  `reads=${reads} acked_writes=${acked.length} failed_writes=${failedWrites} refs=${refs.map(refKey).length}`,
);
console.log(
  JSON.stringify({
    bench: 'failover',
    failed_reads: failedReads,
    lost_writes: lost,
    watch_switch_ms: watchSwitchMs,
    converge_ms: convergeMs,
    reads,
    acked_writes: acked.length,
  }),
);
