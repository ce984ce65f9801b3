/**
 * The watch loops of a Consul store, one per watched scope (or `*` for every scope), shared by every
 * listener of it: started with the first listener, stopped after the last ({@link WatcherRegistry}).
 *
 * A scope's loop follows its change feed (consul-feed.ts): a blocking query on one small key whose
 * value names the last changes of the scope, documents inline when small. At every (re)sync, and
 * whenever the feed shows a gap or was made anew, it lists the scope's heads tree once and diffs it.
 * A watch of every scope, or a store whose feed cannot be made (a token that may not write it),
 * follows the heads tree itself with a recursive blocking query, as before feeds.
 *
 * Why not the `consul` client's `Watch` helper: it sends index 0 after a reset (a non-blocking read
 * on every loop if Consul keeps answering 0), ends itself on a 400, retries without jitter, has no
 * rate limit, keeps blocking with a stale index after Consul restarts (so a restarted dev agent is
 * only noticed after a full `wait`), and only reports "the index moved". These loops use the same
 * client's `kv.get` and add: a non-blocking resync after every failure, a token bucket, capped
 * exponential backoff with full jitter, and a diff of the heads by version and checksum.
 *
 * Index rules (Consul's blocking-query guidance): send the last `X-Consul-Index`, never 0 (clamped to
 * 1); if the index goes backwards, reset to 0 (a non-blocking read) and resync; a return without a
 * change is normal; the HTTP timeout is `wait + wait/16` plus the request timeout; 404 is an empty tree.
 */
import {
  type ConfigError,
  type ConfigVersion,
  type Head,
  type HeadChange,
  type HeadListener,
  isConfigError,
  parseRef,
  refKey,
  type Scope,
  type Unwatch,
} from '@summit-config/core';
import { backoffDelay, compareHeads, delay, errors, headChange, onAbort } from '@summit-config/core/internal';
import { decodeFeed, emptyFeed, type FeedEntry } from './consul-feed.js';
import type { ConsulHttp } from './consul-http.js';
import { decodeDoc, decodeHead, type Layout } from './consul-layout.js';
import type { KvEntry } from './consul-wire.js';
import { callListener, tellError } from './watch-listeners.js';

/** A token bucket: `take()` resolves at once while tokens last, then at `perSecond`. */
export class TokenBucket {
  readonly perSecond: number;
  readonly burst: number;
  #tokens: number;
  #last: number;

  constructor(perSecond: number, burst: number) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.#tokens = burst;
    this.#last = performance.now();
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.perSecond);
    this.#last = now;
  }

  async take(signal?: AbortSignal): Promise<void> {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return;
    }
    await delay(Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000), signal);
    this.#refill();
    this.#tokens = Math.max(0, this.#tokens - 1);
  }
}

export interface WatcherOptions {
  /** Blocking query wait, ms. */
  waitMs: number;
  /** A feed watch lists the tree again this long after its last listing, ms (0: never). */
  resyncMs: number;
  /** Non-blocking request timeout, ms (also the margin added to a blocking query's timeout). */
  timeoutMs: number;
  ratePerSecond: number;
  burst: number;
  retryBaseMs: number;
  retryMaxMs: number;
  backend: string;
  /** Documents carried by the feed are verified like any read. */
  limits: { maxDocumentBytes: number };
}

interface Subscription {
  listener: HeadListener;
  onError: ((error: ConfigError) => void) | undefined;
  /** Waiting for its initial snapshot; changes are queued behind it meanwhile. */
  pendingInitial: boolean;
  queue: HeadChange[];
  active: boolean;
}

/** Counters, for tests and metrics. */
export interface WatcherStats {
  /** Blocking-query requests sent (including resyncs). */
  requests: number;
  /** Responses whose index moved. */
  wakeups: number;
  /** Index resets (index went backwards, or data loss seen after a failure). */
  resets: number;
  failures: number;
  /** Response bytes received (wake-ups and resyncs). */
  bytes: number;
  /** Heads listings (initial, after a failure, or a gap in the feed). */
  listings: number;
  /** Changes delivered from the feed, and how many carried their document. */
  fed: number;
  inlined: number;
}

