import {
  type AppliedAck,
  BackendUnavailableError,
  type ConfigError,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  errors,
  type Head,
  type HeadChange,
  type HeadListener,
  isConfigError,
  Lifecycle,
  ListenerSet,
  type ListQuery,
  onAbort,
  parseRef,
  type ReadOptions,
  type ReadSource,
  refKey,
  type Scope,
  type StoreCapabilities,
  type TierFailure,
  throwIfAborted,
  type Unwatch,
  type WatchOptions,
  type WriteFence,
} from '@summit-config/core';
import { type ReconcileReport, reconcile } from './reconcile.js';

/** Breaker state of one tier. `syncing`: answering again, being reconciled before it serves. */
export type BreakerState = 'closed' | 'open' | 'syncing';

export interface TierStatus {
  readonly name: string;
  readonly durable: boolean;
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
  /** Refs written to fewer durable tiers than exist, awaiting reconciliation. */
  readonly unsynced: readonly string[];
}

/** Events for observability (the agent turns them into metrics and log lines). */
export type FailoverEvent =
  | { type: 'breaker'; tier: string; from: BreakerState; to: BreakerState; error?: unknown }
  | { type: 'watch-switch'; from: string | undefined; to: string | undefined }
  | { type: 'unsynced-write'; ref: string; version: number; missing: string[] }
  | { type: 'drift'; tier: string; ref: string; error: ConfigError }
  | { type: 'reconciled'; report: ReconcileReport }
  | { type: 'reconcile-failed'; error: unknown };

export interface FailoverOptions {
  /**
   * The tiers, highest priority first, e.g. `[consul, postgres, memory]`. Durable tiers take writes;
   * one non-durable tier with `capabilities.cache` is the cache. The failover store owns them all and
   * closes them on close().
   */
  tiers: readonly ConfigStore[];
  /** Consecutive failures that open a tier's breaker. Default 2. */
  failureThreshold?: number;
  /** How often every tier is probed with `ping()`, in ms (open tiers to recover, closed ones to notice a freeze). Default 250. */
  probeIntervalMs?: number;
  /** Timeout of one probe, in ms. Default 750. */
  probeTimeoutMs?: number;
  /** Observability hook; must not throw (a throw is swallowed). */
  onEvent?: (event: FailoverEvent) => void;
}

interface Tier {
  store: ConfigStore;
  durable: boolean;
  state: BreakerState;
  failures: number;
  lastError: unknown;
  since: number;
}

export interface FailoverStore extends ConfigStore {
  /** Which tier serves, each breaker's state, and the refs awaiting reconciliation. */
  status(): FailoverStatus;
  /** Like getVersion, and says which tier answered (`stale` when only the cache did). */
  getVersionDetailed(
    ref: ConfigRef,
    version?: number,
    options?: ReadOptions,
  ): Promise<{ doc: ConfigVersion | undefined } & ReadSource>;
  /** The tiers, in priority order (for inspection; the failover store still owns them). */
  tiers(): readonly ConfigStore[];
  /** Runs anti-entropy between the durable tiers now (also run automatically on recovery). */
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
  };
}

const isOutage = (error: unknown) => isConfigError(error, 'BACKEND_UNAVAILABLE') || isConfigError(error, 'TIMEOUT');

/**
 * `failover([consul, postgres, memory])`: a store over tiers with a circuit breaker each.
 *
 * - Reads go to the first tier whose breaker is closed; an outage moves on to the next tier within
 *   the same call, so a read fails only when every tier fails (aggregate `BACKEND_UNAVAILABLE`).
 * - Writes go to every durable tier in order with the same version. A tier that is down is skipped
 *   and the ref is marked unsynced; when no durable tier accepts, the write fails. The cache is
 *   primed only after a durable tier acknowledged.
 * - Watch follows the first closed tier that can watch, and switches (with a full resync) when
 *   breakers move.
 * - A tier whose probe answers again is reconciled (anti-entropy) before it serves.
 */
