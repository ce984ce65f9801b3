import {
  type AppliedAck,
  type ConfigError,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type Head,
  isConfigError,
  parseRef,
  type ReadOptions,
  type ReadSource,
  refKey,
  type Signer,
  type StoreCapabilities,
  type TrustRoot,
  type WriteFence,
} from '@summit-config/core';
import { BackendUnavailableError, errors, Lifecycle } from '@summit-config/core/internal';
import { ChainReader } from './failover-read.js';
import { ChainSync, type SyncEvent } from './failover-sync.js';
import {
  assignRoles,
  type BreakerState,
  Breakers,
  errorText,
  failureOf,
  type Tier,
  unavailable,
} from './failover-tiers.js';
import { WatchFanout } from './failover-watch.js';
import { createWriter } from './failover-write.js';
import type { ReconcileReport } from './heal.js';

export type { BreakerState } from './failover-tiers.js';

export interface TierStatus {
  readonly name: string;
  readonly durable: boolean;
  /** `record` (PostgreSQL), `mirror` (Consul), `plain` (the only durable tier) or `cache`. */
  readonly role: 'record' | 'mirror' | 'plain' | 'cache';
  readonly state: BreakerState;
  readonly consecutiveFailures: number;
  /** Message of the last failure, if any. */
  readonly lastError: string | undefined;
  /** ISO time the breaker last changed state. */
  readonly since: string;
}

export interface FailoverStatus {
  /** The tier reads go to first (the first closed one), or undefined when none is. */
  readonly serving: string | undefined;
  /** The tier the watch follows. */
  readonly watching: string | undefined;
  readonly tiers: readonly TierStatus[];
  /** Refs this process wrote to fewer durable tiers than exist, awaiting repair. */
  readonly unsynced: readonly string[];
  /** Refs found needing repair between the record and the mirror (0 when they agree). */
  readonly divergent: number;
  /** The chain's epoch (the record's), once known. */
  readonly epoch: string | undefined;
  /** The mirror holds the chain's epoch: it may serve and, while the record is away, take writes. */
  readonly mirrorTrusted: boolean;
}

/** Events for observability (the agent turns them into metrics and log lines). */
export type FailoverEvent =
  | { type: 'breaker'; tier: string; from: BreakerState; to: BreakerState; error?: unknown }
  | { type: 'watch-switch'; from: string | undefined; to: string | undefined }
  | { type: 'unsynced-write'; ref: string; version: number; missing: string[] }
  | { type: 'drift'; tier: string; ref: string; error: ConfigError }
  /** A version this process had seen exists in no store any more (lost with a wiped store); reads go on without it. */
  | { type: 'regressed'; ref: string; seen: number }
  | SyncEvent;

export interface FailoverOptions {
  /**
   * The tiers, highest priority first, e.g. `[consul, postgres, memory]`. Two durable tiers are one
   * record (`capabilities.record`: PostgreSQL) and one mirror (`capabilities.mirror`: Consul); a
   * single durable tier takes every write itself. One non-durable tier with `capabilities.cache` is
   * the cache. The failover store owns them all and closes them on close().
   */
  tiers: readonly ConfigStore[];
  /** Consecutive failures that open a tier's breaker. Default 2. */
  failureThreshold?: number;
  /** How often every tier is probed, in ms (open tiers to recover, closed ones to notice a freeze). Default 250. */
  probeIntervalMs?: number;
  /** Timeout of one probe, in ms. Default 750. */
  probeTimeoutMs?: number;
  /** How often the refs the two durable tiers disagree on are repaired, in ms. Default 1000. */
  repairIntervalMs?: number;
  /**
   * How long a write waits for the mirror while the record holds the ref's lock, in ms; after that
   * the record commits alone and repair copies the version. Keep it below PostgreSQL's
   * `idle_in_transaction_session_timeout` (the store's `statementTimeoutMs`). Default 2000.
   */
  mirrorWriteTimeoutMs?: number;
  /** Observability hook; must not throw (a throw is swallowed). */
  onEvent?: (event: FailoverEvent) => void;
  /**
   * The writers' public keys (`createTrustRoot`): repair never copies a mirror version that does
   * not verify, and replaces it from the record (`ReconcileReport.rejected`).
   */
  trust?: TrustRoot;
  /** Signs the versions repair re-appends under a new number after a conflict. */
  signer?: Signer;
}

export interface FailoverStore extends ConfigStore {
  /** Which tier serves, each breaker's state, and what awaits repair. */
  status(): FailoverStatus;
  /** Like getVersion, and says which tier answered (`stale` when only the cache did). */
  getVersionDetailed(
    ref: ConfigRef,
    version?: number,
    options?: ReadOptions,
  ): Promise<{ doc: ConfigVersion | undefined } & ReadSource>;
  /** The tiers, in priority order (for inspection; the failover store still owns them). */
  tiers(): readonly ConfigStore[];
  /**
   * Repairs every ref the record and the mirror disagree on now (also run on recovery and every
   * `repairIntervalMs` for the refs known to need it).
   */
  reconcile(options?: { signal?: AbortSignal; fence?: WriteFence }): Promise<ReconcileReport>;
}

