/**
 * The frame of a real-process fault scenario: worker processes (worker.ts) over the real Consul and
 * PostgreSQL, direct stores to inspect the final state, convergence measured after the faults end,
 * and the report the checker prints (one JSON line per scenario) and asserts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFailoverStore } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, type ConfigStore } from '@summit-config/core';
import { repoRoot, services } from '@summit-config/test-support/services';
import { sleep, until as waitUntil } from '@summit-config/test-support/wait';
import { afterEach, expect } from 'vitest';
import { checkStores, type Entry, figures, readRecords, type ScenarioReport, type WorkerConfig } from './records.js';

/** A worker's configuration as a scenario test gives it (the scenario adds where it writes and what it reaches). */
export type WorkerSpec = Omit<WorkerConfig, 'out' | 'consulAddr' | 'databaseUrl' | 'prefix' | 'schema'> &
  Partial<WorkerConfig>;

/** The reader and the watcher most scenarios observe `refs` with. */
export function readerAndWatcher(refs: readonly string[]): WorkerSpec[] {
  return [
    { id: 'reader', role: 'reader', refs: [...refs] },
    { id: 'watcher', role: 'watcher', refs: [...refs] },
  ];
}

export interface Worker {
  readonly config: WorkerConfig;
  readonly child: ChildProcess;
  /** Lines the worker printed so far. */
  readonly lines: string[];
  ready: Promise<void>;
  /** Resolves when a printed line matches. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait for a clean exit (records flushed). */
  stop(): Promise<number | null>;
  /** SIGKILL now. */
  kill(): Promise<void>;
}

export class Scenario {
  readonly name: string;
  readonly prefix: string;
  readonly schema: string;
  readonly dir: string;
  readonly files: string[] = [];
  readonly workers: Worker[] = [];
  #stores: { record: ConfigStore; mirror: ConfigStore } | undefined;
  readonly #deferred: Array<() => Promise<unknown>> = [];

  /** Consul's address for this scenario's processes (the dev agent unless a cluster node is given). */
  readonly consulAddr: string;

