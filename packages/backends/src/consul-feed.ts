/**
 * The change feed of a scope: one small key, `<prefix>feed/<scope>`, rewritten (compare-and-set) in
 * the same transaction as every head it moves. Its value is
 *
 *   {"feed":"<random id>","seq":N,"entries":[{"seq":N,"id":"<id>","version":V,"checksum":"…","doc":"…","at":T}, …]}
 *
 * the last changes of the scope (of the last few seconds), newest last, each with its document
 * inline when small. A watcher
 * blocks on that one key instead of the whole heads tree, so a wake-up carries a few KB whatever the
 * number of refs, and usually the document itself (no second fetch).
 *
 * Correctness never rests on the feed: a watcher that finds a gap in `seq` (it fell behind the
 * entries kept), a different `feed` id (the key was lost and made again) or a key it cannot read
 * lists the heads tree instead, as it always did. Every head write of the store goes through
 * {@link ChangeFeed.commit}, which serialises the writes of a scope within this process (so they
 * never conflict with each other) and, when another process moved the feed first, reads it again
 * and resends.
 */
import { randomBytes } from 'node:crypto';
import type { Scope } from '@summit-config/core';
import { delay, isPlainObject } from '@summit-config/core/internal';
import type { ConsulHttp } from './consul-http.js';
import { CHECKSUM_RE, type Layout } from './consul-layout.js';
import { base64, type TxnOp, type TxnOutcome } from './consul-wire.js';

/** Entries a feed keeps. */
export const FEED_MAX_ENTRIES = 32;
/** A document is carried inline when its JSON is at most this long. */
export const FEED_INLINE_DOC_BYTES = 2048;
/**
 * The feed value's JSON never grows past this (older inline documents, then older entries, go
 * first): base64-encoded in Consul's answer, a wake-up stays near 6 KiB (under the 16 KiB bound)
 * and every append writes little more than its own change.
 */
export const FEED_MAX_BYTES = 4 * 1024;
/**
 * Entries older than this (by the writer's clock, when it writes) are dropped: a quiet scope's feed
 * holds its last few changes, so a wake-up carries little more than the change itself. A watcher
 * that fell further behind finds a gap and lists the tree; one that kept up never notices.
 */
export const FEED_KEEP_MS = 5000;
/** Resends after another process moved the feed first. */
const MAX_CONFLICTS = 20;

/** A change as a writer hands it to the feed. */
export interface FeedChange {
  id: string;
  version: number;
  checksum: string;
  /** The serialized document (ConfigVersion JSON), inlined when small enough. */
  doc?: string | undefined;
}

export interface FeedEntry extends FeedChange {
  seq: number;
  /** When it was written (ms since the epoch, the writer's clock). */
  at?: number;
}

export interface FeedValue {
  feed: string;
  seq: number;
  entries: FeedEntry[];
}

/** Parses a feed value; `undefined` for anything that is not one (the reader lists the heads instead). */
export function decodeFeed(value: string | null | undefined): FeedValue | undefined {
  let parsed: unknown;
  try {
    parsed = typeof value === 'string' ? JSON.parse(value) : undefined;
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed) || typeof parsed.feed !== 'string' || parsed.feed.length === 0) return undefined;
  if (!Number.isSafeInteger(parsed.seq) || (parsed.seq as number) < 0 || !Array.isArray(parsed.entries)) {
    return undefined;
  }
  const entries: FeedEntry[] = [];
  let last = 0;
  for (const e of parsed.entries as unknown[]) {
    if (
      !isPlainObject(e) ||
      !Number.isSafeInteger(e.seq) ||
      (e.seq as number) <= last ||
      (e.seq as number) > (parsed.seq as number) ||
      typeof e.id !== 'string' ||
      !Number.isSafeInteger(e.version) ||
      (e.version as number) < 1 ||
      typeof e.checksum !== 'string' ||
      !CHECKSUM_RE.test(e.checksum) ||
      (e.doc !== undefined && typeof e.doc !== 'string') ||
      (e.at !== undefined && !Number.isSafeInteger(e.at))
    ) {
      return undefined;
    }
    last = e.seq as number;
    entries.push({
      seq: e.seq as number,
      id: e.id,
      version: e.version as number,
      checksum: e.checksum,
      ...(e.doc === undefined ? {} : { doc: e.doc as string }),
      ...(e.at === undefined ? {} : { at: e.at as number }),
    });
  }
  return { feed: parsed.feed, seq: parsed.seq as number, entries };
}

/** Each entry's JSON, computed once per entry object (entries never change). */
const entryTexts = new WeakMap<FeedEntry, string>();

function textOf(entry: FeedEntry): string {
  let text = entryTexts.get(entry);
  if (text === undefined) {
    text = JSON.stringify(entry);
    entryTexts.set(entry, text);
  }
  return text;
}

/**
 * The feed after `changes` at time `now`: entries older than {@link FEED_KEEP_MS} dropped, within
 * {@link FEED_MAX_ENTRIES} and {@link FEED_MAX_BYTES}, with its JSON text (what is written).
 */
