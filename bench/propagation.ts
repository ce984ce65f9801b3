/**
 * `pnpm bench propagation`: write-to-callback latency across processes through the real Consul.
 * Three series, each writing here and timing the callback in a forked child (wall clock, same host):
 * - store:   a Consul store's `append` to a Consul store's watch;
 * - service: `service.set` (RBAC, schema, signature, audit, over the failover chain of Consul and
 *   PostgreSQL) to a config client's `watch` callback (the client over its own chain);
 * - bare (the anchor): a plain HTTP PUT of a small value to a plain recursive blocking GET loop.
 * Changes rotate between the series (the order rotates too), so that machine noise hits all alike.
 * Each change waits for the previous one to arrive (plus a small random gap), so nothing coalesces.
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConsulStore } from '@summit-config/backends/consul';
import { parseRef } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { percentile, round } from './_measure.js';
import { openBenchService } from './lib/writes-service.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 500);
const WARMUP = 20;
const address = process.env.CONSUL_HTTP_ADDR ?? 'http://127.0.0.1:18500';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const now = () => performance.timeOrigin + performance.now();

interface Arrival {
  key: string;
  version: number;
  at: number;
}

function startChild(mode: 'store' | 'bare' | 'client', prefix: string, schema = '') {
  const child = fork(join(here, 'lib', 'propagation-child.ts'), [mode, address, prefix, schema], {
    cwd: root,
    execArgv: ['--import', 'tsx', '--conditions=source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  const waiters = new Map<string, (a: Arrival) => void>();
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((r) => {
    ready = r;
  });
  child.on('exit', (code) => {
    if (!finished) fail(new Error(`${mode} child exited early (${code})`));
  });
  child.on('message', (m: Arrival & { ready?: boolean }) => {
    if (m.ready) return ready();
    const id = `${m.key}@${m.version}`;
    waiters.get(id)?.(m);
    waiters.delete(id);
  });
  return {
    child,
    ready: readyPromise,
    arrival(key: string, version: number): Promise<Arrival> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${mode}: ${key}@${version} not received in 10 s`)), 10_000);
        waiters.set(`${key}@${version}`, (a) => {
          clearTimeout(timer);
          resolve(a);
        });
      });
    },
  };
}

let finished = false;
const children: Array<{ kill: () => boolean }> = [];
function fail(error: Error): never {
  for (const c of children) c.kill();
  console.error(`propagation: ${error.message}`);
  process.exit(1);
}
// A stalled run (Consul frozen or restarted by someone else's fault test) fails instead of hanging.
let progress = Date.now();
const watchdog = setInterval(() => {
  if (Date.now() - progress > 30_000) fail(new Error('no progress for 30 s'));
}, 1000);
watchdog.unref();

const prefix = `bench-prop-${randomUUID().slice(0, 8)}/`;
const barePrefix = `${prefix}bare/`;
const ref = parseRef('global/propagation');
const store = createConsulStore({ address, prefix });
let storeVersion = 0;
const appendNext = () =>
  store.append(
    createVersion({ ref, config: { n: storeVersion + 1, pad: 'x'.repeat(200) }, createdBy: 'bench' }, storeVersion + 1),
  );
await appendNext();
storeVersion = 1;

const agent = new Agent({ keepAlive: true });
const url = new URL(address);
let bareVersion = 0;
const barePut = (version: number) =>
  new Promise<void>((resolve, reject) => {
    const body = JSON.stringify({ version, pad: 'x'.repeat(200) });
    const req = request(
      { host: url.hostname, port: url.port, path: `/v1/kv/${barePrefix}key`, method: 'PUT', agent },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`PUT ${res.statusCode}`))));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('bare PUT timed out')));
    req.on('error', reject);
    req.end(body);
  });
await barePut(0);

const bench = await openBenchService();
let serviceVersion = 0;
const serviceSet = async () => {
  const doc = await bench.service.set(bench.actor, {
    ref: 'app:prop/settings',
    config: { n: serviceVersion + 1, notes: 'x'.repeat(200) },
  });
  serviceVersion = doc.version;
};
await serviceSet();

const storeChild = startChild('store', prefix);
const bareChild = startChild('bare', barePrefix);
const clientChild = startChild('client', bench.prefix, bench.schema);
await Promise.all([storeChild.ready, bareChild.ready, clientChild.ready]);

const storeLatencies: number[] = [];
const bareLatencies: number[] = [];
const serviceLatencies: number[] = [];
const gap = () => new Promise((r) => setTimeout(r, 1 + Math.random() * 2));

async function storeOne(record: boolean): Promise<void> {
  const version = storeVersion + 1;
  const arrived = storeChild.arrival('global/propagation', version);
  const sent = now();
  await appendNext();
  storeVersion = version;
  const { at } = await arrived;
  progress = Date.now();
  if (record) storeLatencies.push(at - sent);
}

async function bareOne(record: boolean): Promise<void> {
  const version = ++bareVersion;
  const arrived = bareChild.arrival(`${barePrefix}key`, version);
  const sent = now();
  await barePut(version);
  const { at } = await arrived;
  progress = Date.now();
  if (record) bareLatencies.push(at - sent);
}

async function serviceOne(record: boolean): Promise<void> {
  const version = serviceVersion + 1;
  const arrived = clientChild.arrival('app:prop/settings', version);
  const sent = now();
  await serviceSet();
  const { at } = await arrived;
  progress = Date.now();
  if (record) serviceLatencies.push(at - sent);
}

const series = [storeOne, bareOne, serviceOne];
for (let i = 0; i < WARMUP; i++) for (const one of series) await one(false);
// Rotate the series change by change (which goes first rotates too), so that all see the same
// machine noise.
for (let i = 0; i < CHANGES; i++) {
  for (let k = 0; k < series.length; k++) {
    await (series[(i + k) % series.length] as (record: boolean) => Promise<void>)(true);
    await gap();
  }
}

finished = true;
storeChild.child.disconnect();
bareChild.child.disconnect();
clientChild.child.disconnect();
await store.close();
await bench.close();
await new Promise<void>((resolve) => {
  const req = request(
    { host: url.hostname, port: url.port, path: `/v1/kv/${prefix}?recurse`, method: 'DELETE', agent },
    (res) => {
      res.resume();
      res.on('end', resolve);
    },
  );
  req.on('error', () => resolve());
  req.end();
});
agent.destroy();

const p50 = percentile(storeLatencies, 50);
const p99 = percentile(storeLatencies, 99);
const bareP50 = percentile(bareLatencies, 50);
const bareP99 = percentile(bareLatencies, 99);
const serviceP50 = percentile(serviceLatencies, 50);
const serviceP99 = percentile(serviceLatencies, 99);
console.log(
  JSON.stringify({
    bench: 'propagation',
    changes: storeLatencies.length,
    p50_ms: round(p50, 3),
    p99_ms: round(p99, 3),
    bare_p50_ms: round(bareP50, 3),
    bare_p99_ms: round(bareP99, 3),
    ratio_p50: round(p50 / bareP50),
    ratio_p99: round(p99 / bareP99),
    service_p50_ms: round(serviceP50, 3),
    service_p99_ms: round(serviceP99, 3),
    ratio_service_p50: round(serviceP50 / bareP50),
    ratio_service_p99: round(serviceP99 / bareP99),
  }),
);
