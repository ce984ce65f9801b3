import type { ConfigError } from '../errors/config-error.js';
import type { ConfigRef, Scope } from '../model/ref.js';
import type { ConfigVersion, Head } from '../model/version.js';
import type { ExtendOptions, MirrorLag, PendingAppend, ProvisionalVersion } from './roles.js';

/**
 * What a store can do beyond the required members. Callers read these flags; they never probe
 * for methods.
 */
export interface StoreCapabilities {
  /** `watch()` pushes head changes (every store implements `watch`; false means it only polls). */
  readonly watch: boolean;
  /** Data survives a restart of this process. The memory store is not durable. */
  readonly durable: boolean;
  /** Versions kept per ref; `undefined` keeps every version. Consul keeps the last 20 by default. */
  readonly historyLimit: number | undefined;
  /** Honours `{ consistent: true }` with a linearizable read (Consul `?consistent`). */
  readonly consistentReads: boolean;
  /** Implements `ack()` and `listAcks()` for applied-state acknowledgements. */
  readonly appliedState: boolean;
  /** A cache tier: implements `prime()`. */
  readonly cache?: boolean;
  /** Implements `replace()`, used only by reconciliation to repair a conflicting version. */
  readonly repair?: boolean;
  /** A store over tiers: implements `getVersionDetailed()`, which says which tier answered. */
  readonly tiered?: boolean;
  /** Implements `getHeadDocuments()`: every head document of a scope in one or a few round trips. */
  readonly bulkReads?: boolean;
  /**
   * The durable record (PostgreSQL): keeps every version and orders writes. Implements the
   * {@link RecordProtocol} members: `beginAppend`, `listLagging`, `markMirrored`, `readEpoch`,
   * `writeEpoch`. A failover chain has at most one.
   */
  readonly record?: boolean;
  /**
   * A serving mirror of the record (Consul): takes provisional appends while the record is
   * unreachable and never prunes them, copies runs of versions (`extend`), keeps the epoch. Implements
   * the {@link MirrorProtocol} members.
   */
  readonly mirror?: boolean;
}

/** Which tier answered a read, and whether the answer may be behind the durable record. */
export interface ReadSource {
  /** The tier that answered, e.g. `consul`, `postgres`, `memory`. */
  readonly source: string;
  /** True when no durable tier answered (the cache or a snapshot did). */
  readonly stale: boolean;
}

export interface ReadOptions {
  /** A linearizable read for CAS-critical paths, where the store supports it. Default false. */
  consistent?: boolean;
  signal?: AbortSignal;
}

export interface ListQuery {
  /** Only heads of this scope. Default: every scope. */
  scope?: Scope;
  /** Only ids starting with this string (matched on whole characters, not segments). */
  prefix?: string;
}

/** A head moved. Emitted once per observed change, in order per ref. */
export interface HeadChange {
  readonly ref: ConfigRef;
  /** `<scope>/<id>` */
  readonly key: string;
  readonly version: number;
  readonly checksum: string;
  /** True for the heads emitted at start when `initial: true` was asked for. */
  readonly initial: boolean;
  /**
   * The version itself, when the store delivered it with the change (Consul's change feed carries
   * documents up to 2 KiB), already verified like any read: a reader need not fetch it.
   */
  readonly document?: ConfigVersion;
  /** The store the change (and its document) came from, when a failover chain delivered it. */
  readonly source?: string;
}

export interface WatchOptions {
  /** Only this scope. Default: every scope (one watch on the whole head tree). */
  scope?: Scope;
  /** Stops the watch; same as calling the returned function. */
  signal?: AbortSignal;
  /** Emit every current head first (`initial: true`), then changes. Default false. */
  initial?: boolean;
  /**
   * Called when the watch hits a problem it is retrying (e.g. `BACKEND_UNAVAILABLE`), or a head
   * that fails verification. The watch keeps going; it stops only when unwatched or closed.
   */
  onError?: (error: ConfigError) => void;
}

export type HeadListener = (change: HeadChange) => void;
export type Unwatch = () => void;

/**
 * The fence of a leader-only write (reconciliation, drift repair): a store that can check it makes
 * the check part of the same atomic write and refuses the write with `CONFLICTING_CHANGE` once the
 * writer no longer holds the lock. Stores that cannot check a given fence ignore it.
 */
export interface WriteFence {
  /** The lock's fencing token (Consul's LockIndex), for logs and stores that compare tokens. */
  readonly token: number;
  /**
   * Atomic checks keyed by store name (`ConfigStore.name`): each store reads only its own entry
   * (`fenceCheck`), in the form it defines. A Consul store takes the leader lock's
   * `check-session` transaction operation (`LeaderLock.guardOp()`), e.g. `{ consul: lock.guardOp() }`
   * for the store named `consul`. A fence passed down a failover chain reaches every tier unchanged.
   */
  readonly checks?: Readonly<Record<string, unknown>>;
}

export interface AppendOptions {
  signal?: AbortSignal;
  fence?: WriteFence;
  /**
   * Mirror stores only (`capabilities.mirror`): the record did not take this version, so the mirror
   * marks it provisional in the same atomic write and never prunes it until it is cleared.
   */
  provisional?: boolean;
}

/** A client's acknowledgement of what it applied. */
export interface AppliedAck {
  readonly ref: ConfigRef;
  readonly environment: string;
  readonly instance: string;
  readonly version: number;
  readonly checksum: string;
  readonly status: 'applied' | 'rejected';
  readonly reason?: string;
  /** ISO-8601 UTC. */
  readonly at: string;
}

