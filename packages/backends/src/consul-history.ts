/**
 * History pruning of the Consul store: the last `historyLimit` versions per ref stay in Consul;
 * older documents are deleted in the background after an append succeeded (batched up to
 * MAX_TXN_OPS deletes per transaction, best effort, never failing the append). A provisional
 * version (one the record may not hold) is never deleted.
 */
import { type ConfigRef, refKey } from '@summit-config/core';
import type { ConsulStoreContext } from './consul-context.js';
import { readProvisional } from './consul-mirror.js';
import { MAX_TXN_OPS } from './consul-txn-batch.js';
import type { TxnOp } from './consul-wire.js';

/** Refs a pruner remembers having swept for leftovers before it forgets them all. */
const SWEPT_MAX = 10_000;

export class HistoryPruner {
  readonly #ctx: ConsulStoreContext;
  readonly #queue = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #pruning: Promise<void> = Promise.resolve();
  #failures = 0;
  /** Refs this store already swept for leftovers (bounded: forgotten wholesale when full). */
  readonly #swept = new Set<string>();

  constructor(ctx: ConsulStoreContext) {
    this.#ctx = ctx;
  }

  /**
   * After appending `version`: delete `version - historyLimit`. The first time this store prunes a
   * ref, and after a failed prune, it also sweeps the ref for older leftovers (a previous process,
   * a larger `historyLimit` before, a failed delete).
   */
  prune(ref: ConfigRef, version: number): void {
    const { http, layout, lifecycle, opts } = this.#ctx;
    const oldest = version - opts.historyLimit; // newest version to delete
    if (oldest < 1) return;
    this.#queue.add(layout.doc(ref, oldest));
    this.#schedule();
    const key = refKey(ref);
    if (!this.#swept.has(key) || this.#failures > 0) {
      if (this.#swept.size >= SWEPT_MAX) this.#swept.clear();
      this.#swept.add(key);
      this.#failures = 0;
      void http
        .kvKeys(layout.docsPrefix(ref), { separator: '/' })
        .then(({ keys, meta }) => {
          if (meta.filtered || lifecycle.closed) return; // an ACL-filtered listing never drives deletes
          for (const key of keys) {
            const v = layout.versionOfDocKey(ref, key);
            if (v !== undefined && v <= oldest) this.#queue.add(key);
          }
          this.#schedule();
        })
        .catch(() => {});
    }
  }

  /** Deletes what is queued now; resolves when every pending prune is done. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pruning = this.#pruning.then(async () => {
      if (this.#queue.size === 0) return;
      // Never prune a provisional version (one the record may not hold): read the marks first.
      let keep: Set<string>;
      try {
        keep = await this.#provisionalDocKeys();
      } catch {
        this.#failures++;
        return;
      }
      for (const k of keep) this.#queue.delete(k);
      while (this.#queue.size > 0) {
        const keys = [...this.#queue].slice(0, MAX_TXN_OPS);
        for (const k of keys) this.#queue.delete(k);
        try {
          await this.#ctx.http.txn(keys.map((Key): TxnOp => ({ KV: { Verb: 'delete', Key } })));
        } catch {
          // Best effort: a failed prune leaves old versions behind; the next sweep of the ref retries.
          this.#failures++;
          return;
        }
      }
    });
    return this.#pruning;
  }

  #schedule(): void {
    if (this.#queue.size >= MAX_TXN_OPS) {
      void this.flush();
      return;
    }
    if (this.#timer) return;
    // Batch deletes (up to 64 per transaction) so pruning costs few raft writes.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, 1000);
    this.#timer.unref();
  }

  /** Provisional versions, as document keys. Refuses an ACL-filtered listing (it would hide marks). */
  async #provisionalDocKeys(): Promise<Set<string>> {
    return new Set((await readProvisional(this.#ctx)).map((p) => this.#ctx.layout.doc(p.ref, p.version)));
  }
}
