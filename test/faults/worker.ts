/**
 * One process of a fault scenario: a writer, a compare-and-set writer, a change-service writer, a
 * reader, a watcher, a client or a reconciler, over its own failover chain on the real Consul and
 * PostgreSQL (possibly through a proxy the orchestrator cuts). Everything it observes goes to an
 * NDJSON record file (see records.ts), which the history checker reads afterwards.
 *
 *   node --conditions=source --import tsx test/faults/worker.ts <config.json>
 *
 * Prints `ready` on stdout once its chain answers; stops cleanly on SIGTERM (flushes, closes).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createFailoverStore, type FailoverStore, reconcile } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import {
  appendNext,
  type ConfigRef,
  type ConfigStore,
  createConfigClient,
  createConfigService,
  createRbac,
  isConfigError,
  parseRef,
  refKey,
} from '@summit-config/core';
import type { WorkerConfig } from './records.js';

const config = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as WorkerConfig;
const refs: ConfigRef[] = config.refs.map((r) => parseRef(r));
let seq = 0;
let buffer: string[] = [];
let stopping = false;
/** What the process is doing now: printed if it does not stop in time (a hang is a finding). */
let doing = 'starting';

function record(entry: Record<string, unknown>, flushNow = false): void {
  buffer.push(JSON.stringify({ w: config.id, pid: process.pid, seq: seq++, ...entry }));
  if (flushNow || buffer.length > 500) flush();
}
function flush(): void {
  if (buffer.length === 0) return;
  appendFileSync(config.out, `${buffer.join('\n')}\n`);
  buffer = [];
}
const flusher = setInterval(flush, 100);
const codeOf = (error: unknown) => (isConfigError(error) ? error.code : `UNTYPED:${String(error)}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tiers(): ConfigStore[] {
  const consul = createConsulStore({
    address: config.consulAddr,
    prefix: config.prefix,
    timeoutMs: 500,
    watchWaitMs: 5_000,
    retryMaxMs: 500,
    historyLimit: config.historyLimit ?? 20,
  });
  const postgres = createPostgresStore({
    connectionString: config.databaseUrl,
    schema: config.schema,
    connectTimeoutMs: 1_000,
    statementTimeoutMs: 3_000,
    resyncIntervalMs: 1_000,
    reconnectMaxMs: 500,
  });
  return config.role === 'reconciler' ? [stepLogged(consul), stepLogged(postgres)] : [consul, postgres];
}

/** The reconciler's stores print each repair write before making it, so a test can kill between steps. */
function stepLogged(store: ConfigStore): ConfigStore {
  const writes = ['append', 'replace', 'extend', 'clearProvisional', 'markMirrored', 'markProvisional'] as const;
  const wrapped: Record<string, unknown> = {};
  for (const name of writes) {
    const fn = store[name] as ((...args: unknown[]) => Promise<unknown>) | undefined;
    if (!fn) continue;
    wrapped[name] = async (...args: unknown[]) => {
      process.stdout.write(`step ${store.name}.${name}\n`);
      await sleep(config.stepDelayMs ?? 0);
      return fn.apply(store, args);
    };
  }
  return new Proxy(store, {
    get: (target, prop, receiver) =>
      typeof prop === 'string' && prop in wrapped ? wrapped[prop] : Reflect.get(target, prop, receiver),
  });
}

function chain(): FailoverStore {
  return createFailoverStore({
    tiers: [...tiers(), createMemoryStore({ name: 'cache' })],
    probeIntervalMs: 100,
    probeTimeoutMs: 400,
    failureThreshold: 1,
    repairIntervalMs: 500,
    mirrorWriteTimeoutMs: 1_000,
    onEvent: (e) => {
      if (e.type === 'watch-switch' || e.type === 'unsynced-write') return;
      const { type } = e;
      const detail =
        e.type === 'breaker'
          ? { tier: e.tier, from: e.from, to: e.to }
          : e.type === 'renumbered'
            ? { ref: e.ref, version: e.version, checksum: e.checksum, reappendedAs: e.reappendedAs }
            : e.type === 'reconciled'
              ? { copied: e.report.copied.length, conflicts: e.report.conflicts.length }
              : e.type === 'mirror-reset'
                ? { tier: e.tier, found: e.found, expected: e.expected }
                : {};
      record({ k: 'event', type, t: Date.now(), ...detail }, e.type === 'renumbered');
    },
  });
}

async function writeLoop(store: FailoverStore): Promise<void> {
  for (let n = 0; !stopping && (config.count === undefined || n < config.count); n++) {
    const ref = refs[n % refs.length] as ConfigRef;
    const t0 = Date.now();
    doing = `writing ${refKey(ref)} (${n}) since ${t0}`;
    try {
      const doc = await appendNext(store, { ref, config: { w: config.id, n }, createdBy: config.id });
      record({ k: 'ack', ref: refKey(ref), v: doc.version, c: doc.checksum, t0, t1: Date.now() }, true);
    } catch (error) {
      record({ k: 'wfail', ref: refKey(ref), code: codeOf(error), t0, t1: Date.now() });
    }
    await sleep(config.intervalMs ?? 20);
  }
}

async function casLoop(store: FailoverStore): Promise<void> {
  const ref = refs[0] as ConfigRef;
  let conflicts = 0;
  for (let n = 0; !stopping && n < (config.count ?? 200); n++) {
    for (;;) {
      const t0 = Date.now();
      try {
        const doc = await appendNext(store, { ref, config: { w: config.id, n }, createdBy: config.id });
        record({ k: 'ack', ref: refKey(ref), v: doc.version, c: doc.checksum, t0, t1: Date.now() }, true);
        break;
      } catch (error) {
        if (isConfigError(error, 'VERSION_CONFLICT')) {
          conflicts++;
          continue;
        }
        record({ k: 'wfail', ref: refKey(ref), code: codeOf(error), msg: String(error), t0, t1: Date.now() });
        await sleep(20);
      }
    }
  }
  record({ k: 'note', conflicts });
}

async function serviceLoop(store: FailoverStore): Promise<void> {
  const service = createConfigService({
    store,
    governance: createMemoryGovernance(),
    rbac: createRbac({ roles: { writer: ['config:write', 'config:read'] } }),
  });
  const actor = { id: config.id, roles: ['writer'] };
  for (let n = 0; !stopping && (config.count === undefined || n < config.count); n++) {
    const ref = refs[n % refs.length] as ConfigRef;
    const t0 = Date.now();
    doing = `service-writing ${refKey(ref)} (${n}) since ${t0}`;
    try {
      const doc = await service.set(actor, { ref, config: { w: config.id, n }, message: `service write ${n}` });
      record({ k: 'ack', ref: refKey(ref), v: doc.version, c: doc.checksum, t0, t1: Date.now() }, true);
    } catch (error) {
      record({ k: 'wfail', ref: refKey(ref), code: codeOf(error), t0, t1: Date.now() });
    }
    await sleep(config.intervalMs ?? 20);
  }
}

async function readLoop(store: FailoverStore): Promise<void> {
  for (let n = 0; !stopping; n++) {
    const ref = refs[n % refs.length] as ConfigRef;
    const t0 = Date.now();
    try {
      const r = await store.getVersionDetailed(ref);
      record({
        k: 'read',
        ref: refKey(ref),
        v: r.doc?.version ?? 0,
        c: r.doc?.checksum,
        src: r.source,
        t0,
        t1: Date.now(),
      });
    } catch (error) {
      record({ k: 'rfail', ref: refKey(ref), code: codeOf(error), t0, t1: Date.now() });
    }
    await sleep(config.intervalMs ?? 5);
  }
}

async function watchLoop(store: FailoverStore): Promise<void> {
  const unwatch = store.watch(
    (change) => {
      record({ k: 'watch', ref: change.key, v: change.version, c: change.checksum, t: Date.now() });
    },
    { initial: true, onError: (error) => record({ k: 'werr', code: error.code, t: Date.now() }) },
  );
  while (!stopping) await sleep(50);
  unwatch();
}

async function clientLoop(store: FailoverStore): Promise<void> {
  const t0 = Date.now();
  const client = await createConfigClient({
    store,
    app: config.app ?? 'shop',
    environment: 'production',
    snapshotFile: config.snapshotFile,
    startTimeoutMs: 2_000,
  }).catch((error: unknown) => {
    record({ k: 'rfail', ref: '*', code: codeOf(error), t0, t1: Date.now() }, true);
    throw error;
  });
  record({ k: 'client-start', t: Date.now(), ms: Date.now() - t0 }, true);
  const ids = [...new Set(refs.map((r) => r.id))];
  const observe = (id: string) => {
    const r = client.resolve(id);
    for (const scope of ['global', 'app'] as const) {
      const v = r.versions[scope];
      if (v === undefined) continue;
      const ref = scope === 'global' ? `global/${id}` : `app:${config.app ?? 'shop'}/${id}`;
      record({ k: 'read', ref, v, src: r.source, stale: r.stale, t0: Date.now(), t1: Date.now() });
    }
  };
  const unwatch = client.watch('**', (change) => observe(change.id));
  while (!stopping) {
    for (const id of ids) observe(id);
    await sleep(config.intervalMs ?? 20);
  }
  unwatch();
  await client.close();
}

async function reconcileLoop(store: FailoverStore): Promise<void> {
  const [consul, postgres] = store.tiers() as [ConfigStore, ConfigStore];
  const report = await reconcile([consul, postgres]);
  record({ k: 'note', reconciled: report.refs.length, conflicts: report.conflicts.length }, true);
  process.stdout.write('reconciled\n');
}

async function main(): Promise<void> {
  const store = chain();
  process.once('SIGTERM', () => {
    stopping = true;
    setTimeout(() => {
      process.stderr.write(`still ${doing} 10 s after SIGTERM; status ${JSON.stringify(store.status())}\n`);
    }, 10_000).unref();
  });
  record({ k: 'start', t: Date.now() }, true);
  if (config.role !== 'client') await store.ping().catch(() => {});
  process.stdout.write('ready\n');
  const loops = {
    writer: writeLoop,
    cas: casLoop,
    service: serviceLoop,
    reader: readLoop,
    watcher: watchLoop,
    client: clientLoop,
    reconciler: reconcileLoop,
  } as const;
  try {
    await loops[config.role](store);
  } finally {
    doing = 'closing';
    record({ k: 'stop', t: Date.now() });
    clearInterval(flusher);
    flush();
    await store.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    flush();
    process.stderr.write(`worker ${config.id} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
