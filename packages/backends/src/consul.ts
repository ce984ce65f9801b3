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
 *   the background after the append succeeded (batched, best effort, never failing the append:
 *   consul-history.ts).
 * - acks: written with `?acquire` under one session per store (behavior `delete`), renewed in the
 *   background, destroyed on close, so an instance's acknowledgements vanish when it dies
 *   (consul-acks.ts).
 * - the failover chain's mirror members (provisional marks, extend, epoch): consul-mirror.ts.
 */
import {
  ConfigError,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type Head,
  isConfigError,
  type ListQuery,
  refKey,
  type Scope,
  type StoreCapabilities,
  type Unwatch,
} from '@summit-config/core';
import { delay, errors, parseScope, serializeVersion, verifyVersion } from '@summit-config/core/internal';
import { ConsulAcks } from './consul-acks.js';
import { createConsulContext } from './consul-context.js';
import { fencedOut, fenceOf, fenceRefused, incomplete, mismatch, txnFailure } from './consul-errors.js';
import { ChangeFeed } from './consul-feed.js';
import { HistoryPruner } from './consul-history.js';
import { crossCheck, decodeDoc, decodeHead, encodeHead } from './consul-layout.js';
import { mirrorMembers } from './consul-mirror.js';
import type { ConsulStoreOptions } from './consul-options.js';
import { FEED_TXN_RESERVE, MAX_TXN_OPS, TxnBatcher } from './consul-txn-batch.js';
import { WatcherRegistry, type WatcherStats } from './consul-watch.js';
import { base64, type TxnOp } from './consul-wire.js';
import { isIntegerIn } from './integers.js';

export {
  type ConsulAuditAnchor,
  type ConsulAuditAnchorOptions,
  createConsulAuditAnchor,
} from './consul-audit-anchor.js';
export type { ConsulConnectionOptions, ConsulTlsOptions } from './consul-connection.js';
export { ConsulTlsError } from './consul-errors.js';
export {
  createLeaderLock,
  type LeaderLock,
  type LeaderLockHolder,
  type LeaderLockOptions,
  readLeaderLock,
} from './consul-lock.js';
export { CONSUL_MAX_TXN_BYTES, CONSUL_MAX_VALUE_BYTES, type ConsulStoreOptions } from './consul-options.js';
export { type ConsulSession, type ConsulSessionOptions, createConsulSession } from './consul-session.js';

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
   * Append transactions sent, the appends (groups) they carried, appends sent again because another
   * append in their transaction failed (group commit at work), and transactions sent again because
   * another process moved a scope's change feed first.
   */
  appendStats(): { transactions: number; groups: number; retried: number; feedConflicts: number };
}