  constructor(name: string, options: { consulAddr?: string } = {}) {
    this.consulAddr = options.consulAddr ?? services().consulAddr;
    const suffix = `${name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
    this.name = name;
    this.prefix = `faults/${suffix}/`;
    this.schema = `faults_${suffix}`;
    this.dir = mkdtempSync(join(tmpdir(), 'summit-faults-'));
  }

  /** Starts a worker process; its records go to a file of its own. */
  spawn(config: WorkerSpec): Worker {
    const { databaseUrl } = services();
    const consulAddr = this.consulAddr;
    const out = join(this.dir, `${config.id}-${this.files.length}.ndjson`);
    this.files.push(out);
    const full: WorkerConfig = { consulAddr, databaseUrl, prefix: this.prefix, schema: this.schema, out, ...config };
    const file = join(this.dir, `${config.id}-${this.files.length}.json`);
    writeFileSync(file, JSON.stringify(full));
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'test/faults/worker.ts', file], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    const lines: string[] = [];
    const waiters = new Set<() => void>();
    let stderr = '';
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      for (const w of [...waiters]) w();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const waitForLine = (match: (line: string) => boolean, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (lines.some(match)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`worker ${config.id}: no matching line within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
          );
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`worker ${config.id} exited; stderr: ${stderr.slice(-2000)}`));
        });
        check();
      });
    const ready = waitForLine((l) => l === 'ready');
    ready.catch(() => {}); // a worker killed before anyone awaited it is not an unhandled rejection
    const worker: Worker = {
      config: full,
      child,
      lines,
      ready,
      waitForLine,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill('SIGTERM');
        const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 20_000))]);
        if (code === 'late') {
          child.kill('SIGKILL');
          throw new Error(`worker ${config.id} did not stop within 20 s; stderr: ${stderr.slice(-2000)}`);
        }
        if (code !== 0) throw new Error(`worker ${config.id} exited ${code}; stderr: ${stderr.slice(-2000)}`);
        return code;
      },
      async kill() {
        child.kill('SIGKILL');
        await exited;
      },
    };
    this.workers.push(worker);
    return worker;
  }

  /**
   * Starts the `writers`, then the `observers`; resolves once all are ready and every writer had a
   * write acknowledged.
   */
  async startLoad(
    writers: readonly WorkerSpec[],
    observers: readonly WorkerSpec[],
  ): Promise<{ writers: Worker[]; observers: Worker[] }> {
    const started = { writers: writers.map((c) => this.spawn(c)), observers: observers.map((c) => this.spawn(c)) };
    await Promise.all([...started.writers, ...started.observers].map((w) => w.ready));
    await until(
      'writes from every writer',
      () => new Set(ofKind(this.records(), 'ack').map((a) => a.w)).size === writers.length,
    );
    return started;
  }

  /**
   * Creates the chain's epoch in both stores (as any first process would) and seeds `seed` refs at
   * v1, through an in-process chain that is closed again.
   */
  async init(seed: readonly string[] = []): Promise<void> {
    const { databaseUrl } = services();
    const consulAddr = this.consulAddr;
    const store = createFailoverStore({
      tiers: [
        createConsulStore({ address: consulAddr, prefix: this.prefix }),
        createPostgresStore({ connectionString: databaseUrl, schema: this.schema }),
      ],
    });
    try {
      await store.ping();
      for (const ref of seed) await appendNext(store, { ref, config: { seed: true }, createdBy: 'seed' });
      if (!store.status().mirrorTrusted) throw new Error('the chain did not come up with both stores');
    } finally {
      await store.close();
    }
  }

  /** A connection string to PostgreSQL through `port` (a proxy). */
  databaseUrlVia(port: number): string {
    const url = new URL(services().databaseUrl);
    url.port = String(port);
    return url.toString();
  }

  /** Direct stores on the scenario's prefix and schema (not through a chain), to inspect the final state. */
  stores(): { record: ConfigStore; mirror: ConfigStore } {
    const { databaseUrl } = services();
    const consulAddr = this.consulAddr;
    this.#stores ??= {
      mirror: createConsulStore({ address: consulAddr, prefix: this.prefix, timeoutMs: 2_000 }),
      record: createPostgresStore({ connectionString: databaseUrl, schema: this.schema }),
    };
    return this.#stores;
  }

  records(): Entry[] {
    return readRecords(this.files);
  }

  /**
   * Waits until both stores agree on every ref and nothing awaits repair (no lagging ref, no
   * provisional mark); returns the milliseconds since `since`, or undefined after `timeoutMs`.
   */
  async converged(refs: readonly string[], since: number, timeoutMs = 20_000): Promise<number | undefined> {
    const { record, mirror } = this.stores();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const [lagging, marks] = await Promise.all([record.listLagging?.() ?? [], mirror.listProvisional?.() ?? []]);
        if (lagging.length === 0 && marks.length === 0) {
          const check = await checkStores([], { record, mirror }, refs);
          if (check.storeMismatches.length === 0) return Date.now() - since;
        }
      } catch {
        // a store still coming back
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return undefined;
  }

  /** The scenario's figures over every process's records and the stores; printed as one JSON line. */
  async report(refs: readonly string[], convergeMs: number | undefined): Promise<ScenarioReport> {
    const entries = this.records();
    const stores = await checkStores(entries, this.stores(), refs);
    const report: ScenarioReport = { scenario: this.name, ...figures(entries), ...stores, convergeMs };
    process.stdout.write(`FAULTS ${JSON.stringify(report)}\n`);
    return report;
  }

  /** Runs `cleanup` first when the scenario closes (last deferred, first run). */
  defer(cleanup: () => Promise<unknown>): void {
    this.#deferred.push(cleanup);
  }

  async close(): Promise<void> {
    for (const c of this.#deferred.splice(0).reverse()) await c();
    await Promise.allSettled(this.workers.map((w) => w.kill()));
    if (this.#stores) await Promise.allSettled([this.#stores.record.close(), this.#stores.mirror.close()]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Ends a run: stops the writers, waits for convergence (measured from `since`), lets the observers
   * see the last changes, stops them, and returns the report.
   */
  async finish(writers: readonly Worker[], observers: readonly Worker[], refs: readonly string[], since: number) {
    await Promise.all(writers.map((w) => w.stop()));
    const convergeMs = await this.converged(refs, since);
    await sleep(300);
    await Promise.all(observers.map((w) => w.stop()));
    return this.report(refs, convergeMs);
  }
}

/**
 * Nothing lost, renumbered, owned twice or read backwards, both stores identical, converged
 * (I1, I2, I3, I5).
 */
export function expectConsistent(report: ScenarioReport): void {
  expect(report.lostWrites).toEqual([]);
  expect(report.renumbered).toBe(0);
  expect(report.sameVersionTwice).toBe(0);
  expect(report.timeTravel).toEqual([]);
  expect(report.storeMismatches).toEqual([]);
  expect(report.convergeMs).toBeDefined();
}

/**
 * What every scenario without a partition must show: consistent, and converged without help (within
 * `converged()`'s 20 s window: a liveness bound, not a timing goal). How fast it converges is a
 * figure, printed in the FAULTS line and measured by `pnpm bench failover` (0.6-3.3 s on a quiet
 * machine; a clean-clone CI run beside other work took 7.3 s once).
 */
export function expectClean(report: ScenarioReport): void {
  expectConsistent(report);
}

export { sleep };

/** Polls `check` every 25 ms until it holds; resolves with the milliseconds that took. */
export function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<number> {
  return waitUntil(check, what, { timeoutMs, intervalMs: 25 });
}

/**
 * Call at the top of a fault test file: returns a maker of the test's scenario. After each test,
 * `restore` (the services back as they were) runs, then the scenario closes.
 */
export function scenarios(
  restore: () => Promise<unknown> = async () => {},
): (name: string, options?: { consulAddr?: string }) => Scenario {
  let current: Scenario | undefined;
  afterEach(async () => {
    await restore();
    await current?.close();
  });
  return (name, options) => {
    current = new Scenario(name, options);
    return current;
  };
}

/** Workers' records of one kind. */
export const ofKind = (entries: readonly Entry[], k: string) => entries.filter((e) => e.k === k);