function checkOptions(options: FailoverOptions) {
  if (!Array.isArray(options.tiers) || options.tiers.length === 0) {
    throw errors.constraint('failover option tiers must be a non-empty array of stores');
  }
  const names = new Set<string>();
  for (const t of options.tiers) {
    if (names.has(t.name)) throw errors.constraint(`failover option tiers: two tiers are named "${t.name}"`);
    names.add(t.name);
  }
  if (options.trust !== undefined && typeof options.trust?.check !== 'function') {
    throw errors.constraint('failover option trust must be a TrustRoot (createTrustRoot)');
  }
  if (options.signer !== undefined && typeof options.signer?.sign !== 'function') {
    throw errors.constraint('failover option signer must be a Signer (createSigner)');
  }
  if (!options.tiers.some((t) => t.capabilities.durable)) {
    throw errors.constraint(
      'failover option tiers needs at least one durable tier (memory alone never acknowledges a write)',
    );
  }
  const positive = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!Number.isFinite(v) || v <= 0)
      throw errors.constraint(`failover option ${name} must be a positive number, got ${v}`);
    return v;
  };
  return {
    failureThreshold: positive('failureThreshold', options.failureThreshold, 2),
    probeIntervalMs: positive('probeIntervalMs', options.probeIntervalMs, 250),
    probeTimeoutMs: positive('probeTimeoutMs', options.probeTimeoutMs, 750),
    repairIntervalMs: positive('repairIntervalMs', options.repairIntervalMs, 1000),
    mirrorWriteTimeoutMs: positive('mirrorWriteTimeoutMs', options.mirrorWriteTimeoutMs, 2000),
  };
}

/**
 * `failover([consul, postgres, memory])`: a store over tiers with a circuit breaker each.
 *
 * - Writes: failover-write.ts (the record orders, the mirror serves).
 * - Reads: failover-read.ts (first closed tier, never backwards for this process).
 * - Watch: failover-watch.ts (the first closed tier that can watch; switches with a full resync).
 * - Probes, recovery, repair and the epoch: failover-sync.ts.
 */
/** How long close() lets a tier's recovery finish before closing the stores under it. */
const CLOSE_RECOVERY_WAIT_MS = 2_000;

