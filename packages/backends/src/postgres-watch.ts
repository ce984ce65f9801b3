/**
 * The PostgreSQL store's head feed (LISTEN/NOTIFY), mirroring consul-watch.ts: what a write
 * notifies, and the one LISTEN connection every listener of a store shares, opened with the first
 * listener and closed after the last.
 *
 * After every (re)connect, and every `resyncIntervalMs`, the feed re-reads the heads and diffs them
 * by version and checksum against the last ones it emitted, because notifications sent while no
 * connection listened are lost.
 */
import { createHash } from 'node:crypto';
import {
  type ConfigError,
  type ConfigRef,
  type Head,
  type HeadChange,
  type HeadListener,
  refKey,
  type Scope,
  type Unwatch,
} from '@summit-config/core';
import { backoffDelay, compareHeads, delay, errors, headChange, onAbort } from '@summit-config/core/internal';
import { type HeadRow, headOfRow } from './postgres-rows.js';
import { mapSqlError, type SqlClient, type SqlListener, type StoreLogger } from './sql-client.js';
import { callListener, tellError } from './watch-listeners.js';

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_NOTIFY_BYTES = 7999;

/** The NOTIFY channel of a schema: `summit:<schema>`, or a hash when that would not fit 63 bytes. */
export function channelFor(schema: string): string {
  const plain = `summit:${schema}`;
  if (Buffer.byteLength(plain, 'utf8') <= 63 && !plain.includes('"')) return plain;
  return `summit:${createHash('sha256').update(schema, 'utf8').digest('hex').slice(0, 40)}`;
}

/** The NOTIFY payload: `{scope,id,version}` only; readers fetch the head themselves. */
export function notifyPayload(ref: ConfigRef, version: number): string {
  const payload = JSON.stringify({ scope: ref.scope, id: ref.id, version });
  // A ref is at most ~400 ASCII bytes, far below the cap; the check documents the limit.
  if (Buffer.byteLength(payload, 'utf8') > MAX_NOTIFY_BYTES) throw errors.constraint('notify payload too large');
  return payload;
}

interface Subscriber {
  readonly scope: Scope | undefined;
  readonly listener: HeadListener;
  readonly onError: ((error: ConfigError) => void) | undefined;
  /** Receives live changes (false until its initial heads were delivered). */
  live: boolean;
  removed: boolean;
}

interface SubscribeOptions {
  scope: Scope | undefined;
  listener: HeadListener;
  onError: ((error: ConfigError) => void) | undefined;
  initial: boolean;
  signal: AbortSignal | undefined;
}

export interface FeedDeps {
  name: string;
  client: SqlClient;
  channel: string;
  headsTable: string;
  ensureReady: () => Promise<void>;
  resyncIntervalMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  logger?: StoreLogger;
}

/** Owns the store's one feed: started by the first subscriber, stopped after the last. */
export class FeedRegistry {
  readonly #deps: FeedDeps;
  #feed: HeadFeed | undefined;
  readonly #stopping = new Set<Promise<void>>();

  constructor(deps: FeedDeps) {
    this.#deps = deps;
  }