/** Creates a Consul store. Options are validated now; the connection opens on first use. */
export function createConsulStore(options: ConsulStoreOptions = {}): ConsulStore {
  const ctx = createConsulContext(options);
  const { opts, conn, backend, http, layout, lifecycle, limits, headIndex, open, readHead } = ctx;
  const feed = new ChangeFeed(http, layout);
  const batcher = new TxnBatcher(http, feed, { maxBytes: opts.maxTxnBytes, maxInFlight: 4 });
  const history = new HistoryPruner(ctx);
  const acks = new ConsulAcks(ctx);
  const watchers = new WatcherRegistry(http, layout, {
    limits,
    waitMs: opts.watchWaitMs,
    resyncMs: opts.watchResyncMs,
    timeoutMs: conn.timeoutMs,
    ratePerSecond: opts.perSecond,
    burst: opts.burst,
    retryBaseMs: opts.retryBaseMs,
    retryMaxMs: opts.retryMaxMs,
    backend,
  });
  const prune = (ref: ConfigRef, version: number) => history.prune(ref, version);

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

  const store: ConsulStore = {
    name: backend,
    capabilities,
    prefix: opts.prefix,
    address: conn.address,

    get activeWatches() {
      return watchers.size;
    },

    watchStats() {
      return watchers.stats();
    },

    flushHistory() {
      return history.flush();
    },

    appendStats() {
      return { ...batcher.stats, feedConflicts: feed.conflicts };
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
            backend,
            `${refKey(ref)}: the head points at v${head.version}, which ${backend} does not hold`,
            ref,
            head.version,
          );
        }
        const doc = decodeDoc(ref, head.version, entry.Value, limits, backend);
        crossCheck(head, doc, backend);
        return doc;
      }
      if (!isIntegerIn(version, 1)) return undefined;
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
        throw mismatch(backend, `${refKey(ref)} v${version}: ${backend} holds the document but no head`, ref, version);
      }
      const headValue = out.results[0]?.KV?.Value ?? null;
      const docValue = out.results[1]?.KV?.Value ?? null;
      const head = decodeHead(ref, headValue, backend);
      const doc = decodeDoc(ref, version, docValue, limits, backend);
      if (head.version === version) crossCheck(head, doc, backend);
      else if (head.version < version) {
        throw mismatch(
          backend,
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
      if (meta.filtered) throw incomplete(backend, `heads under ${keyPrefix}`);
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
              if (!doc) {
                throw mismatch(backend, `${refKey(h.ref)}: its head vanished during a bulk read`, h.ref, h.version);
              }
              docs[i] = doc;
            }
            continue;
          }
          batch.forEach((i, k) => {
            const h = heads[i] as Head;
            const doc = decodeDoc(h.ref, h.version, out.results[k]?.KV?.Value ?? null, limits, backend);
            crossCheck(h, doc, backend);
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
      // (the document's operations plus the head's, values base64-encoded, and room for the feed's).
      const estimate =
        Buffer.byteLength(JSON.stringify(docOps), 'utf8') +
        2 * headKey.length +
        headValue.length +
        200 +
        FEED_TXN_RESERVE;
      if (estimate > opts.maxTxnBytes) throw errors.tooLarge(estimate, opts.maxTxnBytes, ctx);

      const fenceOp = fenceOf(o.fence, backend);
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
        // A fenced (leader-only) write carries the lock check first, in a transaction of its own.
        const out = await batcher.submit(key, fenceOp ? [fenceOp, ...docOps, ...headOps] : [...docOps, ...headOps], {
          signal: o.signal,
          alone: fenceOp !== undefined,
          feed: { scope: ref.scope, change: { id: ref.id, version, checksum: verified.checksum, doc: body } },
        });
        if (!out.ok && fenceRefused(fenceOp, out.errors)) throw fencedOut(backend, ref, version);
        if (out.ok) {
          // The head op's result carries the new head's ModifyIndex.
          const written = out.results.find((r) => r.KV?.Key === headKey)?.KV?.ModifyIndex;
          if (written !== undefined) headIndex.remember(key, version, written);
        } else headIndex.forget(key);
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
      if (!out.ok) throw txnFailure(backend, ref, version, out.errors, [shift, shift + 2]);
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
      const fenceOp = fenceOf(o.fence, backend);
      const all = fenceOp ? [fenceOp, ...ops] : ops;
      // A repaired head (its checksum changes) is a change watchers must hear of.
      const out =
        current.head.version === version
          ? await feed.commit(ref.scope, [{ id: ref.id, version, checksum: verified.checksum, doc: body }], all, (t) =>
              http.txn(t),
            )
          : await http.txn(all);
      headIndex.forget(key);
      if (!out.ok && fenceRefused(fenceOp, out.errors)) throw fencedOut(backend, ref, version);
      if (!out.ok) throw txnFailure(backend, ref, version, out.errors, fenceOp ? [1, 3] : [0, 2]);
    },

    ...mirrorMembers(ctx, feed, prune),

    watch(listener, w = {}): Unwatch {
      lifecycle.assertOpen();
      if (typeof listener !== 'function') throw errors.constraint('watch listener must be a function');
      const scope = w.scope === undefined ? undefined : parseScope(w.scope);
      return watchers.subscribe(scope, listener, w);
    },

    ack(ack) {
      return acks.ack(ack);
    },

    ackMany(items) {
      return acks.many(items);
    },

    listAcks(refInput) {
      return acks.list(refInput);
    },

    async ping(o = {}) {
      lifecycle.assertOpen();
      // A consistent KV read goes through the raft leader: a follower that still names a dead leader
      // in /v1/status/leader fails this at once (or times out), as every KV write would.
      try {
        await http.kvGet(layout.epoch(), { consistent: true, signal: o.signal });
      } catch (error) {
        if (!isConfigError(error, 'ACCESS_DENIED')) throw error;
        const who =
          conn.token === undefined ? 'no ACL token (CONSUL_HTTP_TOKEN / stores.consul.token unset)' : 'the ACL token';
        throw new ConfigError(
          'ACCESS_DENIED',
          `${backend}: ${who} may not read ${opts.prefix} (Consul answered 403 to a read of ${layout.epoch()})`,
          { backend, cause: error },
        );
      }
    },

    close() {
      return lifecycle.close(async () => {
        watchers.stopAll();
        acks.forget();
        try {
          await Promise.race([history.flush(), delay(conn.timeoutMs).catch(() => {})]);
          await acks.destroy();
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
