/**
 * The configuration client's public face. Its parts live beside it: `context.ts` (checked options,
 * reporting), `startup.ts` (the initial load and snapshot fallback), `loader.ts` (the per-ref
 * load and apply queue), `entry.ts` (building and validating an id's entry), `resolution.ts`
 * (evaluating and explaining from memory), `acks.ts` (applied-state acknowledgements) and
 * `snapshot-keeper.ts` (the last-known-good snapshot).
 */
import { errors, isConfigError, messageOf } from '../errors/config-error.js';
import type { JsonObject } from '../model/json.js';
import type { ConfigVersion } from '../model/version.js';
import type { Explain } from '../resolve/explain.js';
import type { FlagSet } from '../rollout/evaluate.js';
import type { EvaluationContext } from '../rollout/targeting.js';
import { onAbort } from '../util/abort.js';
import { ListenerSet } from '../util/listeners.js';
import { Acknowledger } from './acks.js';
import { type ClientContext, createClientContext } from './context.js';
import { RefLoader } from './loader.js';
import { compilePattern } from './pattern.js';
import { DEFAULT_DETAILS, EMPTY_FLAGS, Resolver } from './resolution.js';
import { SnapshotKeeper } from './snapshot-keeper.js';
import { startClient } from './startup.js';
import type { ClientOptions, ConfigChange, ResolveDetails } from './types.js';

/**
 * Synchronous, in-memory configuration for one app in one environment, kept current by a watch.
 * Create it with {@link createConfigClient}; `get` after ready never does I/O.
 */
export class ConfigClient implements AsyncDisposable {
  readonly app: string;
  readonly environment: string;
  readonly instance: string;
  readonly #ctx: ClientContext;
  readonly #resolver: Resolver;
  readonly #listeners = new ListenerSet<ConfigChange>();
  readonly #acks: Acknowledger;
  readonly #snapshots: SnapshotKeeper;
  readonly #loader: RefLoader;
  readonly #unwatch: Array<() => void> = [];
  readonly #closeWaiters = new Set<() => void>();
  /** Mirrors the lifecycle as a plain field so the read path checks it at the cost of one load. */
  #closed = false;
  #ready: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    const ctx = createClientContext(options);
    this.#ctx = ctx;
    this.app = ctx.app;
    this.environment = ctx.environment;
    this.instance = ctx.instance;
    this.#resolver = new Resolver(options.context, options.now);
    this.#acks = new Acknowledger(ctx);
    this.#snapshots = new SnapshotKeeper(ctx, () => this.#heldDocs());
    this.#loader = new RefLoader(ctx, {
      resolver: this.#resolver,
      acks: this.#acks,
      snapshots: this.#snapshots,
      listeners: this.#listeners,
      details: (id) => this.resolve(id),
    });
  }

  /** Resolves once the initial state is loaded (from the store, or from the snapshot when no store answers). */
  ready(): Promise<void> {
    this.#ready ??= startClient(this.#ctx, {
      loader: this.#loader,
      acks: this.#acks,
      snapshots: this.#snapshots,
      unwatch: this.#unwatch,
    });
    return this.#ready;
  }

  /** The resolved value of `id`, from memory. Undefined when nothing is stored for it. */
  get<T = JsonObject>(id: string, context?: EvaluationContext): T | undefined {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#loader.entries.get(id);
    if (entry === undefined) return undefined;
    return (entry.fixed ?? this.#resolver.evaluate(entry, context)).value as T | undefined;
  }

  /**
   * The resolved value for `context` (merged over the client's default context) with its versions,
   * checksum, source, staleness, reason, and the rollout rule and variant that applied.
   */
  resolve<T = JsonObject>(id: string, context?: EvaluationContext): ResolveDetails<T> {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#loader.entries.get(id);
    if (entry === undefined) return DEFAULT_DETAILS as ResolveDetails<T>;
    return (
      context === undefined && entry.fixed ? entry.fixed : this.#resolver.evaluate(entry, context)
    ) as ResolveDetails<T>;
  }

  /**
   * The feature flags defined in the rollout of `id` (its `flags` member), compiled, for the
   * OpenFeature provider (`clientFlagSource`). Empty when the id has no flags.
   */
  flags(id: string): FlagSet {
    if (this.#closed) throw errors.closed('config client');
    return this.#loader.entries.get(id)?.rollout?.flags ?? EMPTY_FLAGS;
  }

  /** For every leaf of the value `resolve(id, context)` gives, the layer that set it. */
  explain(id: string, context?: EvaluationContext): Explain | undefined {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#loader.entries.get(id);
    if (entry === undefined) return undefined;
    return this.#resolver.explain(entry, context);
  }

  /** Typed access: the same value as `get`, typed by the caller (generate `T` from the schema). */
  typed<T>(id: string): T | undefined {
    return this.get<T>(id);
  }

  /** Ids with a resolved value. */
  ids(): string[] {
    return [...this.#loader.entries.keys()].sort();
  }

  /**
   * Calls `callback` for every applied change of an id matching `pattern` (`*` within a segment,
   * `**` across). Returns the unwatch function. A callback that throws is reported through `onError`
   * and never stops the others.
   */
  watch(pattern: string, callback: (change: ConfigChange) => void, options: { signal?: AbortSignal } = {}): () => void {
    this.#ctx.lifecycle.assertOpen();
    const matches = compilePattern(pattern);
    const remove = this.#listeners.add((change) => {
      if (matches(change.id)) callback(change);
    });
    const off = onAbort(options.signal, remove);
    return () => {
      remove();
      off();
    };
  }

  /** The changes of ids matching `pattern` as an async iterator; ends when `signal` aborts or the client closes. */
  async *changes(pattern: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<ConfigChange> {
    const queue: ConfigChange[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const stop = () => {
      done = true;
      wake?.();
    };
    const unwatch = this.watch(pattern, (c) => {
      queue.push(c);
      wake?.();
    });
    const offAbort = onAbort(options.signal, stop);
    try {
      while (!done && !this.#ctx.lifecycle.closed) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          this.#closeWaiters.add(resolve);
        });
        if (wake) this.#closeWaiters.delete(wake);
        wake = undefined;
      }
    } finally {
      unwatch();
      offAbort();
    }
  }

  /** Stops the watch and pending work. Idempotent; the store is not closed (the caller owns it). */
  close(): Promise<void> {
    return this.#ctx.lifecycle.close(async () => {
      this.#closed = true;
      for (const stop of this.#unwatch.splice(0)) stop();
      // Loads under way finish first, so the snapshot written last holds what they applied.
      await this.#loader.settle();
      await this.#snapshots.flush();
      // Acknowledgements still queued are dropped (best effort); those under way finish.
      await this.#acks.drain();
      this.#listeners.clear();
      for (const wake of this.#closeWaiters) wake();
      this.#closeWaiters.clear();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #heldDocs(): ConfigVersion[] {
    return [...this.#loader.docs.values()].map((d) => d.doc);
  }
}

/** Creates a client and waits until it is ready. */
export async function createConfigClient(options: ClientOptions): Promise<ConfigClient> {
  const client = new ConfigClient(options);
  try {
    await client.ready();
  } catch (error) {
    await client.close();
    throw isConfigError(error) ? error : errors.constraint(messageOf(error), { cause: error });
  }
  return client;
}