/**
 * The one contract every store implements (memory, Consul, PostgreSQL, PGlite, failover).
 *
 * Failure rules: a missing ref or version is `undefined`; an unreachable store rejects with
 * `BACKEND_UNAVAILABLE` (never `undefined`); a stored document whose checksum does not verify
 * rejects with `CHECKSUM_MISMATCH` (never served); after `close()` every call rejects with `CLOSED`.
 * Every entry point validates refs first and rejects a bad one with `INVALID_CONFIG_REF`.
 */
export interface ConfigStore extends AsyncDisposable {
  /** Tier name used in errors and `source` fields: `memory`, `consul`, `postgres`, `pglite`, ... */
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  /** The head of `ref`, or `undefined` when the ref has never been written. */
  getHead(ref: ConfigRef, options?: ReadOptions): Promise<Head | undefined>;

  /**
   * Version `version` of `ref` (the head when omitted), verified against its checksum, or
   * `undefined` when this store does not hold it (never written, or pruned by `historyLimit`).
   */
  getVersion(ref: ConfigRef, version?: number, options?: ReadOptions): Promise<ConfigVersion | undefined>;

  /** Tiered stores only (`capabilities.tiered`): like `getVersion`, and says which tier answered. */
  getVersionDetailed?(
    ref: ConfigRef,
    version?: number,
    options?: ReadOptions,
  ): Promise<{ doc: ConfigVersion | undefined } & ReadSource>;

  /**
   * Bulk reads only (`capabilities.bulkReads`): the head document of every ref matching `query`,
   * verified, sorted by key, with the tier that answered. Used for cold starts of many refs.
   */
  getHeadDocuments?(query?: ListQuery, options?: ReadOptions): Promise<{ docs: ConfigVersion[] } & ReadSource>;

  /** Heads matching `query`, sorted by key. */
  listHeads(query?: ListQuery, options?: ReadOptions): Promise<Head[]>;

  /** Version numbers this store holds for `ref`, ascending (empty when unknown). */
  listVersions(ref: ConfigRef, options?: ReadOptions): Promise<number[]>;

  /**
   * Appends a complete, checksummed version (built with `createVersion`) and moves the head to it,
   * atomically. Compare-and-set: the current head must be `doc.version - 1` (no head for version 1),
   * otherwise it rejects with `VERSION_CONFLICT` and writes nothing. Re-verifies the document and
   * enforces the size limit before anything is sent.
   */
  append(doc: ConfigVersion, options?: AppendOptions): Promise<ConfigVersion>;

  /**
   * Subscribes to head changes. Returns a function that stops the subscription (idempotent).
   * A listener that throws is reported through `onError` and never stops other listeners.
   * Throws `CLOSED` synchronously after `close()`.
   */
  watch(listener: HeadListener, options?: WatchOptions): Unwatch;

  /** Records an applied-state acknowledgement. Only when `capabilities.appliedState`. */
  ack?(ack: AppliedAck): Promise<void>;
  /**
   * Records many acknowledgements in a few requests (one SQL statement, one Consul transaction per
   * 64): a client's start-up acknowledges every ref at once. Same effect as `ack` on each in order
   * (a later acknowledgement of the same ref, environment and instance wins); rejects with
   * `INVALID_CONFIG_REF` or `CONSTRAINT_VIOLATION`, writing nothing, when one is malformed. Optional even when
   * `capabilities.appliedState`: without it, callers send `ack` per acknowledgement.
   */
  ackMany?(acks: readonly AppliedAck[]): Promise<void>;
  /** Acknowledgements for `ref`, all instances and environments. Only when `capabilities.appliedState`. */
  listAcks?(ref: ConfigRef): Promise<AppliedAck[]>;

  /**
   * Cache tiers only (`capabilities.cache`): stores an already verified version whatever the current
   * head, moving the head forward only (never back). Used by the failover chain to fill its cache.
   */
  prime?(doc: ConfigVersion): Promise<void>;

  /**
   * Reconciliation only (`capabilities.repair`): overwrites version `doc.version`, which this store
   * already holds with other content, with `doc`; the head moves only if it pointed at that version.
   * The store records `reason` in its audit trail where it has one.
   */
  replace?(doc: ConfigVersion, options: { reason: string; fence?: WriteFence }): Promise<void>;

  // -- the record protocol (`capabilities.record`), see roles.ts
  beginAppend?(doc: ConfigVersion, options?: { signal?: AbortSignal }): Promise<PendingAppend>;
  listLagging?(options?: { limit?: number; signal?: AbortSignal }): Promise<MirrorLag[]>;
  markMirrored?(ref: ConfigRef, version: number): Promise<void>;

  // -- the mirror protocol (`capabilities.mirror`), see roles.ts
  listProvisional?(options?: { signal?: AbortSignal }): Promise<ProvisionalVersion[]>;
  markProvisional?(items: readonly ProvisionalVersion[]): Promise<void>;
  clearProvisional?(items: readonly ProvisionalVersion[], options?: { fence?: WriteFence }): Promise<void>;
  extend?(ref: ConfigRef, docs: readonly ConfigVersion[], options: ExtendOptions): Promise<void>;

  // -- both protocols
  readEpoch?(options?: { signal?: AbortSignal }): Promise<string | undefined>;
  writeEpoch?(value: string, expected: string | undefined, options?: { fence?: WriteFence }): Promise<string>;

  /** Cheap health probe: resolves when the store answers, rejects `BACKEND_UNAVAILABLE` otherwise. */
  ping(options?: { signal?: AbortSignal }): Promise<void>;

  /** Stops watches and releases connections. Idempotent; later calls of other members reject `CLOSED`. */
  close(): Promise<void>;
}
