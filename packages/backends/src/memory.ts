/**
 * `@summit-config/backends/memory`: in-memory implementations of core's persistence contracts: the
 * config store (here), governance storage and migration history (one file each beside this one).
 * For tests, demos, the failover chain's cache tier and single-process use: nothing is durable.
 * The secrets' contracts have theirs in `@summit-config/secrets` (`createMemoryRotationPolicies`,
 * `createMemorySecretStorage`), whose main entry loads nothing but core.
 */
import {
  type AppliedAck,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type Head,
  type HeadChange,
  type HeadListener,
  type ListQuery,
  parseRef,
  refKey,
  type StoreCapabilities,
  type Unwatch,
  type WatchOptions,
} from '@summit-config/core';
import {
  compareHeads,
  DEFAULT_MAX_DOCUMENT_BYTES,
  errors,
  headChange,
  headOf,
  Lifecycle,
  ListenerSet,
  onAbort,
  verifyVersion,
} from '@summit-config/core/internal';

export { createMemoryGovernance, type MemoryGovernanceOptions } from './memory-governance.js';
export { createMemoryMigrationHistory, type MemoryMigrationHistoryOptions } from './memory-migration-history.js';

export interface MemoryStoreOptions {
  /**
   * Most documents (versions) kept; the least recently used beyond this are evicted and read as
   * `undefined` (a cache miss). Heads are never evicted. Default 100 000.
   */
  maxDocuments?: number;
  /** Largest canonical JSON of a document, in bytes. Default 256 KiB. */
  maxDocumentBytes?: number;
  /** Tier name reported in errors and `source`. Default `memory`. */
  name?: string;
  /**
   * For tests and demos of the failover chain: the store plays the durable `record` (PostgreSQL's
   * role) or the `mirror` (Consul's role), and declares itself durable. Default: a cache.
   */
  role?: 'record' | 'mirror';
}

/** What a memory store's document reads found, since it was created (for cache metrics). */
export interface MemoryStoreStats {
  /** `getVersion` calls answered with a document. */
  readonly hits: number;
  /** `getVersion` calls answered with `undefined` (never held, or evicted). */
  readonly misses: number;
  /** Documents evicted as least recently used beyond `maxDocuments`. */
  readonly evictions: number;
  /** Documents held now. */
  readonly size: number;
}

/** The memory store: a `ConfigStore`, plus the counts of its document reads. */
export interface MemoryStore extends ConfigStore {
  /**
   * Hits, misses and evictions of `getVersion` since creation, and the documents held now. As the
   * failover chain's cache tier, a hit is a read the cache answered while the durable tiers could
   * not. Never throws, also after close.
   */
  stats(): MemoryStoreStats;
}

function checkOptions(options: MemoryStoreOptions) {
  const maxDocuments = options.maxDocuments ?? 100_000;
  if (!Number.isSafeInteger(maxDocuments) || maxDocuments < 1) {
    throw errors.constraint(`memory store option maxDocuments must be a positive integer, got ${maxDocuments}`);
  }
  const maxDocumentBytes = options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  if (!Number.isSafeInteger(maxDocumentBytes) || maxDocumentBytes < 1) {
    throw errors.constraint(`memory store option maxDocumentBytes must be a positive integer, got ${maxDocumentBytes}`);
  }
  const role = options.role;
  if (role !== undefined && role !== 'record' && role !== 'mirror') {
    throw errors.constraint(`memory store option role must be "record" or "mirror", got ${JSON.stringify(role)}`);
  }
  return { maxDocuments, maxDocumentBytes, name: options.name ?? 'memory', role };
}

interface Subscription {
  scope: WatchOptions['scope'];
  listener: HeadListener;
  onError: WatchOptions['onError'];
}

/**
 * The documents, bounded: a `Map` in recency order (a read moves its entry to the end), the least
 * recently used evicted beyond `max`. Nothing is allocated up front, so a store costs nothing to
 * create (a preallocating LRU spent ~9 ms of a process's start-up on 100 000 empty slots).
 */
