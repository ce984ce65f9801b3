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
import { ChainSync, type SyncEvent } from './failover-sync.js';
import {
  assignRoles,
  type BreakerState,
  Breakers,
  errorText,
  failureOf,
  isOutage,
  type Tier,
  unavailable,
} from './failover-tiers.js';
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

/** What one tier said to a read. */
const LACKING = Symbol('lacking');
const BEHIND = Symbol('behind');
type Verdict<T> = T | typeof LACKING | typeof BEHIND;

const BEHIND_ERROR = new Error('behind what this process has seen');
/** Highest version per ref this process has seen; bounded. */
const MAX_FLOORS = 200_000;

/**
 * `failover([consul, postgres, memory])`: a store over tiers with a circuit breaker each.
 *
 * - Writes: see failover-write.ts (the record orders, the mirror serves).
 * - Reads go to the first closed tier (the mirror, then the record, then the cache; consistent reads
 *   ask the record first), and move on after an outage or a checksum failure within the same call.
 *   A tier never moves a ref backwards for this process: an answer older than what the process has
 *   seen (written, read or watched) counts as "behind" and the next tier is asked. Only the record
 *   (or a lone durable tier) can say that a ref or version does not exist; the mirror can while the
 *   record is unreachable; the cache never.
 * - Watch follows the first closed tier that can watch, and switches (with a full resync) when
 *   breakers move; changes are delivered in version order, never backwards.
 * - Tiers that answer again, and a mirror without the chain's epoch, are repaired before they serve
 *   (failover-sync.ts).
 */
