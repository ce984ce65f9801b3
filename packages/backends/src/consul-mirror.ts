/**
 * The Consul store as the failover chain's mirror: provisional marks (versions written while the
 * record was unreachable; pruning never deletes them), `extend` (copies of versions from the
 * record, as few transactions as Consul's limits allow), and the chain's epoch (the record's copy).
 */
import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  parseRef,
  refKey,
  type WriteFence,
} from '@summit-config/core';
import { errors, serializeVersion, verifyVersion } from '@summit-config/core/internal';
import type { ConsulStoreContext } from './consul-context.js';
import { fencedOut, fenceOf, fenceRefused, incomplete, notLeader, txnFailure } from './consul-errors.js';
import type { ChangeFeed } from './consul-feed.js';
import { encodeHead } from './consul-layout.js';
import { FEED_TXN_RESERVE, MAX_TXN_OPS } from './consul-txn-batch.js';
import { base64, type TxnOp } from './consul-wire.js';

export type MirrorMembers = Required<
  Pick<ConfigStore, 'listProvisional' | 'markProvisional' | 'clearProvisional' | 'extend' | 'readEpoch' | 'writeEpoch'>
>;

/** The provisional marks. Refuses an ACL-filtered listing (it would hide marks). */
export async function readProvisional(
  ctx: ConsulStoreContext,
  signal?: AbortSignal,
): Promise<Array<{ ref: ConfigRef; version: number }>> {
  const { keys, meta } = await ctx.http.kvKeys(ctx.layout.provisionalPrefix(), { consistent: true, signal });
  if (meta.filtered) throw incomplete(ctx.backend, 'provisional marks');
  const out: Array<{ ref: ConfigRef; version: number }> = [];
  for (const key of keys) {
    const p = ctx.layout.provisionalOf(key);
    if (p) out.push(p);
  }
  return out;
}

/** The mirror members of a store; `prune` runs after a successful `extend` (history pruning). */
export function mirrorMembers(
  ctx: ConsulStoreContext,
  feed: ChangeFeed,
  prune: (ref: ConfigRef, version: number) => void,
): MirrorMembers {
  const { backend, http, layout, lifecycle, opts, headIndex } = ctx;

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
    const docs = run.map((d) => verifyVersion(d, ctx.limits, backend));
    let last = o.expectedHead;
    for (const d of docs) {
      if (refKey(d.ref) !== key || d.version <= last) {
        throw errors.constraint(`extend: versions must be of ${key} and ascend past v${last}`, { ref: key, backend });
      }
      last = d.version;
    }
    if (docs.length === 0) return;
    const fenceOp = fenceOf(o.fence, backend);
    const headKey = layout.head(ref);
    const current = await ctx.readHead(ref, { consistent: true, signal: o.signal });
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
      // Room for the head's operation and the feed's.
      let bytes = Buffer.byteLength(JSON.stringify(ops), 'utf8') + 400 + FEED_TXN_RESERVE;
      const start = i;
      while (i < docs.length && ops.length < MAX_TXN_OPS - 2) {
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
      const change = { id: ref.id, version: top.version, checksum: top.checksum, doc: serializeVersion(top) };
      const out = await feed.commit(ref.scope, [change], ops, (t) => http.txn(t, { signal: o.signal }));
      if (!out.ok) {
        headIndex.forget(key);
        if (fenceRefused(fenceOp, out.errors)) throw fencedOut(backend, ref, top.version);
        if (out.errors.some((e) => e.OpIndex === guardIndex)) {
          throw errors.versionConflict(`${key}: another writer moved the head during a copy`, { ref: key, backend });
        }
        throw txnFailure(backend, ref, top.version, out.errors, []);
      }
      observed = out.results.find((r) => r.KV?.Key === headKey)?.KV?.ModifyIndex;
    }
    if (observed !== undefined) headIndex.remember(key, last, observed);
    prune(ref, last);
  }

  return {
    async listProvisional(o = {}) {
      lifecycle.assertOpen();
      const found = await readProvisional(ctx, o.signal);
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
      const fenceOp = fenceOf(o.fence, backend);
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS - 1) {
        const ops: TxnOp[] = keys.slice(i, i + MAX_TXN_OPS - 1).map((Key) => ({ KV: { Verb: 'delete', Key } }));
        const out = await http.txn(fenceOp ? [fenceOp, ...ops] : ops);
        if (!out.ok) {
          if (fenceRefused(fenceOp, out.errors)) throw notLeader(backend);
          throw errors.unavailable(backend, new Error(`clearing provisional marks failed: ${out.errors[0]?.What}`));
        }
      }
    },

    async extend(refInput, run, o) {
      const ref = ctx.open(refInput);
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
      const fenceOp = fenceOf(o.fence, backend);
      for (let attempt = 0; attempt < 3; attempt++) {
        const { entry } = await http.kvGet(key, { consistent: true });
        const current = entry?.Value ?? undefined;
        if (current !== expected) return current as string;
        const ops: TxnOp[] = entry
          ? [{ KV: { Verb: 'cas', Key: key, Value: base64(value), Index: entry.ModifyIndex } }]
          : [{ KV: { Verb: 'check-not-exists', Key: key } }, { KV: { Verb: 'set', Key: key, Value: base64(value) } }];
        const out = await http.txn(fenceOp ? [fenceOp, ...ops] : ops);
        if (out.ok) return value;
        if (fenceRefused(fenceOp, out.errors)) throw notLeader(backend);
      }
      const { entry } = await http.kvGet(key, { consistent: true });
      return (entry?.Value ?? undefined) as string;
    },
  };
}