export class HeadWatcher {
  readonly scope: Scope | undefined;
  readonly stats: WatcherStats = {
    requests: 0,
    wakeups: 0,
    resets: 0,
    failures: 0,
    bytes: 0,
    listings: 0,
    fed: 0,
    inlined: 0,
  };
  readonly #http: ConsulHttp;
  readonly #layout: Layout;
  readonly #options: WatcherOptions;
  readonly #subs = new Set<Subscription>();
  readonly #controller = new AbortController();
  readonly #bucket: TokenBucket;
  readonly #onIdle: () => void;
  /** What was last emitted (or taken as the baseline) per ref key. */
  #known = new Map<string, Head>();
  #synced = false;
  /** Bad head keys already reported, with the ModifyIndex reported, so a bad key is reported once. */
  readonly #reportedBad = new Map<string, number>();
  readonly #done: Promise<void>;

  constructor(http: ConsulHttp, layout: Layout, scope: Scope | undefined, options: WatcherOptions, onIdle: () => void) {
    this.#http = http;
    this.#layout = layout;
    this.scope = scope;
    this.#options = options;
    this.#bucket = new TokenBucket(options.ratePerSecond, options.burst);
    this.#onIdle = onIdle;
    this.#done = this.#supervise();
  }

  get size(): number {
    return this.#subs.size;
  }

