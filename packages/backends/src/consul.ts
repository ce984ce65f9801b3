/**
 * The Consul store: the primary tier. Layout (see consul-layout.ts) under a prefix, `summit/` by default:
 * `heads/<scope>/<id>` (tiny, the only watched tree), `docs/<scope>/<id>/v/<N>` (immutable versions),
 * `applied/<scope>/<id>/<env>/<instance>` (acknowledgements held by a session), `locks/<name>`.
 *
 * - append: one `/v1/txn` (check-not-exists on the doc, set the doc, CAS the head on the ModifyIndex
 *   read with `?consistent`, or check-not-exists + set for version 1). A lost race is VERSION_CONFLICT.
 *   After its own append of a ref the store remembers the head's ModifyIndex and CASes on it directly
 *   next time (the read is only skipped, never the CAS). Appends of different refs waiting at the
 *   same time share a transaction (group commit, consul-txn-batch.ts); each stays atomic.
 * - reads verify every document's checksum, that it is the document asked for, and that the head's
 *   checksum matches its document: CHECKSUM_MISMATCH otherwise, never served.
 * - watch: one recursive blocking query per watched scope, shared by its listeners (consul-watch.ts).
 * - history: the last `historyLimit` versions per ref stay in Consul; older documents are deleted in
 *   the background after the append succeeded (batched, best effort, never failing the append).
 * - acks: written with `?acquire` under one session per store (behavior `delete`), renewed in the
 *   background, destroyed on close, so an instance's acknowledgements vanish when it dies.
 */
import {
  type AppliedAck,
  backoffDelay,
  ConfigError,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  DEFAULT_MAX_DOCUMENT_BYTES,
  delay,
  errors,
  type Head,
  isConfigError,
  isPlainObject,
  Lifecycle,
  type ListQuery,
  onAbort,
  parseEnvironmentName,
  parseRef,
  parseScope,
  type ReadOptions,
  refKey,
  type Scope,
  type StoreCapabilities,
  serializeVersion,
  type Unwatch,
  verifyVersion,
  type WriteFence,
} from '@summit-config/core';
import {
  base64,
  type ConsulConnectionOptions,
  ConsulHttp,
  isInvalidSession,
  type KvEntry,
  resolveConnection,
  type TxnError,
  type TxnOp,
} from './consul-http.js';
import { checkInstance, checkPrefix, decodeHead, encodeHead, Layout } from './consul-layout.js';
import { ManagedSession, resolveSessionSettings } from './consul-session.js';
import { MAX_TXN_OPS, TxnBatcher } from './consul-txn-batch.js';
import { HeadWatcher, type WatcherStats } from './consul-watch.js';

export type { ConsulConnectionOptions, ConsulTlsOptions } from './consul-http.js';
export { createLeaderLock, type LeaderLock, type LeaderLockOptions } from './consul-lock.js';
export { type ConsulSession, type ConsulSessionOptions, createConsulSession } from './consul-session.js';

/** Consul's default cap on one KV value (`kv_max_value_size`), in bytes. */
export const CONSUL_MAX_VALUE_BYTES = 512 * 1024;
/** Consul's default cap on a `/v1/txn` request body (`limits.txn_max_req_len`), in bytes. */
export const CONSUL_MAX_TXN_BYTES = 512 * 1024;

export interface ConsulStoreOptions extends ConsulConnectionOptions {
  /** Key prefix of every key the store writes; segments each ending in `/`. Default `summit/`. */
  prefix?: string;
  /** Tier name used in errors and `source` fields. Default `consul`. */
  name?: string;
  /**
   * Versions kept per ref in Consul; older documents are deleted after a successful append
   * (best effort). 1 to 100000. Default 20. Reported as `capabilities.historyLimit`.
   */
  historyLimit?: number;
  /** Largest canonical JSON of a document, in bytes. Default 256 KiB; at most `maxValueBytes`. */
  maxDocumentBytes?: number;
  /** The server's `kv_max_value_size`: a serialised document above this is refused before sending. Default 512 KiB. */
  maxValueBytes?: number;
  /**
   * The server's `limits.txn_max_req_len`: an append whose `/v1/txn` body (values base64-encoded) is
   * above this is refused before sending. Default 512 KiB.
   */
  maxTxnBytes?: number;
  /** How long one blocking query waits for a change, ms (1 s to 10 min). Default 30000. */
  watchWaitMs?: number;
  /**
   * Token bucket on each watch loop: at most `burst` requests at once, refilled at `perSecond`.
   * Default `{ perSecond: 200, burst: 200 }`.
   */
  watchRateLimit?: { perSecond?: number; burst?: number };
  /** Backoff after a failed watch request: full jitter, base (ms). Default 100. */
  retryBaseMs?: number;
  /** Backoff cap (ms). Default 10000. */
  retryMaxMs?: number;
  /**
   * Remember the head's ModifyIndex after this store's own appends, so the next append of that ref
   * sends its transaction at once (CAS on the remembered index) instead of reading the head with
   * `?consistent` first. The CAS guards the write either way; when the memory is stale (another
   * writer moved the head) the append falls back to the consistent read. Default true.
   */
  cacheHeadIndex?: boolean;
  /**
   * TTL of the session that holds this store's acknowledgements (ms, 10 s to 24 h); when the process
   * dies its acks vanish within about this long (Consul may take up to twice the TTL). Default 30000.
   */
  ackSessionTtlMs?: number;
}

