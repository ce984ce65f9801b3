/**
 * Group commit for appends. Each append is its own group of `/v1/txn` operations (check-not-exists
 * + set on the document, CAS on the head) and stays atomic; when several appends of different refs
 * are waiting while earlier transactions are in flight, their groups travel in one transaction (up
 * to Consul's 64 operations and the request-size limit), so Consul commits them in one raft entry.
 * A single writer never waits: with fewer than `maxInFlight` transactions in flight, a group is sent
 * at once, alone.
 *
 * Consul evaluates every operation and reports each failing one (`Errors[].OpIndex`) before it rolls
 * the transaction back. Groups with a failing operation get their own errors back (re-indexed to
 * their own operations); the other groups of the batch were only rolled back with them and are sent
 * again. Two groups for the same ref never share a batch, so a group's failure is always caused by
 * state Consul already held, never by a sibling.
 *
 * Every group that moves a head carries its change for the scope's feed (consul-feed.ts): a batch
 * holds groups of one scope, the feed's operation goes last, and a scope has one transaction in
 * flight at a time (the next batch of that scope gathers what queued meanwhile).
 */
import type { Scope } from '@summit-config/core';
import { abortReason, onAbort } from '@summit-config/core/internal';
import { type ChangeFeed, FEED_MAX_BYTES, type FeedChange } from './consul-feed.js';
import type { ConsulHttp } from './consul-http.js';
import type { TxnError, TxnOp, TxnOutcome } from './consul-wire.js';

/** Operations per transaction Consul 1.8 accepts. */
export const MAX_TXN_OPS = 64;

/** Request bytes kept free in a transaction for the feed's operation (base64 value, key, framing). */
export const FEED_TXN_RESERVE = Math.ceil((FEED_MAX_BYTES * 4) / 3) + 1024;

/** What a group carries besides its operations. */
export interface GroupOptions {
  signal?: AbortSignal | undefined;
  /** The change this group makes to its scope's feed. */
  feed?: { scope: Scope; change: FeedChange } | undefined;
  /** Never shares a transaction (a fenced write: its lock check must fail only itself). */
  alone?: boolean;
}

export type GroupOutcome =
  | { ok: true; results: Array<{ KV?: { Key: string; ModifyIndex: number } }> }
  | { ok: false; errors: TxnError[] };

interface Group {
  /** Groups with the same key never share a transaction. */
  key: string;
  ops: TxnOp[];
  bytes: number;
  signal: AbortSignal | undefined;
  feed: GroupOptions['feed'];
  alone: boolean;
  settled: boolean;
  resolve: (outcome: GroupOutcome) => void;
  reject: (error: unknown) => void;
  off: () => void;
}

export class TxnBatcher {
  readonly #http: ConsulHttp;
  readonly #feed: ChangeFeed;
  readonly #maxBytes: number;
  readonly #maxInFlight: number;
  #queue: Group[] = [];
  #inFlight = 0;
  /** Scopes with a transaction in flight. */
  readonly #busy = new Set<Scope>();
  /** Transactions sent, groups carried, and groups sent again after a sibling's failure. */
  readonly stats = { transactions: 0, groups: 0, retried: 0 };

  constructor(http: ConsulHttp, feed: ChangeFeed, options: { maxBytes: number; maxInFlight: number }) {
    this.#http = http;
    this.#feed = feed;
    this.#maxBytes = options.maxBytes;
    this.#maxInFlight = options.maxInFlight;
  }