class DocumentCache {
  readonly #entries = new Map<string, ConfigVersion>();
  /** Entries evicted beyond `max`. */
  evictions = 0;
  constructor(readonly max: number) {}

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): ConfigVersion | undefined {
    const doc = this.#entries.get(key);
    if (doc !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, doc);
    }
    return doc;
  }

  /** Whether the key is held; does not count as a use. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  set(key: string, doc: ConfigVersion): void {
    this.#entries.delete(key);
    this.#entries.set(key, doc);
    if (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) {
        this.#entries.delete(oldest.value);
        this.evictions++;
      }
    }
  }
}

/**
 * A complete store in process memory: the cache tier of the failover chain, and a store for tests
 * and demos. Not durable. Appends are atomic (one synchronous section), so compare-and-set holds
 * for concurrent callers in this process.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const opts = checkOptions(options);
  const lifecycle = new Lifecycle(`${opts.name} store`);
  const heads = new Map<string, Head>();
  const docs = new DocumentCache(opts.maxDocuments);
  const acks = new Map<string, AppliedAck>();
  const subscriptions = new ListenerSet<HeadChange>();
  const limits = { maxDocumentBytes: opts.maxDocumentBytes };
  let hits = 0;
  let misses = 0;

  const capabilities: StoreCapabilities = Object.freeze({
    watch: true,
    durable: opts.role !== undefined,
    historyLimit: undefined,
    consistentReads: true,
    appliedState: true,
    cache: opts.role === undefined,
    repair: true,
    bulkReads: true,
    record: opts.role === 'record',
    mirror: opts.role === 'mirror',
  });
  // The record and mirror protocols (roles.ts), implemented whatever the role so that tests can
  // wrap a memory store in any role.
  const mirrored = new Map<string, number>();
  const provisional = new Set<string>();
  let epoch: string | undefined;
  const locks = new Map<string, Promise<void>>();

  /** Serialises appends of one ref (a pending `beginAppend` holds the lock until it settles). */
  async function lockRef(key: string): Promise<() => void> {
    const previous = locks.get(key) ?? Promise.resolve();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chained = previous.then(() => held);
    locks.set(key, chained);
    await previous;
    return () => {
      release();
      if (locks.get(key) === chained) locks.delete(key);
    };
  }

  function expectHead(key: string, version: number): void {
    const current = heads.get(key)?.version ?? 0;
    if (current !== version - 1) {
      throw errors.versionConflict(`${key}: expected head v${version - 1}, found v${current}`, {
        ref: key,
        version,
        backend: opts.name,
      });
    }
  }

  /** Stores a verified document and moves the head forward (never back); emits the change. */
  function put(verified: ConfigVersion, moveHead: (current: number) => boolean): void {
    const key = refKey(verified.ref);
    docs.set(`${key}@${verified.version}`, verified);
    const current = heads.get(key);
    if (
      moveHead(current?.version ?? 0) &&
      (current?.checksum !== verified.checksum || current.version !== verified.version)
    ) {
      const head = headOf(verified);
      heads.set(key, head);
      const change = headChange(head, false);
      queueMicrotask(() => subscriptions.emit(change));
    }
  }

  function open(ref: ConfigRef): ConfigRef {
    lifecycle.assertOpen();
    return parseRef(ref);
  }

  function matches(query: ListQuery, head: Head): boolean {
    return (
      (query.scope === undefined || head.ref.scope === query.scope) &&
      (query.prefix === undefined || head.ref.id.startsWith(query.prefix))
    );
  }

  const store: MemoryStore = {
    name: opts.name,
    capabilities,

    stats() {
      return { hits, misses, evictions: docs.evictions, size: docs.size };
    },

    async getHead(ref) {
      return heads.get(refKey(open(ref)));
    },

    async getVersion(ref, version) {
      const key = refKey(open(ref));
      const wanted = version ?? heads.get(key)?.version;
      const doc = wanted === undefined ? undefined : docs.get(`${key}@${wanted}`);
      if (doc) hits++;
      else misses++;
      return doc;
    },

    async listHeads(query = {}) {
      lifecycle.assertOpen();
      return [...heads.values()].filter((h) => matches(query, h)).sort((a, b) => compareHeads(a, b));
    },

    async getHeadDocuments(query = {}) {
      lifecycle.assertOpen();
      const docsOut: ConfigVersion[] = [];
      for (const head of [...heads.values()].filter((h) => matches(query, h)).sort(compareHeads)) {
        const doc = docs.get(`${refKey(head.ref)}@${head.version}`);
        // An evicted head document makes the answer incomplete: say so rather than return a partial list.
        if (!doc) throw errors.unavailable(opts.name, new Error(`head document of ${refKey(head.ref)} was evicted`));
        docsOut.push(doc);
      }
      return { docs: docsOut, source: opts.name, stale: false };
    },

    async listVersions(ref) {
      const key = refKey(open(ref));
      const head = heads.get(key);
      const out: number[] = [];
      for (let v = 1; head && v <= head.version; v++) if (docs.has(`${key}@${v}`)) out.push(v);
      return out;
    },

    async append(doc, appendOptions = {}) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, opts.name);
      const key = refKey(verified.ref);
      const release = await lockRef(key);
      try {
        expectHead(key, verified.version);
        put(verified, () => true);
        mirrored.set(key, verified.version);
        if (appendOptions.provisional) provisional.add(`${key}@${verified.version}`);
        return verified;
      } finally {
        release();
      }
    },

    async beginAppend(doc) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, opts.name);
      const key = refKey(verified.ref);
      const release = await lockRef(key);
      try {
        expectHead(key, verified.version);
      } catch (error) {
        release();
        throw error;
      }
      let settled = false;
      return {
        doc: verified,
        async commit({ mirrored: held }) {
          if (settled) return;
          settled = true;
          put(verified, () => true);
          if (held) mirrored.set(key, verified.version);
          release();
        },
        async rollback() {
          if (settled) return;
          settled = true;
          release();
        },
      };
    },

    async listLagging(o = {}) {
      lifecycle.assertOpen();
      const out = [...heads.values()]
        .filter((h) => (mirrored.get(refKey(h.ref)) ?? 0) < h.version)
        .sort(compareHeads)
        .map((h) => Object.freeze({ ref: h.ref, version: h.version, mirrored: mirrored.get(refKey(h.ref)) ?? 0 }));
      return out.slice(0, o.limit ?? 1000);
    },

    async markMirrored(ref, version) {
      const key = refKey(open(ref));
      const head = heads.get(key)?.version ?? 0;
      mirrored.set(key, Math.max(mirrored.get(key) ?? 0, Math.min(version, head)));
    },

    async listProvisional() {
      lifecycle.assertOpen();
      return [...provisional].sort().map((k) => {
        const at = k.lastIndexOf('@');
        return Object.freeze({ ref: parseRef(k.slice(0, at)), version: Number(k.slice(at + 1)) });
      });
    },

    async markProvisional(items) {
      lifecycle.assertOpen();
      for (const item of items) provisional.add(`${refKey(parseRef(item.ref))}@${item.version}`);
    },

    async clearProvisional(items) {
      lifecycle.assertOpen();
      for (const item of items) provisional.delete(`${refKey(parseRef(item.ref))}@${item.version}`);
    },

    async extend(ref, run, o) {
      const key = refKey(open(ref));
      const verified = run.map((d) => verifyVersion(d, limits, opts.name));
      const release = await lockRef(key);
      try {
        const current = heads.get(key)?.version ?? 0;
        if (current !== o.expectedHead) {
          throw errors.versionConflict(`${key}: expected head v${o.expectedHead}, found v${current}`, {
            ref: key,
            backend: opts.name,
          });
        }
        let last = current;
        for (const d of verified) {
          if (refKey(d.ref) !== key || d.version <= last) {
            throw errors.constraint(`extend: versions must be of ${key} and ascend past v${last}`, { ref: key });
          }
          last = d.version;
        }
        for (const d of verified) put(d, () => true);
      } finally {
        release();
      }
    },

    async readEpoch() {
      lifecycle.assertOpen();
      return epoch;
    },

    async writeEpoch(value, expected) {
      lifecycle.assertOpen();
      if (epoch === expected) epoch = value;
      return epoch as string;
    },

    async prime(doc) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, opts.name);
      put(verified, (current) => verified.version >= current);
    },

    async replace(doc) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, opts.name);
      put(verified, (current) => verified.version === current);
    },

    watch(listener, watchOptions = {}): Unwatch {
      lifecycle.assertOpen();
      const sub: Subscription = { scope: watchOptions.scope, listener, onError: watchOptions.onError };
      const initial = watchOptions.initial
        ? [...heads.values()].filter((h) => matches({ scope: sub.scope }, h)).sort(compareHeads)
        : [];
      let active = true;
      const deliver = (change: HeadChange) => {
        if (!active || (sub.scope !== undefined && change.ref.scope !== sub.scope)) return;
        try {
          sub.listener(change);
        } catch (error) {
          sub.onError?.(errors.constraint(`watch listener threw: ${String(error)}`, { cause: error }));
        }
      };
      // Subscribe first, then deliver the snapshot taken above ahead of any later change.
      const remove = subscriptions.add(deliver);
      if (initial.length > 0)
        queueMicrotask(() => {
          for (const h of initial) deliver(headChange(h, true));
        });
      let offAbort = () => {};
      const unwatch = () => {
        active = false;
        remove();
        offAbort();
      };
      offAbort = onAbort(watchOptions.signal, unwatch);
      return unwatch;
    },

    async ack(ack) {
      const ref = open(ack.ref);
      acks.set(`${refKey(ref)}|${ack.environment}|${ack.instance}`, Object.freeze({ ...ack, ref }));
    },

    async ackMany(items) {
      // Every ref is checked before anything is recorded: a malformed batch records nothing.
      const refs = items.map((a) => open(a.ref));
      items.forEach((ack, i) => {
        const ref = refs[i] as ConfigRef;
        acks.set(`${refKey(ref)}|${ack.environment}|${ack.instance}`, Object.freeze({ ...ack, ref }));
      });
    },

    async listAcks(ref) {
      const prefix = `${refKey(open(ref))}|`;
      return [...acks.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
    },

    async ping() {
      lifecycle.assertOpen();
    },

    close() {
      return lifecycle.close(() => {
        subscriptions.clear();
      });
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}
