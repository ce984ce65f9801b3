/**
 * `pnpm bench failover`: 1 000 reads/s and 20 writes/s through failover chains over real Consul and
 * PostgreSQL, in two runs:
 *
 * - dev agent: Consul SIGKILLed at 5 s and restarted (empty) at 12 s, 20 s in all;
 * - cluster: a real 3-server Consul cluster (`services.sh cluster up`), the chains attached to a
 *   follower; the leader is SIGKILLed at 4 s and restarted at 10 s, 16 s in all (fields `cluster_*`).
 *
 *   failed_reads       reads that threw (store reads through the chain, not only memory gets)
 *   lost_writes        acknowledged writes kept neither at their version nor re-appended
 *   renumbered_writes  acknowledged writes re-appended under another number (0 without a partition)
 *   time_travel_reads  reads older than one the same chain had already returned for the ref
 *   max_read_ms, max_write_ms   slowest read and write (acknowledged or refused)
 *   watch_switch_ms    from the fault until the watching chain follows PostgreSQL
 *   converge_ms        from the restart command until both chains serve from Consul again and both
 *                      stores agree on every ref with nothing awaiting repair
 *   breaker_opens      Consul breaker openings summed over the two chains (1 each means no flapping)
 *   cluster_election_ms  from the leader's SIGKILL until consistent reads work through every live node
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
import { isPlainObject } from '@summit-config/core/internal';

const devConsul = process.env.CONSUL_HTTP_ADDR;
const databaseUrl = process.env.DATABASE_URL;
if (!devConsul || !databaseUrl) throw new Error('run through `pnpm bench failover` (it starts the services)');
const root = join(import.meta.dirname, '..');
const services = join(root, 'scripts', 'services.sh');
// Async, so the event loop (and the failover under test) keeps running while the script works.
const ctl = async (...args: string[]) => (await promisify(execFile)('sh', [services, ...args])).stdout.trim();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PhaseOptions {
  consulAddr: string;
  durationMs: number;
  faultAtMs: number;
  recoverAtMs: number;
  fault(): Promise<void>;
  recover(): Promise<void>;
}

async function phase(o: PhaseOptions) {
  const tag = randomBytes(4).toString('hex');
  let breakerOpens = 0;
  const chain = (): FailoverStore =>
    createFailoverStore({
      tiers: [
        createConsulStore({ address: o.consulAddr, prefix: `bench-failover-${tag}/`, timeoutMs: 500 }),
        createPostgresStore({
          connectionString: databaseUrl as string,
          schema: `bench_failover_${tag}`,
          connectTimeoutMs: 1000,
        }),
        createMemoryStore({ name: 'cache' }),
      ],
      probeIntervalMs: 100,
      probeTimeoutMs: 400,
      failureThreshold: 1,
      mirrorWriteTimeoutMs: 1000,
      onEvent: (e) => {
        if (e.type === 'breaker' && e.tier === 'consul' && e.to === 'open') breakerOpens++;
      },
    });
  const writer = chain();
  const watcher = chain();
  const refs: ConfigRef[] = Array.from({ length: 20 }, (_, i) => parseRef(`app:bench/service-${i}`));
  const acked: ConfigVersion[] = [];
  for (const ref of refs) acked.push(await appendNext(writer, { ref, config: { n: 0 }, createdBy: 'bench' }));
  const unwatch = watcher.watch(() => {});
  const start = Date.now();
  const at = (ms: number) => sleep(Math.max(0, start + ms - Date.now()));
  const f = { reads: 0, failedReads: 0, failedWrites: 0, timeTravel: 0, maxReadMs: 0, maxWriteMs: 0 };
  const highest = new Map<string, number>();
  let stop = false;

  const readLoop = async () => {
    // 1 000 reads/s: every tick issues the reads that are due by the clock, without waiting for
    // earlier ones, so a slow answer never lowers the offered load.
    let issued = 0;
    const pending = new Set<Promise<void>>();
    while (!stop) {
      const due = Math.floor(Date.now() - start) - issued;
      for (let k = 0; k < due; k++) {
        const ref = refs[issued++ % refs.length] as ConfigRef;
        const key = refKey(ref);
        const t0 = performance.now();
        f.reads++;
        const p = watcher.getVersion(ref).then(
          (doc) => {
            f.maxReadMs = Math.max(f.maxReadMs, performance.now() - t0);
            if (doc === undefined) f.failedReads++;
            else if (doc.version < (highest.get(key) ?? 0)) f.timeTravel++;
            else highest.set(key, doc.version);
          },
          () => {
            f.maxReadMs = Math.max(f.maxReadMs, performance.now() - t0);
            f.failedReads++;
          },
        );
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await sleep(5);
    }
    await Promise.all(pending);
  };
  const writeLoop = async () => {
    for (let i = 0; !stop; i++) {
      const tick = Date.now();
      const t0 = performance.now();
      try {
        acked.push(
          await appendNext(writer, { ref: refs[i % refs.length] as ConfigRef, config: { n: i }, createdBy: 'bench' }),
        );
      } catch {
        f.failedWrites++;
      }
      f.maxWriteMs = Math.max(f.maxWriteMs, performance.now() - t0);
      await sleep(Math.max(0, 50 - (Date.now() - tick)));
    }
  };
  const loops = Promise.all([readLoop(), writeLoop()]);

  await at(o.faultAtMs);
  const faultAt = Date.now();
  await o.fault();
  let watchSwitchMs = Number.NaN;
  while (Date.now() - faultAt < 5_000) {
    if (watcher.status().watching === 'postgres') {
      watchSwitchMs = Date.now() - faultAt;
      break;
    }
    await sleep(5);
  }
  await at(o.recoverAtMs);
  const restartedAt = Date.now();
  await o.recover();
  const [consulTier, pgTier] = watcher.tiers() as [
    NonNullable<ReturnType<FailoverStore['tiers']>[number]>,
    NonNullable<ReturnType<FailoverStore['tiers']>[number]>,
  ];
  let convergeMs = Number.NaN;
  while (Date.now() - restartedAt < 30_000) {
    const serving = [writer, watcher].every((c) => c.status().tiers.every((t) => t.state === 'closed'));
    if (serving) {
      const [lagging, marks, heads] = await Promise.all([
        pgTier.listLagging?.().catch(() => [1]),
        consulTier.listProvisional?.().catch(() => [1]),
        Promise.all(refs.map((ref) => Promise.all([consulTier.getHead(ref), pgTier.getHead(ref)]).catch(() => []))),
      ]);
      const agree = heads.every(([c, p]) => c !== undefined && c?.checksum === p?.checksum);
      if (lagging?.length === 0 && marks?.length === 0 && agree) {
        convergeMs = Date.now() - restartedAt;
        break;
      }
    }
    await sleep(10);
  }
  await at(o.durationMs);
  stop = true;
  await loops;

  let lost = 0;
  let renumbered = 0;
  const conflicts = new Set<string>();
  for (const ref of refs) {
    const head = (await pgTier.getHead(ref))?.version ?? 0;
    for (let v = 1; v <= head; v++) {
      const c = (await pgTier.getVersion(ref, v))?.metadata.conflict;
      if (isPlainObject(c)) conflicts.add(`${refKey(ref)}@${String(c.version)}:${String(c.checksum)}`);
    }
  }
  for (const doc of acked) {
    if ((await pgTier.getVersion(doc.ref, doc.version))?.checksum === doc.checksum) continue;
    if (conflicts.has(`${refKey(doc.ref)}@${doc.version}:${doc.checksum}`)) renumbered++;
    else lost++;
  }
  unwatch();
  await writer.close();
  await watcher.close();
  return {
    failed_reads: f.failedReads,
    lost_writes: lost,
    renumbered_writes: renumbered,
    time_travel_reads: f.timeTravel,
    max_read_ms: Math.round(f.maxReadMs),
    max_write_ms: Math.round(f.maxWriteMs),
    watch_switch_ms: watchSwitchMs,
    converge_ms: convergeMs,
    breaker_opens: breakerOpens,
    reads: f.reads,
    acked_writes: acked.length,
    failed_writes: f.failedWrites,
  };
}

// Run 1: the dev agent, SIGKILLed (the instant of the fault is exact) and restarted empty.
const dev = await phase({
  consulAddr: devConsul,
  durationMs: 20_000,
  faultAtMs: 5_000,
  recoverAtMs: 12_000,
  fault: async () => {
    const port = process.env.SUMMIT_CONSUL_PORT ?? '18500';
    process.kill(Number(readFileSync(join(root, '.cache', 'run', `consul-${port}.pid`), 'utf8')), 'SIGKILL');
  },
  recover: async () => void (await ctl('consul', 'start')),
});
console.error('dev agent', JSON.stringify(dev));

// Run 2: a 3-server cluster, the chains on a follower, the leader SIGKILLed.
await ctl('cluster', 'down');
await ctl('cluster', 'up');
const leader = Number(await ctl('cluster', 'leader'));
const follower = [1, 2, 3].find((n) => n !== leader) as number;
let electionMs = Number.NaN;
let killed = 0;
try {
  const cluster = await phase({
    consulAddr: `http://127.0.0.1:${Number(process.env.SUMMIT_CLUSTER_PORT ?? 18600) + 10 * follower}`,
    durationMs: 16_000,
    faultAtMs: 4_000,
    recoverAtMs: 10_000,
    fault: async () => {
      const t0 = Date.now();
      killed = Number(await ctl('cluster', 'kill-leader'));
      void ctl('cluster', 'wait').then(() => {
        electionMs = Date.now() - t0;
      });
    },
    recover: async () => {
      await ctl('cluster', 'start', String(killed));
      await ctl('cluster', 'wait');
    },
  });
  console.error('cluster', JSON.stringify(cluster));
  console.log(
    JSON.stringify({
      bench: 'failover',
      ...dev,
      ...Object.fromEntries(Object.entries(cluster).map(([k, v]) => [`cluster_${k}`, v])),
      cluster_election_ms: electionMs,
    }),
  );
} finally {
  await ctl('cluster', 'down');
}
