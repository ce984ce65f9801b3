/**
 * The watch of a failover chain: one upstream watch per needed scope, on the first closed tier that
 * can watch, shared by every subscriber. When breakers move it switches tiers with a full resync:
 * the new upstream's initial heads are diffed against what was delivered, so a change missed across
 * the switch is emitted and a head older than what was delivered never is (a tier catching up).
 */
import {
  type ConfigError,
  type HeadChange,
  type HeadListener,
  parseRef,
  type Scope,
  type Unwatch,
  type WatchOptions,
} from '@summit-config/core';
import { errors, ListenerSet, onAbort } from '@summit-config/core/internal';
import { type Breakers, errorText, isOutage, type Tier } from './failover-tiers.js';

interface Sub {
  scope: Scope | undefined;
  listener: HeadListener;
  onError: WatchOptions['onError'];
}

export interface FanoutDeps {
  readonly tiers: readonly Tier[];
  readonly breakers: Breakers;
  /** Resolves once the first probe round decided which tiers serve. */
  readonly ready: () => Promise<void>;
  isClosed(): boolean;
  /** Every head delivered (the floors of monotonic reads follow it). */
  seen(key: string, version: number): void;
  switched(from: string | undefined, to: string | undefined): void;
}

export class WatchFanout {
  readonly #d: FanoutDeps;
  readonly #subs = new ListenerSet<HeadChange>();
  readonly #subScopes = new Map<Sub, Scope | '*'>();
  readonly #lastSeen = new Map<string, { version: number; checksum: string }>();
  #watching: { tier: Tier; stops: Map<string, Unwatch> } | undefined;
  #started = false;
  /**
   * Scopes some upstream already delivered initial heads for: a re-attachment (a switch) diffs its
   * initial heads and emits the differences as changes. (A switch before the first upstream's
   * initial heads arrived leaves the scope unseeded, so the next upstream's heads are the seed.)
   */
  readonly #seededScopes = new Set<string>();

  constructor(deps: FanoutDeps) {
    this.#d = deps;
  }

  /** The tier the watch follows. */
  get watching(): string | undefined {
    return this.#watching?.tier.store.name;
  }

  add(listener: HeadListener, watchOptions: WatchOptions): Unwatch {
    const sub: Sub = { scope: watchOptions.scope, listener, onError: watchOptions.onError };
    const wantsInitial = watchOptions.initial === true;
    const remove = this.#subs.add((change) => {
      if (sub.scope !== undefined && change.ref.scope !== sub.scope) return;
      if (change.initial && !wantsInitial) return;
      try {
        listener(change);
      } catch (error) {
        sub.onError?.(errors.constraint(`watch listener threw: ${errorText(error)}`, { cause: error }));
      }
    });
    const scopeKey = sub.scope ?? '*';
    const watching = this.#watching;
    if (wantsInitial && watching && (watching.stops.has(scopeKey) || watching.stops.has('*'))) {
      // The scope is already attached: its snapshot came and went, so replay what is known.
      const known = [...this.#lastSeen].filter(([key]) => sub.scope === undefined || key.startsWith(`${sub.scope}/`));
      queueMicrotask(() => {
        for (const [key, h] of known) {
          if (!this.#subScopes.has(sub)) return;
          listener(Object.freeze({ ref: parseRef(key), key, version: h.version, checksum: h.checksum, initial: true }));
        }
      });
    }
    this.#subScopes.set(sub, scopeKey);
    // Attach once the tiers were checked, so the first watch never lands on an unverified mirror.
    if (this.#started) this.refresh();
    else {
      void this.#d.ready().then(() => {
        this.#started = true;
        this.refresh();
      });
    }
    let offAbort = () => {};
    const unwatch = () => {
      if (!this.#subScopes.delete(sub)) return;
      remove();
      offAbort();
      this.refresh();
    };
    offAbort = onAbort(watchOptions.signal, unwatch);
    return unwatch;
  }

  /** (Re)attaches upstream watches to the best tier, one per needed scope, with a full resync on a switch. */
  refresh(): void {
    // Not before the first probe round decided which tiers serve (no attach to a tier about to switch).
    if (this.#d.isClosed() || !this.#started) return;
    const needed = new Set(this.#subScopes.values());
    const best =
      needed.size === 0 ? undefined : this.#d.tiers.find((t) => t.state === 'closed' && t.store.capabilities.watch);
    if (this.#watching && this.#watching.tier !== best) {
      for (const stop of this.#watching.stops.values()) stop();
      // Detaching because nobody watches any more (a clean shutdown) is not a switch.
      if (needed.size > 0) this.#d.switched(this.#watching.tier.store.name, best?.store.name);
      this.#watching = undefined;
    }
    if (!best) return;
    this.#watching ??= { tier: best, stops: new Map() };
    const current = this.#watching;
    const scopes = needed.has('*') ? ['*'] : [...needed];
    for (const [scope, stop] of current.stops) {
      if (!scopes.includes(scope)) {
        stop();
        current.stops.delete(scope);
      }
    }
    for (const scope of scopes) {
      if (current.stops.has(scope)) continue;
      const coveredBefore = new Set(this.#seededScopes);
      current.stops.set(
        scope,
        best.store.watch((change) => this.#deliver(change, coveredBefore, best.store.name), {
          scope: scope === '*' ? undefined : (scope as Scope),
          initial: true,
          onError: (error) => {
            if (isOutage(error)) this.#d.breakers.failure(best, error);
            this.#reportError(error);
          },
        }),
      );
    }
  }

  close(): void {
    if (this.#watching) for (const stop of this.#watching.stops.values()) stop();
    this.#watching = undefined;
    this.#subs.clear();
    this.#subScopes.clear();
  }

  /**
   * `coveredBefore`: the scopes seeded when this upstream was attached. An initial head of a scope
   * never seeded before is state (a seed); any other head is diffed against what was delivered, so
   * changes missed across a switch or a re-attachment are emitted. A head older than what was
   * delivered is never emitted (a tier catching up).
   */
  #deliver(change: HeadChange, coveredBefore: ReadonlySet<string>, source: string): void {
    const seedOnly = change.initial && !coveredBefore.has('*') && !coveredBefore.has(change.ref.scope);
    this.#seededScopes.add(this.#watching?.stops.has('*') ? '*' : change.ref.scope);
    const last = this.#lastSeen.get(change.key);
    if (last && change.version < last.version) return; // never backwards
    const isNew =
      !last || change.version > last.version || (change.version === last.version && change.checksum !== last.checksum);
    if (isNew) {
      this.#lastSeen.set(change.key, { version: change.version, checksum: change.checksum });
      this.#d.seen(change.key, change.version);
    }
    if (seedOnly) {
      // The first snapshot of a scope: state, not change. Only subscribers that asked for it take it.
      this.#subs.emit(Object.freeze({ ...change, initial: true }));
      return;
    }
    // A document delivered with the change names the tier it came from.
    if (isNew) this.#subs.emit(Object.freeze({ ...change, initial: false, ...(change.document ? { source } : {}) }));
  }

  #reportError(error: ConfigError): void {
    for (const sub of this.#subScopes.keys()) sub.onError?.(error);
  }
}