  /** Commits `ops` atomically (possibly alongside other groups); resolves with this group's outcome. */
  submit(key: string, ops: TxnOp[], options: GroupOptions = {}): Promise<GroupOutcome> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<GroupOutcome>((resolve, reject) => {
      const group: Group = {
        key,
        ops,
        bytes: Buffer.byteLength(JSON.stringify(ops), 'utf8') + 1,
        signal,
        feed: options.feed,
        alone: options.alone === true,
        settled: false,
        resolve,
        reject,
        off: () => {},
      };
      group.off = onAbort(signal, () => {
        // Queued: dropped, nothing sent. In flight: the caller stops waiting; the outcome is unknown.
        this.#queue = this.#queue.filter((g) => g !== group);
        this.#settle(group, () => reject(abortReason(signal as AbortSignal)));
      });
      this.#queue.push(group);
      this.#pump();
    });
  }

  #settle(group: Group, fn: () => void): void {
    if (group.settled) return;
    group.settled = true;
    group.off();
    fn();
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const batch = this.#take();
      if (batch.length === 0) return; // every queued group waits for its scope's transaction
      const scope = batch[0]?.feed?.scope;
      if (scope !== undefined) this.#busy.add(scope);
      this.#inFlight++;
      void this.#send(batch).finally(() => {
        if (scope !== undefined) this.#busy.delete(scope);
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  /**
   * The next batch, in queue order: distinct keys, one scope whose feed is not being written, within
   * the operation and byte limits (room kept for the feed's operation).
   */
  #take(): Group[] {
    const batch: Group[] = [];
    const keys = new Set<string>();
    let ops = 0;
    let bytes = 2 + FEED_TXN_RESERVE;
    const rest: Group[] = [];
    for (const group of this.#queue) {
      const scope = group.feed?.scope;
      const first = batch[0];
      const fits =
        !(scope !== undefined && this.#busy.has(scope)) &&
        (first === undefined ||
          (!first.alone &&
            !group.alone &&
            first.feed?.scope === scope &&
            !keys.has(group.key) &&
            ops + group.ops.length <= MAX_TXN_OPS - 1 &&
            bytes + group.bytes <= this.#maxBytes));
      if (fits) {
        batch.push(group);
        keys.add(group.key);
        ops += group.ops.length;
        bytes += group.bytes;
      } else rest.push(group);
    }
    this.#queue = rest;
    return batch;
  }

  async #send(batch: Group[]): Promise<void> {
    const ops: TxnOp[] = [];
    const offsets: number[] = [];
    for (const group of batch) {
      offsets.push(ops.length);
      ops.push(...group.ops);
    }
    this.stats.transactions++;
    this.stats.groups += batch.length;
    let out: TxnOutcome;
    try {
      // A lone group may be aborted with its own signal; a shared request is never aborted.
      out = await this.#transmit(batch, ops, batch.length === 1 ? batch[0]?.signal : undefined);
    } catch (error) {
      for (const group of batch) this.#settle(group, () => group.reject(error));
      return;
    }
    if (out.ok) {
      // Only some verbs add a result (not check-* nor deletes): hand each group the results for
      // its own keys (keys never repeat across the groups of a batch).
      for (const group of batch) {
        const keys = new Set(group.ops.map((op) => op.KV.Key));
        const results = out.results.filter((r) => r.KV !== undefined && keys.has(r.KV.Key));
        this.#settle(group, () => group.resolve({ ok: true, results }));
      }
      return;
    }
    const unknown = out.errors.some((e) => e.OpIndex < 0 || e.OpIndex >= ops.length);
    const retry: Group[] = [];
    for (let i = 0; i < batch.length; i++) {
      const group = batch[i] as Group;
      const start = offsets[i] as number;
      const mine = out.errors
        .filter((e) => e.OpIndex >= start && e.OpIndex < start + group.ops.length)
        .map((e) => ({ OpIndex: e.OpIndex - start, What: e.What }));
      if (mine.length > 0 || (unknown && batch.length === 1)) {
        this.#settle(group, () => group.resolve({ ok: false, errors: mine.length > 0 ? mine : out.errors }));
      } else if (!group.settled) retry.push(group);
    }
    if (unknown && batch.length > 1) {
      // Rolled back without saying why: send each group alone so each gets its own answer.
      for (const group of retry) void this.#alone(group);
      return;
    }
    // Rolled back only because of another group: send again, ahead of newer groups.
    this.stats.retried += retry.length;
    this.#queue = [...retry, ...this.#queue];
  }

  /** Sends a batch's operations, with its scope's feed operation last when it moves heads. */
  #transmit(batch: readonly Group[], ops: TxnOp[], signal: AbortSignal | undefined): Promise<TxnOutcome> {
    const send = (all: TxnOp[]) => this.#http.txn(all, { signal });
    const scope = batch[0]?.feed?.scope;
    if (scope === undefined) return send(ops);
    const changes = batch.flatMap((g) => (g.feed ? [g.feed.change] : []));
    return this.#feed.commit(scope, changes, ops, send);
  }

  async #alone(group: Group): Promise<void> {
    try {
      const out = await this.#transmit([group], group.ops, group.signal);
      this.#settle(group, () =>
        group.resolve(out.ok ? { ok: true, results: out.results } : { ok: false, errors: out.errors }),
      );
    } catch (error) {
      this.#settle(group, () => group.reject(error));
    }
  }
}