export function createFailoverStore(options: FailoverOptions): FailoverStore {
  const opts = checkOptions(options);
  const lifecycle = new Lifecycle('failover store');
  const tiers: Tier[] = options.tiers.map((store) => ({
    store,
    durable: store.capabilities.durable,
    state: 'closed',
    failures: 0,
    lastError: undefined,
    since: Date.now(),
  }));
  const durable = tiers.filter((t) => t.durable);
  const cache = tiers.find((t) => !t.durable && t.store.capabilities.cache);
  const unsynced = new Set<string>();
  const emitEvent = (event: FailoverEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // observability must never break the data path
    }
  };

  // ------------------------------------------------------------------ breakers
  function setState(tier: Tier, to: BreakerState, error?: unknown) {
    if (tier.state === to) return;
    const from = tier.state;
    tier.state = to;
    tier.since = Date.now();
    emitEvent({ type: 'breaker', tier: tier.store.name, from, to, error });
    refreshWatch();
  }

  function recordFailure(tier: Tier, error: unknown) {
    tier.failures++;
    tier.lastError = error;
    if (tier.state === 'closed' && tier.failures >= opts.failureThreshold) setState(tier, 'open', error);
  }

  function recordSuccess(tier: Tier) {
    tier.failures = 0;
  }

  /**
   * Runs `op` on tiers in order (closed ones only), moving on after an outage or a checksum failure.
   * `op` returns {@link NOT_HERE} when the tier lacks the answer but a later tier may hold it. A
   * non-durable tier (the cache) holds only what this process has read, so its `undefined` is never
   * an answer either: it counts as {@link NOT_HERE}.
   */
  async function firstAnswer<T>(
    op: (store: ConfigStore) => Promise<T | typeof NOT_HERE>,
    candidates: readonly Tier[] = tiers,
  ): Promise<{ value: T | undefined; tier: Tier }> {
    lifecycle.assertOpen();
    const failures: TierFailure[] = [];
    let lacking: Tier | undefined;
    for (const tier of candidates) {
      if (tier.state !== 'closed') {
        failures.push({ backend: tier.store.name, error: tier.lastError ?? new Error(`breaker ${tier.state}`) });
        continue;
      }
      try {
        const value = await op(tier.store);
        recordSuccess(tier);
        if (value === NOT_HERE || (value === undefined && !tier.durable)) {
          lacking ??= tier;
          continue;
        }
        return { value, tier };
      } catch (error) {
        if (isConfigError(error, 'CHECKSUM_MISMATCH')) {
          emitEvent({ type: 'drift', tier: tier.store.name, ref: error.ref ?? '', error });
          failures.push({ backend: tier.store.name, error });
          continue;
        }
        if (!isOutage(error)) throw error;
        recordFailure(tier, error);
        failures.push({ backend: tier.store.name, error });
      }
    }
    // Tiers that lacked the answer are not authoritative: only when no tier failed is "absent" true.
    if (lacking && failures.length === 0) return { value: undefined, tier: lacking };
    throw new BackendUnavailableError(
      `no tier answered: ${failures.map((f) => `${f.backend}: ${errorText(f.error)}`).join('; ')}`,
      failures,
    );
  }

  // ------------------------------------------------------------------ probing and recovery
  let probing = false;
  const probeTimer = setInterval(() => void probeAll(), opts.probeIntervalMs);
  probeTimer.unref();

  async function probeAll() {
    if (probing || lifecycle.closed) return;
    probing = true;
    try {
      await Promise.all(
        tiers.map(async (tier) => {
          try {
            await tier.store.ping({ signal: AbortSignal.timeout(opts.probeTimeoutMs) });
            if (tier.state === 'open') await recover(tier);
          } catch (error) {
            if (lifecycle.closed) return;
            if (tier.state === 'closed') recordFailure(tier, error);
            else tier.lastError = error;
          }
        }),
      );
    } finally {
      probing = false;
    }
  }

  async function recover(tier: Tier) {
    setState(tier, 'syncing');
    try {
      if (tier.durable) {
        // A first pass with writes flowing (they go to the other tiers meanwhile), then a final pass
        // with appends held back, so that no write lands between the last copy and the breaker closing.
        await runReconcile();
        await withWritesPaused(() => runReconcile());
      }
      tier.failures = 0;
      setState(tier, 'closed');
    } catch (error) {
      emitEvent({ type: 'reconcile-failed', error });
      tier.lastError = error;
      setState(tier, 'open', error);
    }
  }

  // ------------------------------------------------------------------ write barrier
  let inflight = 0;
  let drained: (() => void) | undefined;
  let paused: Promise<void> | undefined;

  async function enterWrite(): Promise<void> {
    while (paused) await paused;
    inflight++;
  }

  function leaveWrite(): void {
    inflight--;
    if (inflight === 0) drained?.();
  }

  async function withWritesPaused<T>(fn: () => Promise<T>): Promise<T> {
    while (paused) await paused;
    let release = () => {};
    paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      if (inflight > 0) await new Promise<void>((resolve) => (drained = resolve));
      drained = undefined;
      return await fn();
    } finally {
      paused = undefined;
      release();
    }
  }

  /** Reconciles soon (coalesced) after the tiers were seen to diverge on a write. */
  let repairScheduled = false;
  function scheduleRepair() {
    if (repairScheduled || lifecycle.closed) return;
    repairScheduled = true;
    setTimeout(() => {
      repairScheduled = false;
      if (lifecycle.closed || durable.some((t) => t.state !== 'closed')) return;
      void runReconcile().catch((error: unknown) => emitEvent({ type: 'reconcile-failed', error }));
    }, 0).unref();
  }

  let reconciling: Promise<ReconcileReport> | undefined;
  function runReconcile(signal?: AbortSignal, fence?: WriteFence): Promise<ReconcileReport> {
    reconciling ??= (async () => {
      try {
        const reachable = durable.filter((t) => t.state !== 'open').map((t) => t.store);
        const report = await reconcile(reachable, { signal, fence });
        for (const key of report.refs) unsynced.delete(key);
        if (reachable.length === durable.length) unsynced.clear();
        emitEvent({ type: 'reconciled', report });
        return report;
      } finally {
        reconciling = undefined;
      }
    })();
    return reconciling;
  }

  // ------------------------------------------------------------------ watch
  interface Sub {
    scope: Scope | undefined;
    listener: HeadListener;
    onError: WatchOptions['onError'];
  }
  const subs = new ListenerSet<HeadChange>();
  const subScopes = new Map<Sub, Scope | '*'>();
  const lastSeen = new Map<string, { version: number; checksum: string }>();
  let watching: { tier: Tier; stops: Map<string, Unwatch> } | undefined;

  /** Scopes that were attached before: a re-attachment (a switch) diffs and emits its initial heads. */
  const attachedScopes = new Set<string>();

  /**
   * `coveredBefore`: the scopes some earlier upstream already watched when this one was attached.
   * An initial head of a scope never covered before is state (a seed); any other head is diffed
   * against what was delivered, so changes missed across a switch or a re-attachment are emitted.
   */
  function deliver(change: HeadChange, coveredBefore: ReadonlySet<string>) {
    const seedOnly = change.initial && !coveredBefore.has('*') && !coveredBefore.has(change.ref.scope);
    const last = lastSeen.get(change.key);
    const isNew =
      !last || change.version > last.version || (change.version === last.version && change.checksum !== last.checksum);
    if (isNew) lastSeen.set(change.key, { version: change.version, checksum: change.checksum });
    if (seedOnly) {
      // The first snapshot of a scope: state, not change. Only subscribers that asked for it take it.
      subs.emit(Object.freeze({ ...change, initial: true }));
      return;
    }
    if (isNew) subs.emit(Object.freeze({ ...change, initial: false }));
  }

  function watchTier(): Tier | undefined {
    return tiers.find((t) => t.state === 'closed' && t.store.capabilities.watch);
  }

  function reportWatchError(error: ConfigError) {
    for (const sub of subScopes.keys()) sub.onError?.(error);
  }

  /** (Re)attaches upstream watches to the best tier, one per needed scope, with a full resync on a switch. */
  function refreshWatch() {
    if (lifecycle.closed) return;
    const needed = new Set(subScopes.values());
    const best = needed.size === 0 ? undefined : watchTier();
    if (watching && watching.tier !== best) {
      for (const stop of watching.stops.values()) stop();
      emitEvent({ type: 'watch-switch', from: watching.tier.store.name, to: best?.store.name });
      watching = undefined;
    }
    if (!best) return;
    if (!watching) watching = { tier: best, stops: new Map() };
    const current = watching;
    const scopes = needed.has('*') ? ['*'] : [...needed];
    for (const [scope, stop] of current.stops) {
      if (!scopes.includes(scope)) {
        stop();
        current.stops.delete(scope);
      }
    }
    for (const scope of scopes) {
      if (current.stops.has(scope)) continue;
      const coveredBefore = new Set(attachedScopes);
      attachedScopes.add(scope);
      current.stops.set(
        scope,
        best.store.watch((change) => deliver(change, coveredBefore), {
          scope: scope === '*' ? undefined : (scope as Scope),
          initial: true,
          onError: (error) => {
            if (isOutage(error)) recordFailure(best, error);
            reportWatchError(error);
          },
        }),
      );
    }
  }

  /** Writes `doc` to every durable tier in order; see the store's doc comment for the rules. */
  async function appendToTiers(
    doc: ConfigVersion,
    key: string,
    appendOptions: { signal?: AbortSignal } | undefined,
  ): Promise<ConfigVersion> {
    const failures: TierFailure[] = [];
    const missing: string[] = [];
    let written: ConfigVersion | undefined;
    for (const tier of durable) {
      if (tier.state !== 'closed') {
        failures.push({ backend: tier.store.name, error: tier.lastError ?? new Error(`breaker ${tier.state}`) });
        missing.push(tier.store.name);
        continue;
      }
      try {
        written = await tier.store.append(doc, appendOptions);
        recordSuccess(tier);
      } catch (error) {
        if (isOutage(error)) {
          recordFailure(tier, error);
          failures.push({ backend: tier.store.name, error });
          missing.push(tier.store.name);
          continue;
        }
        // A conflict on the first tier that answers is the caller's conflict. On a later tier it means
        // the tiers diverged (a write landed on one tier alone): the write stands, reconciliation repairs.
        if (written === undefined) throw error;
        missing.push(tier.store.name);
        if (isConfigError(error, 'VERSION_CONFLICT')) scheduleRepair();
      }
    }
    if (!written) {
      throw new BackendUnavailableError(
        `${key}: no durable tier accepted the write: ${failures.map((f) => `${f.backend}: ${errorText(f.error)}`).join('; ')}`,
        failures,
        { ref: key, version: doc.version },
      );
    }
    if (missing.length > 0) {
      unsynced.add(key);
      emitEvent({ type: 'unsynced-write', ref: key, version: doc.version, missing });
    }
    if (cache) await cache.store.prime?.(written).catch(() => {});
    return written;
  }

  // ------------------------------------------------------------------ the store
  const capabilities: StoreCapabilities = Object.freeze({
    watch: tiers.some((t) => t.store.capabilities.watch),
    durable: true,
    historyLimit: undefined,
    consistentReads: tiers.some((t) => t.store.capabilities.consistentReads),
    appliedState: tiers.some((t) => t.store.capabilities.appliedState),
    tiered: true,
    bulkReads: true,
  });

  async function getVersionDetailed(refInput: ConfigRef, version?: number, readOptions?: ReadOptions) {
    const ref = parseRef(refInput);
    const { value, tier } = await firstAnswer(async (store) => {
      const doc = await store.getVersion(ref, version, readOptions);
      // A durable tier pruned by historyLimit may lack an old version that a later tier holds.
      if (doc === undefined && version !== undefined && store.capabilities.historyLimit !== undefined) {
        const head = await store.getHead(ref, readOptions);
        if (head && version <= head.version) return NOT_HERE;
      }
      return doc;
    });
    if (value && cache && tier !== cache) void cache.store.prime?.(value).catch(() => {});
    return { doc: value, source: tier.store.name, stale: !tier.durable };
  }

  const store: FailoverStore = {
    name: 'failover',
    capabilities,

    async getHead(ref, readOptions) {
      const r = parseRef(ref);
      return (await firstAnswer((s) => s.getHead(r, readOptions))).value;
    },

    async getVersion(ref, version, readOptions) {
      return (await getVersionDetailed(ref, version, readOptions)).doc;
    },

    getVersionDetailed,

    async listHeads(query: ListQuery = {}, readOptions) {
      // The cache holds only what this process has read: never a complete list.
      return (await firstAnswer((s) => s.listHeads(query, readOptions), durable)).value ?? [];
    },

    async getHeadDocuments(query: ListQuery = {}, readOptions?: ReadOptions) {
      // Durable tiers only (the cache is never complete). A tier without bulk reads lists its heads
      // and fetches them with bounded concurrency.
      const { value, tier } = await firstAnswer(async (s) => {
        if (s.capabilities.bulkReads && s.getHeadDocuments) return (await s.getHeadDocuments(query, readOptions)).docs;
        const heads = await s.listHeads(query, readOptions);
        const out: ConfigVersion[] = new Array(heads.length);
        let next = 0;
        const worker = async () => {
          while (next < heads.length) {
            const i = next++;
            const head = heads[i] as Head;
            // One listener on the caller's signal, not one per request: check it between documents.
            throwIfAborted(readOptions?.signal);
            const doc = await s.getVersion(head.ref, head.version, { consistent: readOptions?.consistent });
            if (!doc) throw errors.unavailable(s.name, new Error(`head document of ${refKey(head.ref)} vanished`));
            out[i] = doc;
          }
        };
        await Promise.all(Array.from({ length: Math.min(32, heads.length) }, worker));
        return out;
      }, durable);
      const docs = value ?? [];
      if (cache) for (const d of docs) void cache.store.prime?.(d).catch(() => {});
      return { docs, source: tier.store.name, stale: !tier.durable };
    },

    async listVersions(ref, readOptions) {
      const r = parseRef(ref);
      // The tier that keeps every version answers first; a pruned tier lists only what it keeps.
      const keepsAll = (t: Tier) => (t.store.capabilities.historyLimit === undefined ? 0 : 1);
      const complete = [...durable].sort((a, b) => keepsAll(a) - keepsAll(b));
      return (await firstAnswer((s) => s.listVersions(r, readOptions), complete)).value ?? [];
    },

    async append(doc, appendOptions) {
      lifecycle.assertOpen();
      const key = refKey(parseRef(doc.ref));
      await enterWrite();
      try {
        return await appendToTiers(doc, key, appendOptions);
      } finally {
        leaveWrite();
      }
    },

    watch(listener, watchOptions = {}) {
      lifecycle.assertOpen();
      const sub: Sub = { scope: watchOptions.scope, listener, onError: watchOptions.onError };
      const wantsInitial = watchOptions.initial === true;
      const remove = subs.add((change) => {
        if (sub.scope !== undefined && change.ref.scope !== sub.scope) return;
        if (change.initial && !wantsInitial) return;
        try {
          listener(change);
        } catch (error) {
          sub.onError?.(errors.constraint(`watch listener threw: ${errorText(error)}`, { cause: error }));
        }
      });
      const scopeKey = sub.scope ?? '*';
      if (wantsInitial && watching && (watching.stops.has(scopeKey) || watching.stops.has('*'))) {
        // The scope is already attached: its snapshot came and went, so replay what is known.
        const known = [...lastSeen].filter(([key]) => sub.scope === undefined || key.startsWith(`${sub.scope}/`));
        queueMicrotask(() => {
          for (const [key, h] of known) {
            if (!subScopes.has(sub)) return;
            listener(
              Object.freeze({ ref: parseRef(key), key, version: h.version, checksum: h.checksum, initial: true }),
            );
          }
        });
      }
      subScopes.set(sub, scopeKey);
      refreshWatch();
      let offAbort = () => {};
      const unwatch = () => {
        if (!subScopes.delete(sub)) return;
        remove();
        offAbort();
        refreshWatch();
      };
      offAbort = onAbort(watchOptions.signal, unwatch);
      return unwatch;
    },

    async ack(ack: AppliedAck) {
      const targets = tiers.filter((t) => t.durable && t.store.capabilities.appliedState && t.state === 'closed');
      const results = await Promise.allSettled(targets.map((t) => t.store.ack?.(ack)));
      if (targets.length === 0 || results.every((r) => r.status === 'rejected')) {
        throw new BackendUnavailableError(
          `no tier recorded the acknowledgement of ${refKey(ack.ref)}`,
          targets.map((t, i) => ({
            backend: t.store.name,
            error: (results[i] as PromiseRejectedResult | undefined)?.reason,
          })),
        );
      }
    },

    async listAcks(ref) {
      const r = parseRef(ref);
      return (
        (
          await firstAnswer(
            (s) => s.listAcks?.(r) ?? Promise.resolve([]),
            tiers.filter((t) => t.store.capabilities.appliedState),
          )
        ).value ?? []
      );
    },

    async ping() {
      await firstAnswer((s) => s.ping(), durable);
    },

    tiers() {
      return tiers.map((t) => t.store);
    },

    status() {
      return {
        serving: tiers.find((t) => t.state === 'closed')?.store.name,
        watching: watching?.tier.store.name,
        tiers: tiers.map((t) => ({
          name: t.store.name,
          durable: t.durable,
          state: t.state,
          consecutiveFailures: t.failures,
          lastError: t.lastError === undefined ? undefined : errorText(t.lastError),
          since: new Date(t.since).toISOString(),
        })),
        unsynced: [...unsynced].sort(),
      };
    },

    async reconcile(reconcileOptions = {}) {
      lifecycle.assertOpen();
      return runReconcile(reconcileOptions.signal, reconcileOptions.fence);
    },

    close() {
      return lifecycle.close(async () => {
        clearInterval(probeTimer);
        if (watching) for (const stop of watching.stops.values()) stop();
        watching = undefined;
        subs.clear();
        subScopes.clear();
        await Promise.allSettled(tiers.map((t) => t.store.close()));
      });
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}

/** Returned by a tier operation when this tier lacks the answer but a later tier may hold it. */
const NOT_HERE = Symbol('not-here');

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type { Head };