  /** Resolves once the loop has stopped (after `stop()`). */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Adds a listener; returns its idempotent remover. The last removal stops the watcher. */
  add(listener: HeadListener, options: { initial?: boolean; onError?: (error: ConfigError) => void }): () => void {
    const sub: Subscription = {
      listener,
      onError: options.onError,
      pendingInitial: options.initial === true,
      queue: [],
      active: true,
    };
    this.#subs.add(sub);
    if (sub.pendingInitial && this.#synced) {
      const snapshot = [...this.#known.values()].sort(compareHeads);
      queueMicrotask(() => this.#flushInitial(sub, snapshot));
    }
    return () => {
      if (!sub.active) return;
      sub.active = false;
      this.#subs.delete(sub);
      if (this.#subs.size === 0) {
        this.stop();
        this.#onIdle();
      }
    };
  }

  stop(): void {
    for (const sub of this.#subs) sub.active = false;
    this.#subs.clear();
    this.#controller.abort();
  }

  #flushInitial(sub: Subscription, snapshot: Head[]): void {
    if (!sub.pendingInitial) return;
    sub.pendingInitial = false;
    for (const head of snapshot) this.#deliver(sub, headChange(head, true));
    const queued = sub.queue.splice(0);
    for (const change of queued) this.#deliver(sub, change);
  }

  #deliver(sub: Subscription, change: HeadChange): void {
    if (!sub.active) return;
    if (sub.pendingInitial) {
      sub.queue.push(change);
      return;
    }
    callListener(sub.listener, change, (error) => tellError(sub.onError, error));
  }

  #report(error: ConfigError): void {
    for (const sub of [...this.#subs]) if (sub.active) tellError(sub.onError, error);
  }

  /** A failed request or loop: counted, reported to every listener, then a backoff before the next try. */
  async #failed(error: unknown, attempt: number, signal: AbortSignal): Promise<void> {
    this.stats.failures++;
    this.#report(isConfigError(error) ? error : errors.unavailable(this.#options.backend, error));
    const { retryBaseMs, retryMaxMs } = this.#options;
    await delay(backoffDelay(attempt, retryBaseMs, retryMaxMs), signal).catch(() => {});
  }

  /** Restarts the loop if it ever ends unexpectedly; ends only when stopped. */
  async #supervise(): Promise<void> {
    const signal = this.#controller.signal;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        await this.#loop(signal);
      } catch (error) {
        if (signal.aborted) return;
        await this.#failed(error, attempt++, signal);
      }
    }
  }

  async #loop(signal: AbortSignal): Promise<void> {
    if (this.scope === undefined || !(await this.#feedLoop(this.scope, signal))) await this.#treeLoop(signal);
  }

  /**
   * Follows the scope's feed. Returns false (before delivering anything) when the store has no
   * readable feed and none can be made: the caller follows the heads tree instead.
   */
  async #feedLoop(scope: Scope, signal: AbortSignal): Promise<boolean> {
    const { waitMs, timeoutMs } = this.#options;
    const key = this.#layout.feed(scope);
    const prefix = this.#layout.headsPrefix(scope);
    let index = 0; // 0: the next round is a (re)sync: the feed's position, then the heads tree
    let attempt = 0;
    let afterFailure = false;
    let reset = false;
    let position: { feed: string; seq: number } | undefined;
    let listedAt = 0;
    while (!signal.aborted) {
      await this.#bucket.take(signal);
      try {
        // A head moved without the feed (a raw write, an older writer) is caught by a periodic listing.
        if (index > 0 && this.#options.resyncMs > 0 && performance.now() - listedAt >= this.#options.resyncMs)
          index = 0;
        if (index === 0) {
          this.stats.requests++;
          let got = await this.#http.kvGet(key, { timeoutMs, signal });
          if (!got.entry) {
            await this.#ensure(key, JSON.stringify(emptyFeed()), signal);
            this.stats.requests++;
            got = await this.#http.kvGet(key, { timeoutMs, signal });
            if (!got.entry) return false; // no feed and none can be made: follow the tree
          }
          this.stats.bytes += got.meta.bytes;
          const value = got.entry ? decodeFeed(got.entry.Value) : undefined;
          // Everything up to this position of the feed is in the tree listed now.
          this.stats.requests++;
          this.stats.listings++;
          listedAt = performance.now();
          const tree = await this.#http.kvList(prefix, { timeoutMs, signal });
          this.stats.bytes += tree.meta.bytes;
          attempt = 0;
          this.stats.wakeups++;
          this.#apply(tree.entries, { reset, afterFailure, filtered: tree.meta.filtered });
          reset = false;
          afterFailure = false;
          position = value && { feed: value.feed, seq: value.seq };
          index = Math.max(1, got.meta.index);
          continue;
        }
        this.stats.requests++;
        const { entry, meta } = await this.#http.kvGet(key, {
          index,
          waitMs,
          timeoutMs: waitMs + Math.ceil(waitMs / 16) + timeoutMs,
          signal,
        });
        attempt = 0;
        const newIndex = Math.max(1, meta.index);
        if (!entry || newIndex < index) {
          // The feed vanished or the index went backwards: Consul lost its state (a restarted dev agent).
          this.stats.resets++;
          reset = true;
          index = 0;
          continue;
        }
        if (newIndex === index) continue; // timed out without a change: normal
        this.stats.wakeups++;
        this.stats.bytes += meta.bytes;
        const value = decodeFeed(entry.Value);
        if (!value || !position || value.feed !== position.feed || value.seq < position.seq) {
          // A feed made anew (or unreadable): whatever happened meanwhile, the tree says.
          reset = position !== undefined && value !== undefined && value.feed !== position.feed;
          index = 0;
          continue;
        }
        const fresh = value.entries.filter((e) => e.seq > (position as { seq: number }).seq);
        if (value.seq > position.seq && fresh[0]?.seq !== position.seq + 1) {
          index = 0; // fell behind the entries the feed keeps: list the tree
          continue;
        }
        this.#applyFeed(scope, fresh);
        position = { feed: value.feed, seq: value.seq };
        index = newIndex;
      } catch (error) {
        if (signal.aborted) return true;
        index = 0;
        afterFailure = true;
        await this.#failed(error, attempt++, signal);
      }
    }
    return true;
  }

  /** Delivers the feed's new entries, documents attached when they verify. */
  #applyFeed(scope: Scope, entries: readonly FeedEntry[]): void {
    for (const e of entries) {
      let ref: ReturnType<typeof parseRef>;
      try {
        ref = parseRef(`${scope}/${e.id}`);
      } catch {
        continue; // not a ref: nothing watches it (the tree listing would skip it too)
      }
      const key = refKey(ref);
      const prev = this.#known.get(key);
      if (prev && (prev.version > e.version || (prev.version === e.version && prev.checksum === e.checksum))) continue;
      const head: Head = Object.freeze({ ref, version: e.version, checksum: e.checksum });
      this.#known.set(key, head);
      let document: ConfigVersion | undefined;
      if (e.doc !== undefined) {
        try {
          const doc = decodeDoc(ref, e.version, e.doc, this.#options.limits, this.#options.backend);
          if (doc.checksum === e.checksum) document = doc;
        } catch {
          // not served from the feed: the reader fetches it and sees the store's own error
        }
      }
      this.stats.fed++;
      if (document) this.stats.inlined++;
      const change = headChange(head, false, document);
      for (const sub of [...this.#subs]) this.#deliver(sub, change);
    }
  }

  async #treeLoop(signal: AbortSignal): Promise<void> {
    const { waitMs, timeoutMs } = this.#options;
    const prefix = this.#layout.headsPrefix(this.scope);
    let index = 0; // 0: the next request is a non-blocking (re)sync
    let lastIndex = 0;
    let attempt = 0;
    let reset = false;
    let afterFailure = false;
    while (!signal.aborted) {
      await this.#bucket.take(signal);
      const blocking = index > 0;
      if (!blocking) await this.#ensure(prefix, '', signal);
      let result: Awaited<ReturnType<ConsulHttp['kvList']>>;
      this.stats.requests++;
      try {
        result = await this.#http.kvList(
          prefix,
          blocking
            ? { index, waitMs, timeoutMs: waitMs + Math.ceil(waitMs / 16) + timeoutMs, signal }
            : { timeoutMs, signal },
        );
      } catch (error) {
        if (signal.aborted) return;
        index = 0;
        afterFailure = true;
        await this.#failed(error, attempt++, signal);
        continue;
      }
      attempt = 0;
      this.stats.bytes += result.meta.bytes;
      const newIndex = Math.max(1, result.meta.index);
      if (lastIndex > 0 && newIndex < lastIndex) {
        // The index went backwards (e.g. Consul restarted and lost its state): reset and resync.
        this.stats.resets++;
        lastIndex = 0;
        reset = true;
        if (blocking) {
          index = 0;
          continue;
        }
      }
      if (blocking && newIndex === index && !reset) continue; // timed out without a change: normal
      this.stats.wakeups++;
      this.#apply(result.entries, { reset, afterFailure, filtered: result.meta.filtered });
      reset = false;
      afterFailure = false;
      index = lastIndex = newIndex;
    }
  }

  /**
   * Creates `key` if absent (cas=0). Consul answers a blocking query on a key or prefix that holds
   * nothing with the index of the whole KV store, so every write anywhere would wake the watch: the
   * tree loop keeps a marker key at the prefix itself (an empty id, which no ref can have), the feed
   * loop an empty feed. Made at every (re)sync, because a restarted dev agent loses them. Best effort:
   * a token without write access falls back to the tree, or just costs extra wake-ups.
   */
  async #ensure(key: string, value: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#http.kvPut(key, value, { cas: 0, signal, timeoutMs: this.#options.timeoutMs });
    } catch {
      // reported by the list request that follows if Consul is really unreachable
    }
  }

  #apply(entries: KvEntry[], mode: { reset: boolean; afterFailure: boolean; filtered: boolean }): void {
    const seen = new Map<string, Head>();
    for (const entry of entries) {
      const ref = this.#layout.refOfHeadKey(entry.Key);
      if (!ref || (this.scope !== undefined && ref.scope !== this.scope)) continue; // not a head key
      const key = refKey(ref);
      try {
        seen.set(key, decodeHead(ref, entry.Value, this.#options.backend));
        this.#reportedBad.delete(key);
      } catch (error) {
        if (this.#reportedBad.get(key) !== entry.ModifyIndex) {
          this.#reportedBad.set(key, entry.ModifyIndex);
          this.#report(error as ConfigError);
        }
      }
    }
    if (!this.#synced) {
      this.#synced = true;
      this.#known = seen;
      const snapshot = [...seen.values()].sort(compareHeads);
      for (const sub of [...this.#subs]) if (sub.pendingInitial) this.#flushInitial(sub, snapshot);
      return;
    }
    // After a failure, a head that vanished or went back proves the store lost data (a restarted dev
    // agent whose index happens to be higher than ours): treat it as a reset too.
    let lossy = mode.reset;
    if (!lossy && mode.afterFailure && !mode.filtered) {
      for (const [key, head] of this.#known) {
        const now = seen.get(key);
        if (!now || now.version < head.version) {
          lossy = true;
          this.stats.resets++;
          break;
        }
      }
    }
    const changes: Head[] = [];
    for (const [key, head] of seen) {
      const prev = this.#known.get(key);
      if (prev && prev.version === head.version && prev.checksum === head.checksum) continue;
      // Never emit a lower version than already emitted, unless a reset proved the store lost data.
      if (prev && head.version < prev.version && !lossy) continue;
      this.#known.set(key, head);
      changes.push(head);
    }
    if (lossy && !mode.filtered) {
      for (const key of [...this.#known.keys()]) if (!seen.has(key)) this.#known.delete(key);
    }
    changes.sort(compareHeads);
    for (const head of changes) {
      const change = headChange(head, false);
      for (const sub of [...this.#subs]) this.#deliver(sub, change);
    }
  }
}

/** A store's watch loops: one per watched scope (`*` for every scope), whatever the number of listeners. */
export class WatcherRegistry {
  readonly #http: ConsulHttp;
  readonly #layout: Layout;
  readonly #options: WatcherOptions;
  readonly #watchers = new Map<string, HeadWatcher>();

  constructor(http: ConsulHttp, layout: Layout, options: WatcherOptions) {
    this.#http = http;
    this.#layout = layout;
    this.#options = options;
  }

  /** Running loops. */
  get size(): number {
    return this.#watchers.size;
  }

  /** Counters of the running loops, by scope. */
  stats(): Record<string, WatcherStats> {
    const out: Record<string, WatcherStats> = {};
    for (const [k, w] of this.#watchers) out[k] = { ...w.stats };
    return out;
  }

  /** Adds a listener to the loop of `scope` (started when there is none); the signal unwatches. */
  subscribe(
    scope: Scope | undefined,
    listener: HeadListener,
    w: { initial?: boolean; onError?: (error: ConfigError) => void; signal?: AbortSignal },
  ): Unwatch {
    const slot = scope ?? '*';
    let watcher = this.#watchers.get(slot);
    if (!watcher) {
      const created: HeadWatcher = new HeadWatcher(this.#http, this.#layout, scope, this.#options, () => {
        if (this.#watchers.get(slot) === created) this.#watchers.delete(slot);
      });
      watcher = created;
      this.#watchers.set(slot, created);
    }
    const remove = watcher.add(listener, { initial: w.initial, onError: w.onError });
    let offAbort = () => {};
    const unwatch = () => {
      offAbort();
      remove();
    };
    offAbort = onAbort(w.signal, unwatch);
    return unwatch;
  }

  stopAll(): void {
    for (const watcher of this.#watchers.values()) watcher.stop();
    this.#watchers.clear();
  }
}