export function createFailoverStore(options: FailoverOptions): FailoverStore {
  const opts = checkOptions(options);
  const lifecycle = new Lifecycle('failover store');
  const tiers: Tier[] = assignRoles(options.tiers, 'syncing');
  const durable = tiers.filter((t) => t.durable);
  const record = tiers.find((t) => t.role === 'record');
  const mirror = tiers.find((t) => t.role === 'mirror');
  const unsynced = new Set<string>();
  const emitEvent = (event: FailoverEvent) => {
    if (event.type === 'reconciled') {
      for (const key of event.report.refs) unsynced.delete(key);
      if (event.report.incomplete.length === 0 && sync.divergent === 0) unsynced.clear();
    }
    try {
      options.onEvent?.(event);
    } catch {
      // observability must never break the data path
    }
  };

  const breakers = new Breakers(opts.failureThreshold, (tier, from, to, error) => {
    emitEvent({ type: 'breaker', tier: tier.store.name, from, to, error });
    fanout.refresh();
  });
  const sync = new ChainSync(tiers, breakers, {
    probeIntervalMs: opts.probeIntervalMs,
    probeTimeoutMs: opts.probeTimeoutMs,
    repairIntervalMs: opts.repairIntervalMs,
    emit: emitEvent,
    isClosed: () => lifecycle.closed,
    trust: options.trust,
    signer: options.signer,
  });
  const reader = new ChainReader({
    tiers,
    breakers,
    sync,
    behindWaitMs: opts.mirrorWriteTimeoutMs + opts.probeTimeoutMs,
    assertOpen: () => lifecycle.assertOpen(),
    report: emitEvent,
  });
  const fanout = new WatchFanout({
    tiers,
    breakers,
    ready: () => sync.ready,
    isClosed: () => lifecycle.closed,
    seen: (key, version) => reader.noteSeen(key, version),
    switched: (from, to) => emitEvent({ type: 'watch-switch', from, to }),
  });
  const write = createWriter({
    tiers,
    breakers,
    sync,
    floorOf: (key) => reader.floorOf(key),
    mirrorWriteTimeoutMs: opts.mirrorWriteTimeoutMs,
    unsynced(key, version, missing) {
      unsynced.add(key);
      emitEvent({ type: 'unsynced-write', ref: key, version, missing });
    },
  });

  /** Records acknowledgements on every durable tier that keeps them and answers; one must take them. */
  async function ackOnTiers(what: string, send: (store: ConfigStore) => Promise<void> | undefined): Promise<void> {
    const targets = tiers.filter((t) => t.durable && t.store.capabilities.appliedState && t.state !== 'open');
    const results = await Promise.allSettled(targets.map((t) => send(t.store)));
    if (targets.length === 0 || results.every((r) => r.status === 'rejected')) {
      // Refused by every tier as malformed: the caller's error, not an outage.
      const reasons = results.map((r) => (r as PromiseRejectedResult).reason);
      if (reasons.length > 0 && reasons.every((e) => isConfigError(e, 'CONSTRAINT_VIOLATION'))) throw reasons[0];
      throw new BackendUnavailableError(
        `no tier recorded ${what}`,
        targets.map((t, i) => ({
          backend: t.store.name,
          error: (results[i] as PromiseRejectedResult | undefined)?.reason,
        })),
      );
    }
  }

  const capabilities: StoreCapabilities = Object.freeze({
    watch: tiers.some((t) => t.store.capabilities.watch),
    durable: true,
    historyLimit: undefined,
    consistentReads: tiers.some((t) => t.store.capabilities.consistentReads),
    appliedState: tiers.some((t) => t.store.capabilities.appliedState),
    tiered: true,
    bulkReads: true,
  });

  const store: FailoverStore = {
    name: 'failover',
    capabilities,
    getHead: (ref, readOptions) => reader.getHead(ref, readOptions),
    async getVersion(ref, version, readOptions) {
      return (await reader.getVersionDetailed(ref, version, readOptions)).doc;
    },
    getVersionDetailed: (ref, version, readOptions) => reader.getVersionDetailed(ref, version, readOptions),
    listHeads: (query = {}, readOptions) => reader.listHeads(query, readOptions),
    getHeadDocuments: (query = {}, readOptions) => reader.getHeadDocuments(query, readOptions),
    listVersions: (ref, readOptions) => reader.listVersions(ref, readOptions),

    async append(doc, appendOptions = {}) {
      await sync.ready;
      lifecycle.assertOpen();
      const key = refKey(parseRef(doc.ref));
      const written = await write(doc, { signal: appendOptions.signal, fence: appendOptions.fence });
      reader.noteSeen(key, written.version);
      reader.prime(written);
      return written;
    },

    watch(listener, watchOptions = {}) {
      lifecycle.assertOpen();
      return fanout.add(listener, watchOptions);
    },

    async ack(ack: AppliedAck) {
      await sync.ready;
      await ackOnTiers(`the acknowledgement of ${refKey(ack.ref)}`, (s) => s.ack?.(ack));
    },

    // Routed like `ack`; a tier without `ackMany` gets one `ack` each (sent together).
    async ackMany(acks: readonly AppliedAck[]) {
      await sync.ready;
      lifecycle.assertOpen();
      for (const a of acks) parseRef(a.ref);
      if (acks.length === 0) return;
      await ackOnTiers(`${acks.length} acknowledgements`, async (s) => {
        if (s.ackMany) return s.ackMany(acks);
        const results = await Promise.allSettled(acks.map((a) => s.ack?.(a)));
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
    },

    async listAcks(ref) {
      const r = parseRef(ref);
      const withAcks = tiers.filter((t) => t.durable && t.store.capabilities.appliedState);
      return (await reader.through(withAcks, (t) => t.store.listAcks?.(r) ?? Promise.resolve([]), false)).value ?? [];
    },

    async ping() {
      await reader.through(
        durable,
        async (t) => {
          await t.store.ping();
          return true;
        },
        false,
      );
    },

    tiers() {
      return tiers.map((t) => t.store);
    },

    async readEpoch() {
      await sync.ready;
      return sync.epoch;
    },

    status() {
      return {
        serving: tiers.find((t) => t.state === 'closed')?.store.name,
        watching: fanout.watching,
        tiers: tiers.map((t) => ({
          name: t.store.name,
          durable: t.durable,
          role: t.role,
          state: t.state,
          consecutiveFailures: t.failures,
          lastError: t.lastError === undefined ? undefined : errorText(t.lastError),
          since: new Date(t.since).toISOString(),
        })),
        unsynced: [...unsynced].sort(),
        divergent: sync.divergent,
        epoch: sync.epoch,
        mirrorTrusted: mirror ? sync.trusted : false,
      };
    },

    async reconcile(reconcileOptions = {}) {
      await sync.ready;
      lifecycle.assertOpen();
      if (record && record.state === 'open') {
        throw unavailable('cannot reconcile while the record is unreachable', [failureOf(record)]);
      }
      if (mirror && mirror.state === 'open') {
        throw unavailable('cannot reconcile while the mirror is unreachable', [failureOf(mirror)]);
      }
      return sync.reconcile(reconcileOptions);
    },

    close() {
      return lifecycle.close(async () => {
        await sync.settled().catch(() => {});
        sync.stop();
        fanout.close();
        // A recovery ends at its next step once stop() aborted its pass; a step stuck on a store is
        // ended by closing that store, after a bounded wait.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled(tiers.map((t) => t.recovering)),
          new Promise((r) => {
            timer = setTimeout(r, CLOSE_RECOVERY_WAIT_MS);
          }),
        ]);
        clearTimeout(timer);
        await Promise.allSettled(tiers.map((t) => t.store.close()));
      });
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}

export type { Head };