/** A Consul store; a `ConfigStore` plus what tests and operators need to see. */
export interface ConsulStore extends ConfigStore {
  /** The key prefix, e.g. `summit/`. */
  readonly prefix: string;
  /** The Consul address, e.g. `http://127.0.0.1:8500`. */
  readonly address: string;
  /** Running blocking queries: one per watched scope, whatever the number of listeners. */
  readonly activeWatches: number;
  /** Counters of the watch loops currently running, by scope (`*` for every scope). */
  watchStats(): Record<string, WatcherStats>;
  /** Waits for pending history pruning (deletes of documents beyond `historyLimit`). */
  flushHistory(): Promise<void>;
  /**
   * Append transactions sent, the appends (groups) they carried, and appends sent again because
   * another append in their transaction failed: group commit at work.
   */
  appendStats(): { transactions: number; groups: number; retried: number };
}

interface Resolved {
  name: string;
  prefix: string;
  historyLimit: number;
  maxDocumentBytes: number;
  maxValueBytes: number;
  maxTxnBytes: number;
  watchWaitMs: number;
  perSecond: number;
  burst: number;
  retryBaseMs: number;
  retryMaxMs: number;
  ackSessionTtlMs: number;
  cacheHeadIndex: boolean;
}

function intOption(what: string, name: string, value: unknown, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw errors.constraint(`${what} option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

function resolveOptions(options: ConsulStoreOptions): Resolved {
  const what = 'consul store';
  if (options === null || typeof options !== 'object') throw errors.constraint(`${what} options must be an object`);
  const name = options.name ?? 'consul';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
    throw errors.constraint(
      `${what} option name must be 1-64 characters of [A-Za-z0-9_.:-], got ${JSON.stringify(name)}`,
    );
  }
  const prefix = checkPrefix(options.prefix ?? 'summit/', what);
  const maxValueBytes = intOption(what, 'maxValueBytes', options.maxValueBytes, CONSUL_MAX_VALUE_BYTES, 1024, 64 << 20);
  const maxTxnBytes = intOption(what, 'maxTxnBytes', options.maxTxnBytes, CONSUL_MAX_TXN_BYTES, 1024, 64 << 20);
  const maxDocumentBytes = intOption(
    what,
    'maxDocumentBytes',
    options.maxDocumentBytes,
    Math.min(DEFAULT_MAX_DOCUMENT_BYTES, maxValueBytes),
    1,
    maxValueBytes,
  );
  const rate = options.watchRateLimit ?? {};
  if (rate === null || typeof rate !== 'object')
    throw errors.constraint(`${what} option watchRateLimit must be an object`);
  const perSecond = rate.perSecond ?? 200;
  if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > 100_000) {
    throw errors.constraint(
      `${what} option watchRateLimit.perSecond must be a number in (0, 100000], got ${perSecond}`,
    );
  }
  const burst = intOption(what, 'watchRateLimit.burst', rate.burst, 200, 1, 100_000);
  const retryBaseMs = intOption(what, 'retryBaseMs', options.retryBaseMs, 100, 1, 60_000);
  const retryMaxMs = intOption(what, 'retryMaxMs', options.retryMaxMs, 10_000, retryBaseMs, 600_000);
  const cacheHeadIndex = options.cacheHeadIndex ?? true;
  if (typeof cacheHeadIndex !== 'boolean') throw errors.constraint(`${what} option cacheHeadIndex must be a boolean`);
  return {
    name,
    prefix,
    historyLimit: intOption(what, 'historyLimit', options.historyLimit, 20, 1, 100_000),
    maxDocumentBytes,
    maxValueBytes,
    maxTxnBytes,
    watchWaitMs: intOption(what, 'watchWaitMs', options.watchWaitMs, 30_000, 1000, 600_000),
    perSecond,
    burst,
    retryBaseMs,
    retryMaxMs,
    ackSessionTtlMs: intOption(what, 'ackSessionTtlMs', options.ackSessionTtlMs, 30_000, 10_000, 86_400_000),
    cacheHeadIndex,
  };
}

const CHECKSUM_RE = /^[0-9a-f]{64}$/;

/** Creates a Consul store. Options are validated now; the connection opens on first use. */
export function createConsulStore(options: ConsulStoreOptions = {}): ConsulStore {
  const opts = resolveOptions(options);
  const conn = resolveConnection(options, 'consul store');
  const backend = opts.name;
  const http = new ConsulHttp(conn, backend);
  const layout = new Layout(opts.prefix);
  const lifecycle = new Lifecycle(`${backend} store`);
  const limits = { maxDocumentBytes: opts.maxDocumentBytes };
  const watchers = new Map<string, HeadWatcher>();

  const capabilities: StoreCapabilities = Object.freeze({
    watch: true,
    durable: true,
    historyLimit: opts.historyLimit,
    consistentReads: true,
    appliedState: true,
    repair: true,
    bulkReads: true,
    mirror: true,
  });

  // ---------------------------------------------------------------- helpers

  function open(ref: ConfigRef): ConfigRef {
    lifecycle.assertOpen();
    return parseRef(ref);
  }

  function mismatch(message: string, ref: ConfigRef, version?: number, cause?: unknown): ConfigError {
    return errors.checksumMismatch(message, { ref: refKey(ref), version, backend, cause });
  }

  /** Parses and verifies a stored document: it must be the version of `ref` asked for, and verify. */
  function decodeDoc(ref: ConfigRef, version: number, value: string | null): ConfigVersion {
    let raw: unknown;
    try {
      raw = JSON.parse(value ?? '');
    } catch (error) {
      throw mismatch(`${refKey(ref)} v${version}: the document stored in ${backend} is not JSON`, ref, version, error);
    }
    let doc: ConfigVersion;
    try {
      doc = verifyVersion(raw, limits, backend);
    } catch (error) {
      if (isConfigError(error, 'CHECKSUM_MISMATCH') || isConfigError(error, 'DOCUMENT_TOO_LARGE')) throw error;
      throw mismatch(
        `${refKey(ref)} v${version}: the document stored in ${backend} is malformed: ${(error as Error).message}`,
        ref,
        version,
        error,
      );
    }
    if (doc.ref.scope !== ref.scope || doc.ref.id !== ref.id || doc.version !== version) {
      throw mismatch(
        `${refKey(ref)} v${version}: ${backend} holds ${refKey(doc.ref)} v${doc.version} under this key`,
        ref,
        version,
      );
    }
    return doc;
  }

  /**
   * Consul left keys out of a recursive read (`X-Consul-Results-Filtered-By-ACLs`): an incomplete
   * list must not pass for the whole (it would drive deletes and drift verdicts), so it is refused.
   */
  function incomplete(what: string): ConfigError {
    return new ConfigError(
      'ACCESS_DENIED',
      `${backend}: the ACL token cannot read every key of the ${what}; ask for a scope it may read`,
      { backend },
    );
  }

  function crossCheck(head: Head, doc: ConfigVersion): void {
    if (head.checksum !== doc.checksum) {
      throw mismatch(
        `${refKey(head.ref)} v${head.version}: the head's checksum ${head.checksum.slice(0, 12)}… does not match its document's ${doc.checksum.slice(0, 12)}…`,
        head.ref,
        head.version,
      );
    }
  }

  /** The Consul check of a write fence (the lock's `check-session` op), when it has one. */
  function fenceOf(fence: WriteFence | undefined): TxnOp | undefined {
    const op = fence?.checks?.consul as TxnOp | undefined;
    if (op === undefined) return undefined;
    if (typeof op !== 'object' || op === null || !('KV' in op)) {
      throw errors.constraint('a write fence for consul must carry a transaction operation (LeaderLock.guardOp())');
    }
    return op;
  }

  function fencedOut(ref: ConfigRef, version: number): ConfigError {
    return new ConfigError(
      'CONFLICTING_CHANGE',
      `${refKey(ref)} v${version}: refused by the write fence: this process no longer holds the leader lock`,
      { ref: refKey(ref), version, backend },
    );
  }

  function txnFailure(ref: ConfigRef, version: number, failed: TxnError[], conflictOps: number[]): ConfigError {
    const ctx = { ref: refKey(ref), version, backend };
    const what = failed.map((e) => `#${e.OpIndex}: ${e.What}`).join('; ');
    if (failed.some((e) => /permission denied|acl not found|forbidden/i.test(e.What))) {
      return new ConfigError(
        'ACCESS_DENIED',
        `${backend} refused the append of ${refKey(ref)} v${version}: ${what}`,
        ctx,
      );
    }
    if (failed.some((e) => /too large|exceeds/i.test(e.What))) {
      return new ConfigError('DOCUMENT_TOO_LARGE', `${backend} refused ${refKey(ref)} v${version}: ${what}`, ctx);
    }
    if (failed.every((e) => conflictOps.includes(e.OpIndex))) {
      return errors.versionConflict(
        `${refKey(ref)} v${version}: another writer moved the head first (${backend} rolled the transaction back: ${what})`,
        ctx,
      );
    }
    return errors.constraint(`${backend} rolled back the append of ${refKey(ref)} v${version}: ${what}`, ctx);
  }

  async function readHead(
    ref: ConfigRef,
    o: ReadOptions = {},
  ): Promise<{ head: Head; modifyIndex: number } | undefined> {
    const { entry } = await http.kvGet(layout.head(ref), { consistent: o.consistent, signal: o.signal });
    if (!entry) return undefined;
    return { head: decodeHead(ref, entry.Value, backend), modifyIndex: entry.ModifyIndex };
  }

  const batcher = new TxnBatcher(http, { maxBytes: opts.maxTxnBytes, maxInFlight: 4 });

  // ---------------------------------------------------------------- head index memory

  /**
   * ModifyIndex of heads this store wrote itself, so that the next append of the same ref can CAS
   * at once instead of reading the head first (`cacheHeadIndex`). Bounded; cleared whenever Consul
   * could have restarted (any failed request), since a restarted dev agent reuses indexes.
   */
  const headIndex = new Map<string, { version: number; modifyIndex: number }>();
  const HEAD_INDEX_MAX = 10_000;
  function rememberHead(key: string, version: number, modifyIndex: number): void {
    if (!opts.cacheHeadIndex) return;
    headIndex.delete(key);
    headIndex.set(key, { version, modifyIndex });
    if (headIndex.size > HEAD_INDEX_MAX) headIndex.delete(headIndex.keys().next().value as string);
  }
  function forgetHead(key: string): void {
    headIndex.delete(key);
  }
  http.onFailure(() => headIndex.clear());

  // ---------------------------------------------------------------- extend (copies from the record)

  /**
   * Writes a run of versions onto the head `expectedHead` (0: onto an absent ref), as few
   * transactions as Consul's limits allow, each checking the head it moves. Gaps below the run are
   * allowed: the record keeps every version, the mirror only the latest.
   */
  async function extendRun(
    ref: ConfigRef,
    run: readonly ConfigVersion[],
    o: { expectedHead: number; fence?: WriteFence; signal?: AbortSignal },
  ): Promise<void> {
    const key = refKey(ref);
    const docs = run.map((d) => verifyVersion(d, limits, backend));
    let last = o.expectedHead;
    for (const d of docs) {
      if (refKey(d.ref) !== key || d.version <= last) {
        throw errors.constraint(`extend: versions must be of ${key} and ascend past v${last}`, { ref: key, backend });
      }
      last = d.version;
    }
    if (docs.length === 0) return;
    const fenceOp = fenceOf(o.fence);
    const headKey = layout.head(ref);
    const current = await readHead(ref, { consistent: true, signal: o.signal });
    if ((current?.head.version ?? 0) !== o.expectedHead) {
      throw errors.versionConflict(`${key}: expected head v${o.expectedHead}, found v${current?.head.version ?? 0}`, {
        ref: key,
        backend,
      });
    }
    let observed = current?.modifyIndex;
    let i = 0;
    while (i < docs.length) {
      const ops: TxnOp[] = fenceOp ? [fenceOp] : [];
      const guardIndex = ops.length;
      ops.push(
        observed === undefined
          ? { KV: { Verb: 'check-not-exists', Key: headKey } }
          : { KV: { Verb: 'check-index', Key: headKey, Index: observed } },
      );
      let bytes = Buffer.byteLength(JSON.stringify(ops), 'utf8') + 400;
      const start = i;
      while (i < docs.length && ops.length < MAX_TXN_OPS - 1) {
        const d = docs[i] as ConfigVersion;
        const body = serializeVersion(d);
        const size = Buffer.byteLength(body, 'utf8');
        if (size > opts.maxValueBytes)
          throw errors.tooLarge(size, opts.maxValueBytes, { ref: key, version: d.version });
        const op: TxnOp = { KV: { Verb: 'set', Key: layout.doc(ref, d.version), Value: base64(body) } };
        const opBytes = Buffer.byteLength(JSON.stringify(op), 'utf8');
        if (i > start && bytes + opBytes > opts.maxTxnBytes) break;
        ops.push(op);
        bytes += opBytes;
        i++;
      }
      const top = docs[i - 1] as ConfigVersion;
      ops.push({ KV: { Verb: 'set', Key: headKey, Value: base64(encodeHead(top.version, top.checksum)) } });
      const out = await http.txn(ops, { signal: o.signal });
      if (!out.ok) {
        forgetHead(key);
        if (fenceOp && out.errors.some((e) => e.OpIndex === 0)) throw fencedOut(ref, top.version);
        if (out.errors.some((e) => e.OpIndex === guardIndex)) {
          throw errors.versionConflict(`${key}: another writer moved the head during a copy`, { ref: key, backend });
        }
        throw txnFailure(ref, top.version, out.errors, []);
      }
      observed = out.results.find((r) => r.KV?.Key === headKey)?.KV?.ModifyIndex;
    }
    if (observed !== undefined) rememberHead(key, last, observed);
    prune(ref, last);
  }

  // ---------------------------------------------------------------- history pruning

  const pruneQueue = new Set<string>();
  let pruneTimer: NodeJS.Timeout | undefined;
  let pruning: Promise<void> = Promise.resolve();
  let pruneFailures = 0;

  function schedulePrune(): void {
    if (pruneQueue.size >= MAX_TXN_OPS) {
      void flushPrunes();
      return;
    }
    if (pruneTimer) return;
    // Batch deletes (up to 64 per transaction) so pruning costs few raft writes.
    pruneTimer = setTimeout(() => {
      pruneTimer = undefined;
      void flushPrunes();
    }, 1000);
    pruneTimer.unref();
  }

  function flushPrunes(): Promise<void> {
    clearTimeout(pruneTimer);
    pruneTimer = undefined;
    pruning = pruning.then(async () => {
      if (pruneQueue.size === 0) return;
      // Never prune a provisional version (one the record may not hold): read the marks first.
      let keep: Set<string>;
      try {
        keep = await provisionalDocKeys();
      } catch {
        pruneFailures++;
        return;
      }
      for (const k of keep) pruneQueue.delete(k);
      while (pruneQueue.size > 0) {
        const keys = [...pruneQueue].slice(0, MAX_TXN_OPS);
        for (const k of keys) pruneQueue.delete(k);
        try {
          await http.txn(keys.map((Key): TxnOp => ({ KV: { Verb: 'delete', Key } })));
        } catch {
          // Best effort: a failed prune leaves old versions behind; the next sweep of the ref retries.
          pruneFailures++;
          return;
        }
      }
    });
    return pruning;
  }

  /** Provisional versions, as document keys. Refuses an ACL-filtered listing (it would hide marks). */
  async function provisionalDocKeys(): Promise<Set<string>> {
    return new Set((await readProvisional()).map((p) => layout.doc(p.ref, p.version)));
  }

  async function readProvisional(signal?: AbortSignal): Promise<Array<{ ref: ConfigRef; version: number }>> {
    const { keys, meta } = await http.kvKeys(layout.provisionalPrefix(), { consistent: true, signal });
    if (meta.filtered) throw incomplete('provisional marks');
    const out: Array<{ ref: ConfigRef; version: number }> = [];
    for (const key of keys) {
      const p = layout.provisionalOf(key);
      if (p) out.push(p);
    }
    return out;
  }

  /** Refs this store already swept for leftovers (bounded: forgotten wholesale when full). */
  const swept = new Set<string>();

  /**
   * After appending `version`: delete `version - historyLimit`. The first time this store prunes a
   * ref, and after a failed prune, it also sweeps the ref for older leftovers (a previous process,
   * a larger `historyLimit` before, a failed delete).
   */
  function prune(ref: ConfigRef, version: number): void {
    const oldest = version - opts.historyLimit; // newest version to delete
    if (oldest < 1) return;
    pruneQueue.add(layout.doc(ref, oldest));
    schedulePrune();
    const key = refKey(ref);
    if (!swept.has(key) || pruneFailures > 0) {
      if (swept.size >= 10_000) swept.clear();
      swept.add(key);
      pruneFailures = 0;
      void http
        .kvKeys(layout.docsPrefix(ref), { separator: '/' })
        .then(({ keys, meta }) => {
          if (meta.filtered || lifecycle.closed) return; // an ACL-filtered listing never drives deletes
          for (const key of keys) {
            const v = layout.versionOfDocKey(ref, key);
            if (v !== undefined && v <= oldest) pruneQueue.add(key);
          }
          schedulePrune();
        })
        .catch(() => {});
    }
  }

  // ---------------------------------------------------------------- acknowledgements

  const ackSession = new ManagedSession(
    http,
    resolveSessionSettings({}, 'consul store', {
      name: `summit-config acks (${backend})`,
      ttlMs: opts.ackSessionTtlMs,
      lockDelayMs: 0,
      behavior: 'delete',
    }),
  );
  /** This store's own acks, re-published under a new session after the old one was lost. */
  const myAcks = new Map<string, string>();
  let republishing = false;
  ackSession.onLost(() => void republish());

  async function republish(): Promise<void> {
    if (republishing || lifecycle.closed || myAcks.size === 0) return;
    republishing = true;
    try {
      for (let attempt = 0; !lifecycle.closed; attempt++) {
        try {
          const sid = await ackSession.ensure();
          for (const [key, value] of myAcks) await putAck(key, value, sid);
          return;
        } catch {
          await delay(backoffDelay(attempt, opts.retryBaseMs, opts.retryMaxMs)).catch(() => {});
        }
      }
    } finally {
      republishing = false;
    }
  }

  async function putAck(key: string, value: string, sid: string, signal?: AbortSignal): Promise<void> {
    if (await http.kvPut(key, value, { acquire: sid, signal })) return;
    // Held by another session: a previous process of this instance whose session has not expired
    // yet. Take the key over atomically (unlock with its session, lock with ours) if unchanged.
    const { entry } = await http.kvGet(key, { consistent: true, signal });
    if (entry?.Session && entry.Session !== sid) {
      const out = await http.txn(
        [
          { KV: { Verb: 'check-index', Key: key, Index: entry.ModifyIndex } },
          { KV: { Verb: 'unlock', Key: key, Value: base64(value), Session: entry.Session } },
          { KV: { Verb: 'lock', Key: key, Value: base64(value), Session: sid } },
        ],
        { signal },
      );
      if (out.ok) return;
    }
    if (await http.kvPut(key, value, { acquire: sid, signal })) return;
    throw errors.unavailable(backend, new Error(`could not acquire ${key} for the acknowledgement`));
  }

  function checkAck(ack: AppliedAck): { ref: ConfigRef; value: string; key: string } {
    if (!isPlainObject(ack)) throw errors.constraint('an acknowledgement must be an object');
    const ref = parseRef(ack.ref);
    const environment = parseEnvironmentName(ack.environment);
    const instance = checkInstance(ack.instance);
    const ctx = { ref: refKey(ref), backend };
    if (typeof ack.version !== 'number' || !Number.isSafeInteger(ack.version) || ack.version < 1) {
      throw errors.constraint('ack version must be an integer >= 1', ctx);
    }
    if (typeof ack.checksum !== 'string' || !CHECKSUM_RE.test(ack.checksum)) {
      throw errors.constraint('ack checksum must be 64 lower-case hex characters', ctx);
    }
    if (ack.status !== 'applied' && ack.status !== 'rejected') {
      throw errors.constraint('ack status must be "applied" or "rejected"', ctx);
    }
    if (ack.reason !== undefined && (typeof ack.reason !== 'string' || ack.reason.length > 4096)) {
      throw errors.constraint('ack reason must be a string of at most 4096 characters', ctx);
    }
    if (typeof ack.at !== 'string' || Number.isNaN(Date.parse(ack.at))) {
      throw errors.constraint('ack at must be an ISO-8601 timestamp', ctx);
    }
    const value = JSON.stringify({
      ref: { scope: ref.scope, id: ref.id },
      environment,
      instance,
      version: ack.version,
      checksum: ack.checksum,
      status: ack.status,
      ...(ack.reason === undefined ? {} : { reason: ack.reason }),
      at: ack.at,
    });
    return { ref, value, key: layout.ack(ref, environment, instance) };
  }

  function parseAck(ref: ConfigRef, entry: KvEntry): AppliedAck | undefined {
    const parts = layout.ackPartsOf(ref, entry.Key);
    if (!parts) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(entry.Value ?? '');
    } catch {
      return undefined;
    }
    if (!isPlainObject(raw)) return undefined;
    try {
      const stored = raw as unknown as AppliedAck;
      const { ref: ackRef } = checkAck({ ...stored, at: stored.at });
      if (ackRef.scope !== ref.scope || ackRef.id !== ref.id) return undefined;
      if (stored.environment !== parts.environment || stored.instance !== parts.instance) return undefined;
      return Object.freeze({ ...stored, ref: ackRef });
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------- the store

  const store: ConsulStore = {
    name: backend,
    capabilities,
    prefix: opts.prefix,
    address: conn.address,

    get activeWatches() {
      return watchers.size;
    },

    watchStats() {
      const out: Record<string, WatcherStats> = {};
      for (const [k, w] of watchers) out[k] = { ...w.stats };
      return out;
    },

    flushHistory() {
      return flushPrunes();
    },

    appendStats() {
      return { ...batcher.stats };
    },

    async getHead(refInput, o = {}) {
      const ref = open(refInput);
      return (await readHead(ref, o))?.head;
    },

    async getVersion(refInput, version, o = {}) {
      const ref = open(refInput);
      if (version === undefined) {
        const found = await readHead(ref, o);
        if (!found) return undefined;
        const { head } = found;
        const { entry } = await http.kvGet(layout.doc(ref, head.version), {
          consistent: o.consistent,
          signal: o.signal,
        });
        if (!entry) {
          throw mismatch(
            `${refKey(ref)}: the head points at v${head.version}, which ${backend} does not hold`,
            ref,
            head.version,
          );
        }
        const doc = decodeDoc(ref, head.version, entry.Value);
        crossCheck(head, doc);
        return doc;
      }
      if (!Number.isSafeInteger(version) || version < 1) return undefined;
      // One read-only transaction reads the head and the document from the same state.
      const out = await http.txn(
        [{ KV: { Verb: 'get', Key: layout.head(ref) } }, { KV: { Verb: 'get', Key: layout.doc(ref, version) } }],
        { consistent: o.consistent, signal: o.signal },
      );
      if (!out.ok) {
        if (out.errors.some((e) => /permission denied/i.test(e.What))) {
          throw new ConfigError('ACCESS_DENIED', `${backend} refused to read ${refKey(ref)} v${version}`, {
            ref: refKey(ref),
            version,
            backend,
          });
        }
        if (out.errors.some((e) => e.OpIndex === 1)) return undefined; // no such document
        throw mismatch(`${refKey(ref)} v${version}: ${backend} holds the document but no head`, ref, version);
      }
      const headValue = out.results[0]?.KV?.Value ?? null;
      const docValue = out.results[1]?.KV?.Value ?? null;
      const head = decodeHead(ref, headValue, backend);
      const doc = decodeDoc(ref, version, docValue);
      if (head.version === version) crossCheck(head, doc);
      else if (head.version < version) {
        throw mismatch(
          `${refKey(ref)} v${version}: the document is newer than the head (v${head.version})`,
          ref,
          version,
        );
      }
      return doc;
    },

    async listHeads(query: ListQuery = {}, o = {}) {
      lifecycle.assertOpen();
      const scope: Scope | undefined = query.scope === undefined ? undefined : parseScope(query.scope);
      const idPrefix = query.prefix ?? '';
      if (typeof idPrefix !== 'string') throw errors.constraint('list prefix must be a string');
      if (!/^[A-Za-z0-9_./-]*$/.test(idPrefix)) return []; // no id can start with it
      const keyPrefix = scope === undefined ? layout.headsPrefix() : `${layout.headsPrefix(scope)}${idPrefix}`;
      const { entries, meta } = await http.kvList(keyPrefix, { consistent: o.consistent, signal: o.signal });
      if (meta.filtered) throw incomplete(`heads under ${keyPrefix}`);
      const out: Head[] = [];
      for (const entry of entries) {
        const ref = layout.refOfHeadKey(entry.Key);
        if (!ref || (scope !== undefined && ref.scope !== scope) || !ref.id.startsWith(idPrefix)) continue;
        out.push(decodeHead(ref, entry.Value, backend));
      }
      return out.sort((a, b) => {
        const ka = refKey(a.ref);
        const kb = refKey(b.ref);
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
    },

    async getHeadDocuments(query: ListQuery = {}, o = {}) {
      // One recursive read of the heads, then their documents in read-only transactions of up to
      // MAX_TXN_OPS gets each, a few transactions at a time: 10 000 refs cost ~160 requests, not 10 000.
      const heads = await store.listHeads(query, o);
      const docs: ConfigVersion[] = new Array(heads.length);
      const batches: number[][] = [];
      for (let i = 0; i < heads.length; i += MAX_TXN_OPS) {
        batches.push(Array.from({ length: Math.min(MAX_TXN_OPS, heads.length - i) }, (_, k) => i + k));
      }
      let next = 0;
      const worker = async () => {
        while (next < batches.length) {
          const batch = batches[next++] as number[];
          const out = await http.txn(
            batch.map((i) => {
              const h = heads[i] as Head;
              return { KV: { Verb: 'get' as const, Key: layout.doc(h.ref, h.version) } };
            }),
            { consistent: o.consistent, signal: o.signal },
          );
          if (!out.ok) {
            // A head moved (and its old document was pruned) between the two reads: read those refs one by one.
            for (const i of batch) {
              const h = heads[i] as Head;
              const doc = await store.getVersion(h.ref, undefined, o);
              if (!doc) throw mismatch(`${refKey(h.ref)}: its head vanished during a bulk read`, h.ref, h.version);
              docs[i] = doc;
            }
            continue;
          }
          batch.forEach((i, k) => {
            const h = heads[i] as Head;
            const doc = decodeDoc(h.ref, h.version, out.results[k]?.KV?.Value ?? null);
            crossCheck(h, doc);
            docs[i] = doc;
          });
        }
      };
      await Promise.all(Array.from({ length: Math.min(8, batches.length) }, worker));
      return { docs, source: backend, stale: false };
    },

    async listVersions(refInput, o = {}) {
      const ref = open(refInput);
      const { keys } = await http.kvKeys(layout.docsPrefix(ref), {
        separator: '/',
        consistent: o.consistent,
        signal: o.signal,
      });
      const versions: number[] = [];
      for (const key of keys) {
        const v = layout.versionOfDocKey(ref, key);
        if (v !== undefined) versions.push(v);
      }
      return versions.sort((a, b) => a - b);
    },

    async append(doc, o = {}) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, backend);
      const { ref, version } = verified;
      const key = refKey(ref);
      const ctx = { ref: key, version, backend };
      const body = serializeVersion(verified);
      const bodyBytes = Buffer.byteLength(body, 'utf8');
      if (bodyBytes > opts.maxValueBytes) throw errors.tooLarge(bodyBytes, opts.maxValueBytes, ctx);
      const docKey = layout.doc(ref, version);
      const headKey = layout.head(ref);
      const headValue = base64(encodeHead(version, verified.checksum));
      const docOps: TxnOp[] = [
        { KV: { Verb: 'check-not-exists', Key: docKey } },
        { KV: { Verb: 'set', Key: docKey, Value: base64(body) } },
      ];
      // The body size is known before reading anything: refuse an oversize transaction up front
      // (the document's operations plus the head's, values base64-encoded).
      const estimate = Buffer.byteLength(JSON.stringify(docOps), 'utf8') + 2 * headKey.length + headValue.length + 200;
      if (estimate > opts.maxTxnBytes) throw errors.tooLarge(estimate, opts.maxTxnBytes, ctx);

      const fenceOp = fenceOf(o.fence);
      const shift = fenceOp ? 1 : 0;
      // A version the record did not take is marked provisional in the same transaction (after the
      // head's operations, so that their indexes stay put): pruning never deletes it.
      const markOps: TxnOp[] = o.provisional
        ? [{ KV: { Verb: 'set', Key: layout.provisional(ref, version), Value: base64(verified.checksum) } }]
        : [];
      const attemptWith = async (observed: { version: number; modifyIndex: number } | undefined) => {
        const headOps: TxnOp[] = observed
          ? [{ KV: { Verb: 'cas', Key: headKey, Value: headValue, Index: observed.modifyIndex } }, ...markOps]
          : [
              { KV: { Verb: 'check-not-exists', Key: headKey } },
              { KV: { Verb: 'set', Key: headKey, Value: headValue } },
              ...markOps,
            ];
        // A fenced (leader-only) write carries the lock check in its own transaction, first.
        const out = fenceOp
          ? await http.txn([fenceOp, ...docOps, ...headOps], { signal: o.signal })
          : await batcher.submit(key, [...docOps, ...headOps], o.signal);
        if (fenceOp && !out.ok && out.errors.some((e) => e.OpIndex === 0)) throw fencedOut(ref, version);
        if (out.ok) {
          // The head op's result carries the new head's ModifyIndex.
          const written = out.results.find((r) => r.KV?.Key === headKey)?.KV?.ModifyIndex;
          if (written !== undefined) rememberHead(key, version, written);
        } else forgetHead(key);
        return out;
      };
      // Fast path: this store wrote the head it expects and remembers its ModifyIndex. The CAS
      // still guards the write; a stale memory only costs the slow path below.
      const remembered = headIndex.get(key);
      if (remembered && remembered.version === version - 1) {
        const out = await attemptWith(remembered);
        if (out.ok) {
          prune(ref, version);
          return verified;
        }
      }
      // CAS-critical read: the head's ModifyIndex, linearizable.
      const current = await readHead(ref, { consistent: true, signal: o.signal });
      const currentVersion = current?.head.version ?? 0;
      if (currentVersion !== version - 1) {
        throw errors.versionConflict(`${key}: expected head v${version - 1}, found v${currentVersion}`, ctx);
      }
      const out = await attemptWith(current && { version: currentVersion, modifyIndex: current.modifyIndex });
      if (!out.ok) throw txnFailure(ref, version, out.errors, [shift, shift + 2]);
      prune(ref, version);
      return verified;
    },

    async replace(doc, o) {
      lifecycle.assertOpen();
      const verified = verifyVersion(doc, limits, backend);
      const { ref, version } = verified;
      const key = refKey(ref);
      const ctx = { ref: key, version, backend };
      if (typeof o?.reason !== 'string' || o.reason.length === 0)
        throw errors.constraint('replace needs a reason', ctx);
      const body = serializeVersion(verified);
      const bodyBytes = Buffer.byteLength(body, 'utf8');
      if (bodyBytes > opts.maxValueBytes) throw errors.tooLarge(bodyBytes, opts.maxValueBytes, ctx);
      const current = await readHead(ref, { consistent: true });
      if (!current || current.head.version < version) {
        throw errors.constraint(
          `${key}: cannot replace v${version} beyond the head (v${current?.head.version ?? 0})`,
          ctx,
        );
      }
      const headKey = layout.head(ref);
      const ops: TxnOp[] = [
        // The head must not move while the version is repaired.
        { KV: { Verb: 'check-index', Key: headKey, Index: current.modifyIndex } },
        { KV: { Verb: 'set', Key: layout.doc(ref, version), Value: base64(body) } },
      ];
      if (current.head.version === version) {
        ops.push({
          KV: {
            Verb: 'cas',
            Key: headKey,
            Value: base64(encodeHead(version, verified.checksum)),
            Index: current.modifyIndex,
          },
        });
      }
      if (Buffer.byteLength(JSON.stringify(ops), 'utf8') > opts.maxTxnBytes) {
        throw errors.tooLarge(Buffer.byteLength(JSON.stringify(ops), 'utf8'), opts.maxTxnBytes, ctx);
      }
      const fenceOp = fenceOf(o.fence);
      const out = await http.txn(fenceOp ? [fenceOp, ...ops] : ops);
      forgetHead(key);
      if (fenceOp && !out.ok && out.errors.some((e) => e.OpIndex === 0)) throw fencedOut(ref, version);
      if (!out.ok) throw txnFailure(ref, version, out.errors, fenceOp ? [1, 3] : [0, 2]);
    },

    async listProvisional(o = {}) {
      lifecycle.assertOpen();
      const found = await readProvisional(o.signal);
      return found
        .sort((a, b) =>
          refKey(a.ref) < refKey(b.ref) ? -1 : refKey(a.ref) > refKey(b.ref) ? 1 : a.version - b.version,
        )
        .map((p) => Object.freeze({ ref: Object.freeze(p.ref), version: p.version }));
    },

    async markProvisional(items) {
      lifecycle.assertOpen();
      for (let i = 0; i < items.length; i += MAX_TXN_OPS) {
        const ops: TxnOp[] = items.slice(i, i + MAX_TXN_OPS).map((item) => {
          const ref = parseRef(item.ref);
          return { KV: { Verb: 'set', Key: layout.provisional(ref, item.version), Value: '' } };
        });
        const out = await http.txn(ops);
        if (!out.ok) throw errors.unavailable(backend, new Error(`marking provisional failed: ${out.errors[0]?.What}`));
      }
    },

    async clearProvisional(items, o = {}) {
      lifecycle.assertOpen();
      const keys = items.map((item) => layout.provisional(parseRef(item.ref), item.version));
      const fenceOp = fenceOf(o.fence);
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS - 1) {
        const ops: TxnOp[] = keys.slice(i, i + MAX_TXN_OPS - 1).map((Key) => ({ KV: { Verb: 'delete', Key } }));
        const out = await http.txn(fenceOp ? [fenceOp, ...ops] : ops);
        if (!out.ok) {
          if (fenceOp && out.errors.some((e) => e.OpIndex === 0)) {
            throw new ConfigError('CONFLICTING_CHANGE', 'refused by the write fence: not the leader any more', {
              backend,
            });
          }
          throw errors.unavailable(backend, new Error(`clearing provisional marks failed: ${out.errors[0]?.What}`));
        }
      }
    },

    async extend(refInput, run, o) {
      const ref = open(refInput);
      return extendRun(ref, run, o);
    },

    async readEpoch(o = {}) {
      lifecycle.assertOpen();
      const { entry } = await http.kvGet(layout.epoch(), { consistent: true, signal: o.signal });
      return entry?.Value ?? undefined;
    },

    async writeEpoch(value, expected, o = {}) {
      lifecycle.assertOpen();
      if (typeof value !== 'string' || value.length === 0) throw errors.constraint('epoch must be a non-empty string');
      const key = layout.epoch();
      const fenceOp = fenceOf(o.fence);
      for (let attempt = 0; attempt < 3; attempt++) {
        const { entry } = await http.kvGet(key, { consistent: true });
        const current = entry?.Value ?? undefined;
        if (current !== expected) return current as string;
        const ops: TxnOp[] = entry
          ? [{ KV: { Verb: 'cas', Key: key, Value: base64(value), Index: entry.ModifyIndex } }]
          : [{ KV: { Verb: 'check-not-exists', Key: key } }, { KV: { Verb: 'set', Key: key, Value: base64(value) } }];
        const out = await http.txn(fenceOp ? [fenceOp, ...ops] : ops);
        if (out.ok) return value;
        if (fenceOp && out.errors.some((e) => e.OpIndex === 0)) {
          throw new ConfigError('CONFLICTING_CHANGE', 'refused by the write fence: not the leader any more', {
            backend,
          });
        }
      }
      const { entry } = await http.kvGet(key, { consistent: true });
      return (entry?.Value ?? undefined) as string;
    },

    watch(listener, w = {}): Unwatch {
      lifecycle.assertOpen();
      if (typeof listener !== 'function') throw errors.constraint('watch listener must be a function');
      const scope = w.scope === undefined ? undefined : parseScope(w.scope);
      const slot = scope ?? '*';
      let watcher = watchers.get(slot);
      if (!watcher) {
        const created: HeadWatcher = new HeadWatcher(
          http,
          layout,
          scope,
          {
            waitMs: opts.watchWaitMs,
            timeoutMs: conn.timeoutMs,
            ratePerSecond: opts.perSecond,
            burst: opts.burst,
            retryBaseMs: opts.retryBaseMs,
            retryMaxMs: opts.retryMaxMs,
            backend,
          },
          () => {
            if (watchers.get(slot) === created) watchers.delete(slot);
          },
        );
        watcher = created;
        watchers.set(slot, created);
      }
      const remove = watcher.add(listener, { initial: w.initial, onError: w.onError });
      let offAbort = () => {};
      const unwatch = () => {
        offAbort();
        remove();
      };
      offAbort = onAbort(w.signal, unwatch);
      return unwatch;
    },

    async ack(ack) {
      lifecycle.assertOpen();
      const { key, value } = checkAck(ack);
      for (let attempt = 0; ; attempt++) {
        const sid = await ackSession.ensure();
        ackSession.start();
        try {
          await putAck(key, value, sid);
          myAcks.set(key, value);
          return;
        } catch (error) {
          if (attempt === 0 && isInvalidSession(error)) {
            ackSession.markLost(error as ConfigError);
            continue;
          }
          throw error;
        }
      }
    },

    async listAcks(refInput) {
      const ref = open(refInput);
      const { entries, meta } = await http.kvList(layout.acksPrefix(ref));
      if (meta.filtered) throw incomplete(`acknowledgements of ${refKey(ref)}`);
      const out: AppliedAck[] = [];
      for (const entry of entries) {
        const ack = parseAck(ref, entry);
        if (ack) out.push(ack);
      }
      return out;
    },

    async ping(o = {}) {
      lifecycle.assertOpen();
      // A consistent KV read goes through the raft leader: a follower that still names a dead leader
      // in /v1/status/leader fails this at once (or times out), as every KV write would.
      await http.kvGet(layout.epoch(), { consistent: true, signal: o.signal });
    },

    close() {
      return lifecycle.close(async () => {
        for (const watcher of watchers.values()) watcher.stop();
        watchers.clear();
        myAcks.clear();
        try {
          await Promise.race([flushPrunes(), delay(conn.timeoutMs).catch(() => {})]);
          await ackSession.destroy({ bestEffort: true });
        } finally {
          http.destroy();
        }
      });
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}