export function createFailoverStore(options: FailoverOptions): FailoverStore {
  const opts = checkOptions(options);
  const lifecycle = new Lifecycle('failover store');
  const tiers: Tier[] = assignRoles(options.tiers, 'syncing');
  const durable = tiers.filter((t) => t.durable);
  const cache = tiers.find((t) => !t.durable && t.store.capabilities.cache);
  const record = tiers.find((t) => t.role === 'record');
  const mirror = tiers.find((t) => t.role === 'mirror');
  const unsynced = new Set<string>();
  /** Highest version per ref this process has seen (written, read, watched): reads never go below. */
  const floors = new Map<string, number>();
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
    refreshWatch();
  });
  const sync = new ChainSync(tiers, breakers, {
    probeIntervalMs: opts.probeIntervalMs,
    probeTimeoutMs: opts.probeTimeoutMs,
    repairIntervalMs: opts.repairIntervalMs,
    emit: emitEvent,
    isClosed: () => lifecycle.closed,
  });

  // ------------------------------------------------------------------ floors (monotonic reads)
  const floorOf = (key: string) => floors.get(key) ?? 0;
  function noteSeen(key: string, version: number): void {
    const floor = floors.get(key);
    if (floor !== undefined && floor >= version) return;
    if (floor === undefined && floors.size >= MAX_FLOORS) floors.delete(floors.keys().next().value as string);
    floors.set(key, version);
  }

  const write = createWriter({
    tiers,
    breakers,
    sync,
    floorOf,
    mirrorWriteTimeoutMs: opts.mirrorWriteTimeoutMs,
    unsynced(key, version, missing) {
      unsynced.add(key);
      emitEvent({ type: 'unsynced-write', ref: key, version, missing });
    },
  });

  // ------------------------------------------------------------------ reads

  /** Tier order of a read: priority order, or the record first for a consistent (CAS-critical) read. */
  function order(consistent: boolean | undefined, candidates: readonly Tier[] = tiers): Tier[] {
    if (!consistent || !record) return [...candidates];
    return [...candidates].sort((a, b) => (b === record ? 1 : 0) - (a === record ? 1 : 0));
  }

  /**
   * Asks `candidates` in order (closed ones only). `op` returns LACKING when a tier lacks the answer
   * and BEHIND when its answer is older than this process has seen. See the store's comment for who
   * may say that something does not exist.
   */
  async function readThrough<T>(
    candidates: readonly Tier[],
    op: (tier: Tier) => Promise<Verdict<T>>,
    absentFromMirror: boolean,
    key?: string,
  ): Promise<{ value: T | undefined; tier: Tier }> {
    await sync.ready;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      lifecycle.assertOpen();
      const outcome = await readOnce(candidates, op, absentFromMirror);
      if (!('failures' in outcome)) return outcome;
      // Every tier that answered is behind what this process saw: a version another process wrote is
      // committing, or a tier is catching up (or a writer is putting back what a wiped mirror lost).
      // All of these end within a write's deadline: wait, then ask again.
      const behind = outcome.failures.some((f) => f.error === BEHIND_ERROR);
      if (behind && Date.now() - started <= opts.mirrorWriteTimeoutMs + opts.probeTimeoutMs) {
        await new Promise((r) => setTimeout(r, Math.min(20 * 2 ** attempt, 200)));
        continue;
      }
      if (behind && key !== undefined && floors.has(key)) {
        // Still nowhere: the version this process saw was lost with the store that alone held it.
        // Say so, and serve what exists rather than fail for ever.
        emitEvent({ type: 'regressed', ref: key, seen: floorOf(key) });
        floors.delete(key);
        continue;
      }
      throw unavailable('no tier answered', outcome.failures);
    }
  }

  /** One pass over the candidates: an answer, or why there is none. */
  async function readOnce<T>(
    candidates: readonly Tier[],
    op: (tier: Tier) => Promise<Verdict<T>>,
    absentFromMirror: boolean,
  ): Promise<{ value: T | undefined; tier: Tier } | { failures: TierFailure[] }> {
    const failures: TierFailure[] = [];
    const lacked: Tier[] = [];
    for (const tier of candidates) {
      if (tier.state !== 'closed') {
        failures.push(failureOf(tier));
        continue;
      }
      try {
        const value = await op(tier);
        breakers.success(tier);
        if (value === LACKING) lacked.push(tier);
        else if (value === BEHIND) failures.push({ backend: tier.store.name, error: BEHIND_ERROR });
        else return { value, tier };
      } catch (error) {
        if (isConfigError(error, 'CHECKSUM_MISMATCH')) {
          emitEvent({ type: 'drift', tier: tier.store.name, ref: error.ref ?? '', error });
          failures.push({ backend: tier.store.name, error });
          continue;
        }
        if (!isOutage(error)) throw error;
        breakers.failure(tier, error);
        failures.push({ backend: tier.store.name, error });
      }
    }
    // Half-open: nothing else answered, and the record's breaker is open: ask it anyway (it may be back
    // since the last probe). Only the record: an open mirror may have come back empty.
    if (record?.state === 'open' && candidates.includes(record) && lacked.length === 0) {
      try {
        const value = await op(record);
        if (value !== LACKING && value !== BEHIND) {
          sync.recover(record);
          return { value, tier: record };
        }
      } catch {
        // still away: counted below
      }
    }
    // Every serving tier is behind: a reachable mirror that is still syncing may hold the version.
    if (mirror && mirror.state === 'syncing' && failures.some((f) => f.error === BEHIND_ERROR)) {
      try {
        const value = await op(mirror);
        if (value !== LACKING && value !== BEHIND) return { value, tier: mirror };
      } catch {
        // counted with the others
      }
    }
    const authority = lacked.find((t) => t.role === 'record' || t.role === 'plain');
    if (authority) return { value: undefined, tier: authority };
    const trustedMirror = lacked.find((t) => t.role === 'mirror');
    if (trustedMirror && absentFromMirror && record?.state !== 'closed')
      return { value: undefined, tier: trustedMirror };
    if (lacked[0] && failures.length === 0) return { value: undefined, tier: lacked[0] };
    return { failures };
  }

  /** Verdict on a head (or head document) read from `tier`, against this process's floor. */
  function judgeHead<T extends { version: number }>(tier: Tier, key: string, found: T | undefined): Verdict<T> {
    const floor = floorOf(key);
    if (found === undefined) return floor > 0 && tier.durable ? BEHIND : LACKING;
    if (found.version >= floor) return found;
    return tier.durable ? BEHIND : LACKING;
  }

  async function getVersionDetailed(refInput: ConfigRef, version?: number, readOptions?: ReadOptions) {
    const ref = parseRef(refInput);
    const key = refKey(ref);
    const { value, tier } = await readThrough<ConfigVersion>(
      order(readOptions?.consistent),
      async (t) => {
        const doc = await t.store.getVersion(ref, version, readOptions);
        if (version === undefined) return judgeHead(t, key, doc);
        // A specific version: only the record (or a lone tier without a history limit) is complete.
        if (doc) return doc;
        if (t.role === 'record') return LACKING;
        if (t.role === 'plain' && t.store.capabilities.historyLimit === undefined) return LACKING;
        if (t.role === 'plain') {
          const head = await t.store.getHead(ref, readOptions);
          return head && version <= head.version ? BEHIND : LACKING;
        }
        return t.role === 'cache' ? LACKING : BEHIND;
      },
      version === undefined,
      version === undefined ? key : undefined,
    );
    if (value) {
      noteSeen(key, value.version);
      if (cache && tier !== cache) void cache.store.prime?.(value).catch(() => {});
    }
    return { doc: value, source: tier.store.name, stale: !tier.durable };
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
  let started = false;
  function startWatching() {
    started = true;
    refreshWatch();
  }
  /**
   * Scopes some upstream already delivered initial heads for: a re-attachment (a switch) diffs its
   * initial heads and emits the differences as changes. (A switch before the first upstream's
   * initial heads arrived leaves the scope unseeded, so the next upstream's heads are the seed.)
   */
  const seededScopes = new Set<string>();

  /**
   * `coveredBefore`: the scopes seeded when this upstream was attached. An initial head of a scope
   * never seeded before is state (a seed); any other head is diffed against what was delivered, so
   * changes missed across a switch or a re-attachment are emitted. A head older than what was
   * delivered is never emitted (a tier catching up).
   */
  function deliver(change: HeadChange, coveredBefore: ReadonlySet<string>) {
    const seedOnly = change.initial && !coveredBefore.has('*') && !coveredBefore.has(change.ref.scope);
    seededScopes.add(watching?.stops.has('*') ? '*' : change.ref.scope);
    const last = lastSeen.get(change.key);
    if (last && change.version < last.version) return; // a tier behind what was delivered: never backwards
    const isNew =
      !last || change.version > last.version || (change.version === last.version && change.checksum !== last.checksum);
    if (isNew) {
      lastSeen.set(change.key, { version: change.version, checksum: change.checksum });
      noteSeen(change.key, change.version);
    }
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
    // Not before the first probe round decided which tiers serve (no attach to a tier about to switch).
    if (lifecycle.closed || !started) return;
    const needed = new Set(subScopes.values());
    const best = needed.size === 0 ? undefined : watchTier();
    if (watching && watching.tier !== best) {
      for (const stop of watching.stops.values()) stop();
      // Detaching because nobody watches any more (a clean shutdown) is not a switch.
      if (needed.size > 0) emitEvent({ type: 'watch-switch', from: watching.tier.store.name, to: best?.store.name });
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
      const coveredBefore = new Set(seededScopes);
      current.stops.set(
        scope,
        best.store.watch((change) => deliver(change, coveredBefore), {
          scope: scope === '*' ? undefined : (scope as Scope),
          initial: true,
          onError: (error) => {
            if (isOutage(error)) breakers.failure(best, error);
            reportWatchError(error);
          },
        }),
      );
    }
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

  /** Every head document of `query` from one durable tier (bulk when it can), in key order. */
  async function headDocumentsOf(s: ConfigStore, query: ListQuery, readOptions?: ReadOptions) {
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
  }

  /** A list from a durable tier is behind when any ref in it is older than this process has seen. */
  const behind = (items: readonly { ref: ConfigRef; version: number }[]) =>
    items.some((h) => h.version < floorOf(refKey(h.ref)));

  const store: FailoverStore = {
    name: 'failover',
    capabilities,

    async getHead(ref, readOptions) {
      const r = parseRef(ref);
      const key = refKey(r);
      const { value } = await readThrough(
        order(readOptions?.consistent),
        async (t) => judgeHead(t, key, await t.store.getHead(r, readOptions)),
        true,
        key,
      );
      if (value) noteSeen(key, value.version);
      return value;
    },

    async getVersion(ref, version, readOptions) {
      return (await getVersionDetailed(ref, version, readOptions)).doc;
    },

    getVersionDetailed,

    async listHeads(query: ListQuery = {}, readOptions) {
      // The cache holds only what this process has read: never a complete list.
      const { value } = await readThrough(
        order(readOptions?.consistent, durable),
        async (t) => {
          const heads = await t.store.listHeads(query, readOptions);
          return behind(heads) ? BEHIND : heads;
        },
        true,
      );
      return value ?? [];
    },

    async getHeadDocuments(query: ListQuery = {}, readOptions?: ReadOptions) {
      const { value, tier } = await readThrough(
        order(readOptions?.consistent, durable),
        async (t) => {
          const docs = await headDocumentsOf(t.store, query, readOptions);
          return behind(docs) ? BEHIND : docs;
        },
        true,
      );
      const docs = value ?? [];
      for (const d of docs) noteSeen(refKey(d.ref), d.version);
      if (cache) for (const d of docs) void cache.store.prime?.(d).catch(() => {});
      return { docs, source: tier.store.name, stale: !tier.durable };
    },

    async listVersions(ref, readOptions) {
      const r = parseRef(ref);
      // The tier that keeps every version answers first; a pruned tier lists only what it keeps.
      const keepsAll = (t: Tier) => (t.role === 'record' || t.store.capabilities.historyLimit === undefined ? 0 : 1);
      const complete = [...durable].sort((a, b) => keepsAll(a) - keepsAll(b));
      return (await readThrough(complete, (t) => t.store.listVersions(r, readOptions), false)).value ?? [];
    },

    async append(doc, appendOptions = {}) {
      await sync.ready;
      lifecycle.assertOpen();
      const key = refKey(parseRef(doc.ref));
      const written = await write(doc, { signal: appendOptions.signal, fence: appendOptions.fence });
      noteSeen(key, written.version);
      if (cache) await cache.store.prime?.(written).catch(() => {});
      return written;
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
      // Attach once the tiers were checked, so the first watch never lands on an unverified mirror.
      if (started) refreshWatch();
      else void sync.ready.then(startWatching);
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
      await sync.ready;
      const targets = tiers.filter((t) => t.durable && t.store.capabilities.appliedState && t.state !== 'open');
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
      const withAcks = tiers.filter((t) => t.durable && t.store.capabilities.appliedState);
      return (await readThrough(withAcks, (t) => t.store.listAcks?.(r) ?? Promise.resolve([]), false)).value ?? [];
    },

    async ping() {
      await readThrough(
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
        watching: watching?.tier.store.name,
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
        if (watching) for (const stop of watching.stops.values()) stop();
        watching = undefined;
        subs.clear();
        subScopes.clear();
        await Promise.allSettled(tiers.map((t) => t.recovering));
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