  subscribe(options: SubscribeOptions): Unwatch {
    if (options.signal?.aborted) return () => {};
    this.#feed ??= new HeadFeed(this.#deps);
    const feed = this.#feed;
    const sub: Subscriber = {
      scope: options.scope,
      listener: options.listener,
      onError: options.onError,
      live: !options.initial,
      removed: false,
    };
    feed.add(sub, options.initial);
    let offAbort = () => {};
    const unwatch = () => {
      if (sub.removed) return;
      offAbort();
      if (feed.remove(sub) === 0 && this.#feed === feed) {
        this.#feed = undefined;
        const stopped = feed.stop().finally(() => this.#stopping.delete(stopped));
        this.#stopping.add(stopped);
      }
    };
    offAbort = onAbort(options.signal, unwatch);
    return unwatch;
  }

  /** A write through this store committed: see {@link HeadFeed.noteWrite}. */
  noteWrite(head: Head): void {
    this.#feed?.noteWrite(head);
  }

  async closeAll(): Promise<void> {
    const feed = this.#feed;
    this.#feed = undefined;
    if (feed) {
      feed.clear();
      this.#stopping.add(feed.stop());
    }
    await Promise.all([...this.#stopping]);
  }
}

/**
 * One LISTEN connection and the heads it has emitted. All work (resyncs, notification drains,
 * initial deliveries) runs through one queue, so each ref's changes are emitted once and in order.
 */
class HeadFeed {
  readonly #deps: FeedDeps;
  readonly #subs = new Set<Subscriber>();
  /** Heads as last emitted; complete once `#baseline` is true. */
  readonly #known = new Map<string, Head>();
  #baseline = false;
  /** Refs written through this store after the feed started and before its first load. */
  readonly #earlyWrites = new Set<string>();
  /** Subscribers that asked for `initial` and wait for the first complete load. */
  #awaitingInitial: Subscriber[] = [];
  #queue: Promise<void> = Promise.resolve();
  readonly #pending = new Set<string>();
  #drainQueued = false;
  #resyncQueued = false;
  readonly #stop = new AbortController();
  #listener: SqlListener | undefined;
  #lost: ((error: Error) => void) | undefined;
  #checking = false;
  readonly #timer: NodeJS.Timeout;
  readonly #loop: Promise<void>;

  constructor(deps: FeedDeps) {
    this.#deps = deps;
    this.#timer = setInterval(() => this.#periodic(), deps.resyncIntervalMs);
    this.#timer.unref();
    this.#loop = this.#run();
  }

  add(sub: Subscriber, initial: boolean): void {
    this.#subs.add(sub);
    if (!initial) return;
    if (this.#baseline) this.#enqueue(async () => this.#deliverInitial(sub));
    else this.#awaitingInitial.push(sub);
  }

  /**
   * Records a write made through this store. The first load after LISTEN is a silent baseline, so a
   * write that committed between `watch()` and that load would never be emitted; those refs are
   * emitted right after the baseline instead (with their head as loaded).
   */
  noteWrite(head: Head): void {
    if (!this.#baseline && !this.#stopped) this.#earlyWrites.add(refKey(head.ref));
  }

  /** Removes a subscriber; returns how many remain. */
  remove(sub: Subscriber): number {
    sub.removed = true;
    this.#subs.delete(sub);
    return this.#subs.size;
  }

  clear(): void {
    for (const sub of this.#subs) sub.removed = true;
    this.#subs.clear();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#timer);
    this.#lost?.(new Error('stopped'));
    await this.#loop;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  // -- connection loop

  async #run(): Promise<void> {
    const deps = this.#deps;
    let attempt = 0;
    while (!this.#stopped) {
      let listener: SqlListener | undefined;
      try {
        await deps.ensureReady();
        const lost = new Promise<Error>((resolve) => {
          this.#lost = resolve;
        });
        listener = await deps.client.listen(deps.channel, {
          onNotify: (payload) => this.#onNotify(payload),
          onLost: (error) => this.#lost?.(error),
        });
        if (this.#stopped) break;
        this.#listener = listener;
        // Listening first, then reading: a change is either in this read or notified after it.
        await this.#enqueue(() => this.#resync(), true);
        attempt = 0;
        const error = await lost;
        if (this.#stopped) break;
        this.#report(errors.unavailable(deps.name, error));
      } catch (error) {
        if (this.#stopped) break;
        this.#report(mapSqlError(error, deps.name));
      } finally {
        this.#listener = undefined;
        this.#lost = undefined;
        if (listener) await listener.close();
      }
      if (this.#stopped) break;
      await delay(backoffDelay(attempt++, deps.reconnectBaseMs, deps.reconnectMaxMs), this.#stop.signal).catch(
        () => {},
      );
    }
  }

  /** Drops the current connection (the loop reconnects and resyncs). */
  #reconnect(error: unknown): void {
    this.#lost?.(error instanceof Error ? error : new Error(String(error)));
  }

  #periodic(): void {
    const listener = this.#listener;
    if (!listener || !this.#baseline || this.#checking || this.#stopped) return;
    this.#checking = true;
    listener
      .check()
      .then(
        () => this.#requestResync(),
        (error: unknown) => this.#reconnect(error),
      )
      .finally(() => {
        this.#checking = false;
      });
  }

  // -- work queue

  /**
   * Appends `task` to the queue. Failures drop the connection (reconnect and resync), unless
   * `propagate` is set, in which case the returned promise rejects instead.
   */
  #enqueue(task: () => Promise<void>, propagate = false): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#stopped) return;
      await task();
    });
    this.#queue = run.catch((error: unknown) => {
      if (!propagate) this.#reconnect(error);
    });
    return propagate ? run : this.#queue;
  }

  #requestResync(): void {
    if (this.#resyncQueued) return;
    this.#resyncQueued = true;
    void this.#enqueue(async () => {
      this.#resyncQueued = false;
      await this.#resync();
    });
  }

  #onNotify(payload: string): void {
    let parsed: { scope?: unknown; id?: unknown; version?: unknown };
    try {
      parsed = JSON.parse(payload) as typeof parsed;
    } catch {
      this.#requestResync();
      return;
    }
    if (typeof parsed?.scope !== 'string' || typeof parsed.id !== 'string') {
      this.#requestResync();
      return;
    }
    const key = `${parsed.scope}/${parsed.id}`;
    const known = this.#known.get(key);
    // Already emitted (the drain of an earlier notification read a newer head).
    if (this.#baseline && known && typeof parsed.version === 'number' && known.version > parsed.version) return;
    this.#pending.add(key);
    if (this.#drainQueued) return;
    this.#drainQueued = true;
    void this.#enqueue(async () => {
      this.#drainQueued = false;
      const keys = [...this.#pending];
      this.#pending.clear();
      if (keys.length === 0) return;
      try {
        const { rows } = await this.#deps.client.query<HeadRow>(
          `SELECT config_id, scope, ref_id, version, checksum FROM ${this.#deps.headsTable}
           WHERE config_id = ANY($1::text[]) ORDER BY config_id`,
          [keys],
        );
        for (const row of rows) this.#observe(headOfRow(row));
      } catch (error) {
        for (const key of keys) this.#pending.add(key);
        throw error;
      }
    });
  }

  async #resync(): Promise<void> {
    const { rows } = await this.#deps.client.query<HeadRow>(
      `SELECT config_id, scope, ref_id, version, checksum FROM ${this.#deps.headsTable} ORDER BY config_id`,
    );
    const seen = new Set<string>();
    for (const row of rows) {
      seen.add(row.config_id);
      this.#observe(headOfRow(row));
    }
    for (const key of [...this.#known.keys()]) if (!seen.has(key)) this.#known.delete(key);
    if (!this.#baseline) {
      this.#baseline = true;
      const early = [...this.#earlyWrites].sort();
      this.#earlyWrites.clear();
      for (const key of early) {
        const head = this.#known.get(key);
        if (head) this.#emit(head);
      }
      const waiting = this.#awaitingInitial;
      this.#awaitingInitial = [];
      for (const sub of waiting) this.#deliverInitial(sub);
    }
  }

  /** Emits `head` when it differs (version or checksum) from the last one seen for its ref. */
  #observe(head: Head): void {
    const key = refKey(head.ref);
    const previous = this.#known.get(key);
    if (previous && previous.version === head.version && previous.checksum === head.checksum) return;
    this.#known.set(key, head);
    if (this.#baseline) this.#emit(head);
  }

  /** Delivers `head` as a change to every live subscriber of its scope. */
  #emit(head: Head): void {
    const change = headChange(head, false);
    for (const sub of [...this.#subs]) {
      if (sub.live && (sub.scope === undefined || sub.scope === head.ref.scope)) this.#call(sub, change);
    }
  }

  #deliverInitial(sub: Subscriber): void {
    if (sub.removed) return;
    const heads = [...this.#known.values()]
      .filter((h) => sub.scope === undefined || h.ref.scope === sub.scope)
      .sort(compareHeads);
    for (const head of heads) this.#call(sub, headChange(head, true));
    sub.live = true;
  }

  #call(sub: Subscriber, change: HeadChange): void {
    if (sub.removed) return;
    callListener(sub.listener, change, (error) => this.#tell(sub, error));
  }

  #report(error: ConfigError): void {
    this.#deps.logger?.warn?.({ err: error, backend: this.#deps.name }, 'watch: LISTEN connection problem, retrying');
    for (const sub of [...this.#subs]) this.#tell(sub, error);
  }

  #tell(sub: Subscriber, error: ConfigError): void {
    if (!sub.removed) tellError(sub.onError, error);
  }
}
