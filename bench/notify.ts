/**
 * `pnpm bench notify`: write-to-callback latency through PostgreSQL LISTEN/NOTIFY across processes.
 * This process appends through the PostgreSQL store (one transaction, NOTIFY at commit); a forked
 * child watches through its own store (LISTEN, then a head fetch per notification) and reports when
 * each callback ran (wall clock, same host). Each change waits for the previous one to arrive (plus
 * a small random gap), so nothing coalesces. BENCH_CHANGES changes (default 500) after 20 warm-up.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { createVersion } from '@summit-config/core/internal';
import pg from 'pg';
import { percentile, round } from './_measure.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 500);
const WARMUP = 20;
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:15432/summit';
const here = dirname(fileURLToPath(import.meta.url));
const now = () => performance.timeOrigin + performance.now();
const schema = `summit_bench_notify_${process.pid}_${randomBytes(4).toString('hex')}`;

const store = createPostgresStore({ connectionString: url, schema });
const ref = 'global/notify/bench';
let version = 0;
await store.append(createVersion({ ref, config: { version: 0 }, createdBy: 'bench' }, ++version));

const child = fork(join(here, 'lib', 'notify-child.ts'), [url, schema], {
  cwd: join(here, '..'),
  execArgv: ['--import', 'tsx', '--conditions=source'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const waiters = new Map<number, (at: number) => void>();
const ready = new Promise<void>((resolve) => {
  child.on('message', (m: { ready?: boolean; key?: string; version?: number; at?: number }) => {
    if (m.ready) return resolve();
    if (m.key === ref && typeof m.version === 'number') {
      waiters.get(m.version)?.(m.at as number);
      waiters.delete(m.version);
    }
  });
});
await ready;

const arrival = (v: number) =>
  new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`v${v} not received in 10 s`)), 10_000);
    waiters.set(v, (at) => {
      clearTimeout(timer);
      resolve(at);
    });
  });
const gap = () => new Promise((r) => setTimeout(r, 1 + Math.random() * 2));

const latencies: number[] = [];
for (let i = 0; i < WARMUP + CHANGES; i++) {
  const v = ++version;
  const arrived = arrival(v);
  const sent = now();
  await store.append(createVersion({ ref, config: { version: v, pad: 'x'.repeat(200) }, createdBy: 'bench' }, v));
  const at = await arrived;
  if (i >= WARMUP) latencies.push(at - sent);
  await gap();
}

child.disconnect();
await store.close();
const admin = new pg.Client({ connectionString: url });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());

console.log(
  JSON.stringify({
    bench: 'notify',
    changes: latencies.length,
    p50_ms: round(percentile(latencies, 50), 3),
    p99_ms: round(percentile(latencies, 99), 3),
  }),
);
