/** Builds failover chains over the real Consul and PostgreSQL for the fault scenarios. */
import { randomBytes } from 'node:crypto';
import { createFailoverStore, type FailoverEvent, type FailoverStore } from '@summit-config/backends';
import { createConsulStore } from '@summit-config/backends/consul';
import { createMemoryStore } from '@summit-config/backends/memory';
import { createPostgresStore } from '@summit-config/backends/postgres';
import { appendNext, type ConfigRef, isConfigError } from '@summit-config/core';
import { services } from '@summit-config/test-support/services';
import { until } from '@summit-config/test-support/wait';
import type { History } from './history.js';

export interface ChainOptions {
  /** Shared by every chain of one scenario, so they see the same data. */
  prefix: string;
  schema: string;
  /** Override Consul's address (e.g. a proxy that a test cuts, for a partitioned writer). */
  consulAddress?: string;
  /** Override PostgreSQL's connection string (e.g. through a proxy). */
  databaseUrl?: string;
  events?: FailoverEvent[];
}

export function uniqueNames(tag: string) {
  const suffix = `${tag}_${randomBytes(4).toString('hex')}`;
  return { prefix: `faults/${suffix}/`, schema: `faults_${suffix}` };
}

export function createChain(options: ChainOptions): FailoverStore {
  const { consulAddr, databaseUrl } = services();
  return createFailoverStore({
    tiers: [
      createConsulStore({
        address: options.consulAddress ?? consulAddr,
        prefix: options.prefix,
        timeoutMs: 500,
        watchWaitMs: 5_000,
        retryMaxMs: 500,
        // Long enough that an outage of PostgreSQL in these scenarios never prunes an unsynced version.
        historyLimit: 1000,
      }),
      createPostgresStore({
        connectionString: options.databaseUrl ?? databaseUrl,
        schema: options.schema,
        connectTimeoutMs: 1_000,
        statementTimeoutMs: 2_000,
        resyncIntervalMs: 1_000,
        reconnectMaxMs: 500,
      }),
      createMemoryStore({ name: 'cache' }),
    ],
    probeIntervalMs: 100,
    probeTimeoutMs: 400,
    failureThreshold: 1,
    mirrorWriteTimeoutMs: 1_000,
    onEvent: (e) => options.events?.push(e),
  });
}

/** Writes to `refs` round-robin every `intervalMs` until stopped; every acknowledged write is recorded. */
export function startWriters(store: FailoverStore, refs: readonly ConfigRef[], history: History, intervalMs = 50) {
  let stopped = false;
  let n = 0;
  const loop = (async () => {
    while (!stopped) {
      const ref = refs[n % refs.length] as ConfigRef;
      n++;
      try {
        const doc = await appendNext(store, { ref, config: { n, at: Date.now() }, createdBy: 'fault-writer' });
        history.ackWrite(doc);
      } catch (error) {
        // A refused write is fine (it was never acknowledged); it must be typed.
        if (!isConfigError(error)) throw error;
        history.failedWrites.push(error);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Reads `refs` through the store every `intervalMs` until stopped. */
export function startReaders(store: FailoverStore, refs: readonly ConfigRef[], history: History, intervalMs = 5) {
  let stopped = false;
  let n = 0;
  const loop = (async () => {
    while (!stopped) {
      const ref = refs[n++ % refs.length] as ConfigRef;
      const key = `${ref.scope}/${ref.id}`;
      try {
        history.recordRead(key, await store.getVersion(ref));
      } catch (error) {
        history.recordRead(key, undefined, error);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Polls `predicate` every 20 ms until it holds; resolves with the milliseconds that took. */
export function waitFor(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<number> {
  return until(predicate, what, { timeoutMs, intervalMs: 20 });
}