export function nextFeed(
  current: FeedValue,
  changes: readonly FeedChange[],
  now = Date.now(),
): { value: FeedValue; text: string } {
  let seq = current.seq;
  const added = changes.map((c): FeedEntry => {
    const doc = c.doc !== undefined && Buffer.byteLength(c.doc, 'utf8') <= FEED_INLINE_DOC_BYTES ? c.doc : undefined;
    const entry: FeedEntry = { seq: ++seq, id: c.id, version: c.version, checksum: c.checksum };
    if (doc !== undefined) entry.doc = doc;
    entry.at = now;
    return entry;
  });
  const kept = current.entries.filter((e) => e.at !== undefined && e.at >= now - FEED_KEEP_MS);
  const entries = [...kept, ...added].slice(-FEED_MAX_ENTRIES);
  const head = `{"feed":${JSON.stringify(current.feed)},"seq":${seq},"entries":[`;
  const sizes = entries.map((e) => Buffer.byteLength(textOf(e), 'utf8'));
  // The envelope, each entry, and the commas between them.
  let size = head.length + 2 + sizes.reduce((a, b) => a + b, 0) + Math.max(0, entries.length - 1);
  // Oldest inline documents go first, then oldest entries, until it fits (the newest entry always stays).
  for (let i = 0; size > FEED_MAX_BYTES && i < entries.length - 1; i++) {
    const e = entries[i] as FeedEntry;
    if (e.doc === undefined) continue;
    const bare: FeedEntry = { seq: e.seq, id: e.id, version: e.version, checksum: e.checksum };
    if (e.at !== undefined) bare.at = e.at;
    const bytes = Buffer.byteLength(textOf(bare), 'utf8');
    size -= (sizes[i] as number) - bytes;
    entries[i] = bare;
    sizes[i] = bytes;
  }
  while (size > FEED_MAX_BYTES && entries.length > 1) {
    entries.shift();
    size -= (sizes.shift() as number) + 1;
  }
  return { value: { feed: current.feed, seq, entries }, text: `${head}${entries.map(textOf).join(',')}]}` };
}

/** A feed with no entries and a new id. */
export function emptyFeed(): FeedValue {
  return { feed: randomBytes(9).toString('base64url'), seq: 0, entries: [] };
}

interface Known {
  value: FeedValue;
  /** The key's ModifyIndex; 0 when it does not exist. */
  index: number;
}

/** The writer side: what this process last knew of each scope's feed, and one writer per scope at a time. */
export class ChangeFeed {
  readonly #http: ConsulHttp;
  readonly #layout: Layout;
  readonly #known = new Map<Scope, Known>();
  readonly #tails = new Map<Scope, Promise<unknown>>();
  /** Transactions resent because another process moved a feed first. */
  conflicts = 0;

  constructor(http: ConsulHttp, layout: Layout) {
    this.#http = http;
    this.#layout = layout;
  }

  /**
   * Sends `ops` with the feed operation for `changes` of `scope` appended last, one transaction of a
   * scope at a time in this process. A transaction that failed only on the feed operation is sent
   * again with the feed read afresh; any other outcome is returned as it is (feed errors removed).
   */
  commit(
    scope: Scope,
    changes: readonly FeedChange[],
    ops: readonly TxnOp[],
    send: (ops: TxnOp[]) => Promise<TxnOutcome>,
  ): Promise<TxnOutcome> {
    const previous = this.#tails.get(scope) ?? Promise.resolve();
    const run = previous.then(
      () => this.#commit(scope, changes, ops, send),
      () => this.#commit(scope, changes, ops, send),
    );
    const tail = run.catch(() => {});
    this.#tails.set(scope, tail);
    void tail.then(() => {
      if (this.#tails.get(scope) === tail) this.#tails.delete(scope);
    });
    return run;
  }

  /** True while a transaction of `scope` is being sent (the batcher sends another scope's meanwhile). */
  busy(scope: Scope): boolean {
    return this.#tails.has(scope);
  }

  async #commit(
    scope: Scope,
    changes: readonly FeedChange[],
    ops: readonly TxnOp[],
    send: (ops: TxnOp[]) => Promise<TxnOutcome>,
  ): Promise<TxnOutcome> {
    const key = this.#layout.feed(scope);
    const feedIndex = ops.length;
    for (let attempt = 0; ; attempt++) {
      const known = this.#known.get(scope) ?? (await this.#read(scope));
      const { value: next, text } = nextFeed(known.value, changes);
      const feedOp: TxnOp = { KV: { Verb: 'cas', Key: key, Value: base64(text), Index: known.index } };
      let out: TxnOutcome;
      try {
        out = await send([...ops, feedOp]);
      } catch (error) {
        this.#known.delete(scope); // the outcome is unknown: read the feed before the next write
        throw error;
      }
      if (out.ok) {
        const written = out.results.find((r) => r.KV?.Key === key)?.KV?.ModifyIndex;
        if (written === undefined) this.#known.delete(scope);
        else this.#known.set(scope, { value: next, index: written });
        return out;
      }
      const feedFailed = out.errors.some((e) => e.OpIndex === feedIndex);
      const others = out.errors.filter((e) => e.OpIndex !== feedIndex);
      if (!feedFailed) return out;
      this.#known.delete(scope);
      if (others.length > 0 || attempt >= MAX_CONFLICTS) {
        // Failed for its own reasons too (or never got through): the caller handles those. After too
        // many conflicts the feed failure itself is returned, as a rolled-back transaction.
        return others.length > 0 ? { ok: false, errors: others } : out;
      }
      this.conflicts++;
      // Another process moved the feed: read it again and resend (with jitter, to break lockstep).
      if (attempt > 0) await delay(Math.floor(Math.random() * Math.min(50, 2 ** attempt)));
    }
  }

  async #read(scope: Scope): Promise<Known> {
    const { entry } = await this.#http.kvGet(this.#layout.feed(scope), { consistent: true });
    if (!entry) return { value: emptyFeed(), index: 0 };
    // A value that is not a feed is replaced by a new feed (a new id: readers list the heads once).
    return { value: decodeFeed(entry.Value) ?? emptyFeed(), index: entry.ModifyIndex };
  }
}
