/**
 * The per-ref load and apply queue: the documents the client holds, the entries resolved from
 * them, and head events turned into loads, run in order per config id (never two at once), never
 * moving a ref backwards, each new entry validated before it is swapped in.
 */
import { messageOf } from '../errors/config-error.js';
import { type ConfigRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { HeadChange } from '../store/config-store.js';
import { assertVersionTrusted } from '../trust/versions.js';
import type { ListenerSet } from '../util/listeners.js';
import type { Acknowledger } from './acks.js';
import type { ClientContext } from './context.js';
import { buildEntry, type Held } from './entry.js';
import type { Entry, Resolver } from './resolution.js';
import type { SnapshotKeeper } from './snapshot-keeper.js';
import type { ConfigChange, ResolveDetails } from './types.js';

/** The other parts of the client a loader works with. */
export interface LoaderParts {
  resolver: Resolver;
  acks: Acknowledger;
  snapshots: SnapshotKeeper;
  listeners: ListenerSet<ConfigChange>;
  /** The client's `resolve(id)`: the details a change reports. */
  details(id: string): ResolveDetails;
}

export class RefLoader {
  /** The documents held, by ref key. */
  readonly docs = new Map<string, Held>();
  /** The resolved entries, by config id. */
  readonly entries = new Map<string, Entry>();
  readonly #ctx: ClientContext;
  readonly #parts: LoaderParts;
  readonly #queues = new Map<string, Promise<void>>();
  /** True while the initial load runs; head events meanwhile wait in `#deferred`. */
  #deferring = false;
  /** Documents whose signature verified (each is checked once). */
  readonly #verified = new WeakSet<ConfigVersion>();
  readonly #deferred = new Map<string, HeadChange>();

  constructor(ctx: ClientContext, parts: LoaderParts) {
    this.#ctx = ctx;
    this.#parts = parts;
  }

  /** Holds head events back (the initial load reads every head anyway), keeping the latest per ref. */
  deferHeads(): void {
    this.#deferring = true;
  }

  /** Settles the head events held back. */
  releaseHeads(): void {
    this.#deferring = false;
    const pending = [...this.#deferred.values()];
    this.#deferred.clear();
    for (const change of pending) this.onHead(change);
  }

  onHead(change: HeadChange): void {
    if (this.#ctx.lifecycle.closed) return;
    if (this.#deferring) {
      this.#deferred.set(change.key, change);
      return;
    }
    if (this.#holds(change.key, change.version, change.checksum)) return;
    const given = change.document && { doc: change.document, source: change.source ?? this.#ctx.store.name };
    void this.enqueue(change.ref.id, () => this.load(change.ref, change.version, true, change.checksum, given));
  }

  /** Runs loads for one config id (its global and app documents) in order, never two at once. */
  enqueue(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(task).catch((error: unknown) => this.#ctx.report(error));
    this.#queues.set(key, next);
    void next.then(() => {
      if (this.#queues.get(key) === next) this.#queues.delete(key);
    });
    return next;
  }

  /** Waits for every queued load (at close). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#queues.values()]);
  }

  /** True when what is held is already this head, or newer (and not merely a stale copy). */
  #holds(key: string, version: number, checksum: string | undefined): boolean {
    const held = this.docs.get(key);
    if (!held) return false;
    // A stale copy (snapshot, cache) is replaced by the same version from a durable tier, never by an older one.
    if (held.stale) return held.doc.version > version;
    return (
      held.doc.version > version ||
      (held.doc.version === version && (checksum === undefined || held.doc.checksum === checksum))
    );
  }

  /**
   * Reads `version` of `ref` (unless the watch delivered it: `given`) and applies it: on success it
   * is acknowledged, snapshotted and (with `notify`) reported to watchers; a rejected version leaves
   * the last good one in place.
   */
  async load(
    ref: ConfigRef,
    version: number,
    notify: boolean,
    checksum?: string,
    given?: { doc: ConfigVersion; source: string },
  ): Promise<void> {
    if (this.#ctx.lifecycle.closed) return;
    const { store } = this.#ctx;
    const { acks, resolver } = this.#parts;
    const key = refKey(ref);
    const held = this.docs.get(key);
    if (this.#holds(key, version, checksum)) return;
    let doc: ConfigVersion | undefined;
    let source = store.name;
    let stale = false;
    if (given && given.doc.version === version && given.doc.checksum === checksum) {
      ({ doc, source } = given);
    } else if (store.capabilities.tiered && store.getVersionDetailed) {
      const r = await store.getVersionDetailed(ref, version);
      ({ doc, source, stale } = r);
    } else {
      doc = await store.getVersion(ref, version);
    }
    if (!doc) return;
    // Never backwards: a tier answering with an older version than held is behind.
    if (held && doc.version < held.doc.version) return;
    const id = ref.id;
    const previousEntry = this.entries.get(id);
    const previous = previousEntry
      ? (previousEntry.fixed ?? resolver.evaluate(previousEntry, undefined)).value
      : undefined;
    this.docs.set(key, { doc, source, stale });
    try {
      await this.recompute(id);
    } catch (error) {
      // Rejected: the entry was not swapped; restore the last good document and say so.
      if (held) this.docs.set(key, held);
      else this.docs.delete(key);
      await acks.ack(doc, 'rejected', messageOf(error));
      this.#ctx.report(error);
      return;
    }
    // Watchers hear of the change at once; the acknowledgement follows through the ack queue.
    void acks.ack(doc, 'applied');
    this.#parts.snapshots.schedule();
    if (notify) {
      const details = this.#parts.details(id);
      this.#parts.listeners.emit(
        Object.freeze({ id, ref, version: doc.version, previous, value: details.value, details }),
        (error) => this.#ctx.report(error),
      );
    }
  }

  /**
   * Resolves the documents of `id` for this environment and swaps the entry in (or drops it when
   * no live document is left). Throws, leaving the old entry in place, when anything is invalid or
   * a secret cannot be resolved.
   */
  async recompute(id: string): Promise<void> {
    const trust = this.#ctx.options.trust;
    if (trust) {
      // Every held document of the id verifies before anything is built, tombstones included.
      for (const key of [`global/${id}`, `app:${this.#ctx.app}/${id}`]) {
        const held = this.docs.get(key);
        if (!held || this.#verified.has(held.doc)) continue;
        assertVersionTrusted(held.doc, trust, held.source);
        this.#verified.add(held.doc);
      }
    }
    // A tombstone (a delete through the change service) is a version like any other, read as absent.
    const live = (key: string) => {
      const held = this.docs.get(key);
      return held && held.doc.metadata.deleted !== true ? held : undefined;
    };
    const global = live(`global/${id}`);
    const app = live(`app:${this.#ctx.app}/${id}`);
    if (!global && !app) {
      this.entries.delete(id);
      return;
    }
    this.entries.set(id, await buildEntry(this.#ctx, this.#parts.resolver, id, global, app));
  }
}
