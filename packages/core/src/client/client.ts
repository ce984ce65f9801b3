import { hostname } from 'node:os';
import { ConfigError, errors, isConfigError, messageOf } from '../errors/config-error.js';
import { type Environment, environmentChain, validateEnvironments } from '../model/environment.js';
import { deepFreeze, isPlainObject, type JsonObject } from '../model/json.js';
import { type ConfigRef, parseEnvironmentName, parseId, parseScope, refKey, type Scope } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { Explain } from '../resolve/explain.js';
import { type Resolution, resolveLayers, withRollout } from '../resolve/resolver.js';
import { type LayerSource, sourceLayers } from '../resolve/sources.js';
import {
  type CompiledRollout,
  compileRollout,
  type FlagSet,
  NO_ROLLOUT,
  type RolloutOutcome,
} from '../rollout/evaluate.js';
import type { EvaluationContext } from '../rollout/targeting.js';
import type { SchemaRegistry } from '../schema/registry.js';
import type { ConfigStore, HeadChange } from '../store/contract.js';
import { onAbort } from '../util/abort.js';
import { Lifecycle } from '../util/lifecycle.js';
import { ListenerSet } from '../util/listeners.js';
import { compilePattern } from './pattern.js';
import { readSnapshot, writeSnapshot } from './snapshot.js';

export interface ClientLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/**
 * Checks a candidate before it is swapped in. Throw (ideally a `SCHEMA_VALIDATION` ConfigError) to
 * reject it: the last good value stays and the version is acknowledged as `rejected`.
 */
export type CandidateValidator = (candidate: { id: string; value: JsonObject; docs: readonly ConfigVersion[] }) => void;

export interface ClientOptions {
  /** Where configuration comes from: usually `createFailoverStore([...])`. The client does not close it. */
  store: ConfigStore;
  /** The application: the client reads the `global` and `app:<app>` scopes. */
  app: string;
  /** The environment this process runs in; its overrides (and its parents') apply. */
  environment: string;
  /**
   * Environment definitions for parent chains. Default: just `environment`, without a parent.
   * An `environment` not defined here is `ENVIRONMENT_NOT_FOUND`.
   */
  environments?: readonly Environment[];
  /** This process's name in applied-state acknowledgements. Default `<hostname>-<pid>`. */
  instance?: string;
  /**
   * JSON Schemas by config id: defaults are the lowest layer, and every candidate (with each rollout
   * overlay it can produce) must validate before it is applied. Ids without a schema are not checked.
   */
  schemas?: SchemaRegistry;
  /** An extra check of every candidate before it is applied, after the schema. */
  validate?: CandidateValidator;
  /**
   * Secret references in config values are resolved through this when a version is applied; a
   * version whose secrets cannot be resolved is rejected like an invalid one (last good value kept).
   */
  secrets?: ClientSecrets;
  /** Layers from environment variables and local files (`envSource`, `loadFileSource`). */
  sources?: readonly LayerSource[];
  /** The evaluation context `get()` uses for rollouts (e.g. this instance's region). Default `{}`. */
  context?: EvaluationContext;
  /** Clock for time windows, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Last-known-good snapshot file. Written after every applied change; read at start-up when no
   * store answers. Default: none.
   */
  snapshotFile?: string;
  /** Documents fetched at once during the initial load. Default 32. */
  loadConcurrency?: number;
  /** Milliseconds to wait for the store at start-up before falling back to the snapshot. Default 5000. */
  startTimeoutMs?: number;
  /** A pino-compatible logger. The client never writes to the console. */
  logger?: ClientLogger;
  /** Called for problems the client handled (a rejected version, a failed ack, a watch error). */
  onError?: (error: ConfigError) => void;
}

export interface ResolveDetails<T = JsonObject> {
  /** The merged value, deeply frozen; undefined when no document exists for the id. */
  readonly value: T | undefined;
  /** The rollout rule that chose the overlay, and the variant (`candidate`, an A/B variant ...). */
  readonly ruleId?: string;
  readonly variant?: string;
  /** Versions of the documents merged, by scope. */
  readonly versions: { readonly global?: number; readonly app?: number };
  /** Checksums of the documents merged, joined `global:app`. */
  readonly checksum: string;
  /** The tier that answered when this value was loaded: `consul`, `postgres`, `memory`, `snapshot` ... */
  readonly source: string;
  /** True when the value came from the cache tier or a snapshot rather than a durable tier. */
  readonly stale: boolean;
  /**
   * Why this value: `STATIC` (documents merged, no rollout rule applied), `TARGETING_MATCH` / `SPLIT`
   * (a rollout rule chose an overlay), `DEFAULT` (nothing stored), `STALE` (from a snapshot or the cache).
   */
  readonly reason: 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED' | 'STALE';
}

export interface ConfigChange {
  readonly id: string;
  /** The document that changed. */
  readonly ref: ConfigRef;
  readonly version: number;
  readonly previous: JsonObject | undefined;
  readonly value: JsonObject | undefined;
  readonly details: ResolveDetails;
}

interface Entry {
  /** The resolution without a rollout overlay. */
  base: Resolution;
  /** The rollout of the app document (else the global one), compiled once per version. */
  rollout: CompiledRollout | undefined;
  /** The details for the default context when they do not depend on context or clock. */
  fixed: ResolveDetails | undefined;
  meta: Omit<ResolveDetails, 'value' | 'reason' | 'ruleId' | 'variant'>;
  /** Details per rollout outcome (outcomes are shared singletons), so repeated resolves allocate nothing. */
  byOutcome: WeakMap<RolloutOutcome, ResolveDetails>;
  /** The validated value per outcome, secret references resolved (memory only, never persisted). */
  values: Map<RolloutOutcome, JsonObject>;
}

/**
 * Resolves `{"$secret": {...}}` references just in time (a `SecretResolver` from
 * `@summit-config/secrets` is one). Values stay in this process's memory only.
 */
export interface ClientSecrets {
  /** A copy of `json` with every secret reference replaced by its value. */
  resolveRefs<T>(json: T, options?: { signal?: AbortSignal }): Promise<T>;
  /** Drops cached values of a secret, so the next resolve reads the provider again. */
  invalidate(provider: string, name?: string): number;
}

const EMPTY_FLAGS: FlagSet = new Map();

const DEFAULT_DETAILS: ResolveDetails = Object.freeze({
  value: undefined,
  versions: Object.freeze({}),
  checksum: '',
  source: 'none',
  stale: false,
  reason: 'DEFAULT',
});

/**
 * Synchronous, in-memory configuration for one app in one environment, kept current by a watch.
 * Create it with {@link createConfigClient}; `get` after ready never does I/O.
 */
export class ConfigClient implements AsyncDisposable {
  readonly app: string;
  readonly environment: string;
  readonly instance: string;
  readonly #store: ConfigStore;
  readonly #options: ClientOptions;
  readonly #chain: string[];
  readonly #scopes: readonly Scope[];
  readonly #lifecycle = new Lifecycle('config client');
  readonly #docs = new Map<string, { doc: ConfigVersion; source: string; stale: boolean }>();
  /** The store chain's epoch, read at start (undefined for stores that keep none). */
  #epoch: string | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new ListenerSet<ConfigChange>();
  readonly #queues = new Map<string, Promise<void>>();
  readonly #unwatch: Array<() => void> = [];
  #snapshotTimer: NodeJS.Timeout | undefined;
  /** Mirrors the lifecycle as a plain field so the read path checks it at the cost of one load. */
  #closed = false;
  #ready: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    if (!options || typeof options !== 'object') throw errors.constraint('client options must be an object');
    if (!options.store || typeof options.store.watch !== 'function') {
      throw errors.constraint('client option store must be a ConfigStore');
    }
    this.app = parseId(options.app);
    if (this.app.includes('/')) throw errors.constraint(`client option app must be one segment, got "${options.app}"`);
    this.environment = parseEnvironmentName(options.environment);
    const envs = validateEnvironments(options.environments ?? [{ name: this.environment, production: false }]);
    this.#chain = environmentChain(this.environment, envs);
    this.instance = options.instance ?? `${hostname()}-${process.pid}`;
    if (
      options.loadConcurrency !== undefined &&
      !(Number.isSafeInteger(options.loadConcurrency) && options.loadConcurrency > 0)
    ) {
      throw errors.constraint(
        `client option loadConcurrency must be a positive integer, got ${options.loadConcurrency}`,
      );
    }
    if (options.startTimeoutMs !== undefined && !(options.startTimeoutMs > 0)) {
      throw errors.constraint(`client option startTimeoutMs must be a positive number, got ${options.startTimeoutMs}`);
    }
    this.#store = options.store;
    this.#options = options;
    if (options.context !== undefined) this.#context = Object.freeze({ ...options.context });
    this.#hasContext = Object.keys(this.#context).length > 0;
    if (options.now !== undefined) this.#now = options.now;
    this.#scopes = [parseScope('global'), parseScope(`app:${this.app}`)];
  }

  /** Resolves once the initial state is loaded (from the store, or from the snapshot when no store answers). */
  ready(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  /** The resolved value of `id`, from memory. Undefined when nothing is stored for it. */
  get<T = JsonObject>(id: string, context?: EvaluationContext): T | undefined {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    return (entry.fixed ?? this.#evaluate(entry, context)).value as T | undefined;
  }

  /**
   * The resolved value for `context` (merged over the client's default context) with its versions,
   * checksum, source, staleness, reason, and the rollout rule and variant that applied.
   */
  resolve<T = JsonObject>(id: string, context?: EvaluationContext): ResolveDetails<T> {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#entries.get(id);
    if (entry === undefined) return DEFAULT_DETAILS as ResolveDetails<T>;
    return (context === undefined && entry.fixed ? entry.fixed : this.#evaluate(entry, context)) as ResolveDetails<T>;
  }

  /**
   * The feature flags defined in the rollout of `id` (its `flags` member), compiled, for the
   * OpenFeature provider (`clientFlagSource`). Empty when the id has no flags.
   */
  flags(id: string): FlagSet {
    if (this.#closed) throw errors.closed('config client');
    return this.#entries.get(id)?.rollout?.flags ?? EMPTY_FLAGS;
  }

  /** For every leaf of the value `resolve(id, context)` gives, the layer that set it. */
  explain(id: string, context?: EvaluationContext): Explain | undefined {
    if (this.#closed) throw errors.closed('config client');
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    const outcome = entry.rollout ? this.#outcome(entry.rollout, context) : NO_ROLLOUT;
    return withRollout(entry.base, this.#rolloutLayer(entry, outcome)).explain;
  }

  #outcome(rollout: CompiledRollout, context: EvaluationContext | undefined): RolloutOutcome {
    // The default context is merged in only when it has members: a plain call allocates nothing.
    const ctx = context === undefined ? this.#context : this.#hasContext ? { ...this.#context, ...context } : context;
    return rollout.evaluate(ctx, rollout.usesClock ? this.#now() : 0);
  }

  #rolloutLayer(entry: Entry, outcome: RolloutOutcome) {
    return outcome.overlay === undefined
      ? undefined
      : {
          overlay: outcome.overlay,
          ruleId: outcome.ruleId,
          variant: outcome.variant,
          version: entry.meta.versions.app ?? entry.meta.versions.global,
        };
  }

  #evaluate(entry: Entry, context: EvaluationContext | undefined): ResolveDetails {
    const outcome = entry.rollout ? this.#outcome(entry.rollout, context) : NO_ROLLOUT;
    const hit = entry.byOutcome.get(outcome);
    if (hit) return hit;
    const details = this.#details(entry, outcome);
    entry.byOutcome.set(outcome, details);
    return details;
  }

  #details(entry: Entry, outcome: RolloutOutcome): ResolveDetails {
    const value = entry.values.get(outcome) ?? withRollout(entry.base, this.#rolloutLayer(entry, outcome)).value;
    const reason = entry.meta.stale
      ? 'STALE'
      : outcome.reason === 'TARGETING_MATCH' || outcome.reason === 'SPLIT' || outcome.reason === 'DISABLED'
        ? outcome.reason
        : 'STATIC';
    return Object.freeze({
      ...entry.meta,
      value,
      reason,
      ruleId: outcome.ruleId,
      variant: outcome.variant,
    });
  }

  /** Typed access: the same value as `get`, typed by the caller (generate `T` from the schema). */
  typed<T>(id: string): T | undefined {
    return this.get<T>(id);
  }

  /** Ids with a resolved value. */
  ids(): string[] {
    return [...this.#entries.keys()].sort();
  }

  /**
   * Calls `callback` for every applied change of an id matching `pattern` (`*` within a segment,
   * `**` across). Returns the unwatch function. A callback that throws is reported through `onError`
   * and never stops the others.
   */
  watch(pattern: string, callback: (change: ConfigChange) => void, options: { signal?: AbortSignal } = {}): () => void {
    this.#lifecycle.assertOpen();
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
      while (!done && !this.#lifecycle.closed) {
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

  readonly #closeWaiters = new Set<() => void>();
  readonly #context: EvaluationContext = {};
  readonly #now: () => number = Date.now;
  readonly #hasContext: boolean;

  /** Stops the watch and pending work. Idempotent; the store is not closed (the caller owns it). */
  close(): Promise<void> {
    return this.#lifecycle.close(async () => {
      this.#closed = true;
      for (const stop of this.#unwatch.splice(0)) stop();
      if (this.#snapshotTimer) {
        clearTimeout(this.#snapshotTimer);
        this.#snapshotTimer = undefined;
        await this.#writeSnapshot();
      }
      await Promise.allSettled([...this.#queues.values()]);
      // Acknowledgements still queued are dropped (best effort); those under way finish.
      this.#ackQueue.length = 0;
      while (this.#acksRunning > 0) await new Promise((r) => setTimeout(r, 5));
      this.#listeners.clear();
      for (const wake of this.#closeWaiters) wake();
      this.#closeWaiters.clear();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------- internals

  /** True while the initial load runs; head events meanwhile wait in `#startHeads`. */
  #starting = false;
  readonly #startHeads = new Map<string, HeadChange>();

  async #start(): Promise<void> {
    this.#lifecycle.assertOpen();
    this.#starting = true;
    try {
      await this.#initialLoad();
    } finally {
      this.#starting = false;
      const pending = [...this.#startHeads.values()];
      this.#startHeads.clear();
      for (const change of pending) this.#onHead(change);
    }
  }

  async #initialLoad(): Promise<void> {
    // Watch first, then list: a change landing in between is seen by one or the other, and the
    // per-ref version check drops the duplicate.
    for (const scope of this.#scopes) {
      this.#unwatch.push(
        this.#store.watch((change) => this.#onHead(change), {
          scope,
          initial: true,
          onError: (error) => this.#report(error),
        }),
      );
    }
    const timeout = AbortSignal.timeout(this.#options.startTimeoutMs ?? 5000);
    // What this client applied before a restart (in this chain): the store's answers never go back past it.
    this.#epoch = await this.#store.readEpoch?.().catch(() => undefined);
    const previous = await this.#previousDocs();
    try {
      if (this.#store.capabilities.bulkReads && this.#store.getHeadDocuments) {
        // One or a few round trips for every document of both scopes.
        for (const scope of this.#scopes) {
          const { docs, source, stale } = await this.#store.getHeadDocuments({ scope }, { signal: timeout });
          for (const doc of docs) this.#docs.set(refKey(doc.ref), { doc, source, stale });
        }
        this.#keepNewer(previous);
        await this.#applyInitial();
      } else {
        const heads = (
          await Promise.all(this.#scopes.map((scope) => this.#store.listHeads({ scope }, { signal: timeout })))
        ).flat();
        // Bounded concurrency: a cold start of thousands of refs must not open thousands of requests
        // (Consul caps connections per client).
        let next = 0;
        const worker = async () => {
          while (next < heads.length) {
            const h = heads[next++] as (typeof heads)[number];
            await this.#enqueue(h.ref.id, () => this.#load(h.ref, h.version, false, h.checksum));
          }
        };
        const kept = this.#keepNewer(previous);
        const width = Math.min(this.#options.loadConcurrency ?? 32, heads.length);
        await Promise.all(Array.from({ length: width }, worker));
        for (const id of kept) await this.#recompute(id).catch((error: unknown) => this.#report(error));
      }
    } catch (error) {
      if (!isConfigError(error, 'BACKEND_UNAVAILABLE') && !isConfigError(error, 'TIMEOUT')) throw error;
      if (!this.#options.snapshotFile) throw error;
      const snapshot = await readSnapshot(this.#options.snapshotFile, this.app, this.environment);
      if (!snapshot) throw error;
      this.#options.logger?.warn?.(
        { file: this.#options.snapshotFile, writtenAt: snapshot.writtenAt },
        'starting from snapshot',
      );
      for (const doc of snapshot.docs) this.#docs.set(refKey(doc.ref), { doc, source: 'snapshot', stale: true });
      for (const id of new Set(snapshot.docs.map((d) => d.ref.id))) {
        await this.#recompute(id).catch((error: unknown) => this.#report(error));
      }
    }
  }

  /**
   * The snapshot's documents, when it was written in the same store chain (same epoch): none without
   * a snapshot file or an epoch, or when it cannot be read.
   */
  async #previousDocs(): Promise<ConfigVersion[]> {
    if (!this.#options.snapshotFile || this.#epoch === undefined) return [];
    try {
      const snapshot = await readSnapshot(this.#options.snapshotFile, this.app, this.environment);
      return snapshot?.epoch === this.#epoch ? snapshot.docs : [];
    } catch (error) {
      this.#report(error);
      return [];
    }
  }

  /**
   * A store tier that is behind (or came back empty) must not move this client back past what it
   * applied before a restart: such refs start from the snapshot's document, marked stale, until
   * the store catches up.
   */
  #keepNewer(previous: readonly ConfigVersion[]): Set<string> {
    const kept = new Set<string>();
    for (const doc of previous) {
      const key = refKey(doc.ref);
      const current = this.#docs.get(key);
      if (!current || current.doc.version < doc.version) {
        this.#docs.set(key, { doc, source: 'snapshot', stale: true });
        kept.add(doc.ref.id);
      }
    }
    return kept;
  }

  /**
   * Resolves every id loaded in bulk. An id whose documents do not validate is left out (its ack says
   * `rejected`); the others start normally.
   */
  async #applyInitial(): Promise<void> {
    const ids = new Set([...this.#docs.values()].map((d) => d.doc.ref.id));
    for (const id of ids) {
      const docs = [`global/${id}`, `app:${this.app}/${id}`]
        .map((k) => this.#docs.get(k)?.doc)
        .filter((d) => d !== undefined);
      try {
        await this.#recompute(id);
      } catch (error) {
        for (const d of docs) this.#docs.delete(refKey(d.ref));
        for (const d of docs) await this.#ack(d, 'rejected', messageOf(error));
        this.#report(error);
        continue;
      }
      for (const d of docs) void this.#ack(d, 'applied');
    }
    this.#scheduleSnapshot();
  }

  #report(error: unknown): void {
    const e = isConfigError(error) ? error : errors.constraint(messageOf(error), { cause: error });
    this.#options.logger?.warn?.({ err: e.toJSON() }, e.message);
    try {
      this.#options.onError?.(e);
    } catch {
      // a failing reporter must not break the watch
    }
  }

  #onHead(change: HeadChange): void {
    if (this.#lifecycle.closed) return;
    if (this.#starting) {
      // The initial load reads every head anyway: keep the latest event per ref, settle it afterwards.
      this.#startHeads.set(change.key, change);
      return;
    }
    if (this.#holds(change.key, change.version, change.checksum)) return;
    void this.#enqueue(change.ref.id, () => this.#load(change.ref, change.version, true, change.checksum));
  }

  /** Runs loads for one config id (its global and app documents) in order, never two at once. */
  #enqueue(key: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#queues.get(key) ?? Promise.resolve();
    const next = previous.then(task).catch((error: unknown) => this.#report(error));
    this.#queues.set(key, next);
    void next.then(() => {
      if (this.#queues.get(key) === next) this.#queues.delete(key);
    });
    return next;
  }

  /** True when what is held is already this head, or newer (and not merely a stale copy). */
  #holds(key: string, version: number, checksum: string | undefined): boolean {
    const held = this.#docs.get(key);
    if (!held) return false;
    // A stale copy (snapshot, cache) is replaced by the same version from a durable tier, never by an older one.
    if (held.stale) return held.doc.version > version;
    return (
      held.doc.version > version ||
      (held.doc.version === version && (checksum === undefined || held.doc.checksum === checksum))
    );
  }

  async #load(ref: ConfigRef, version: number, notify: boolean, checksum?: string): Promise<void> {
    if (this.#lifecycle.closed) return;
    const key = refKey(ref);
    const held = this.#docs.get(key);
    if (this.#holds(key, version, checksum)) return;
    let doc: ConfigVersion | undefined;
    let source = this.#store.name;
    let stale = false;
    if (this.#store.capabilities.tiered && this.#store.getVersionDetailed) {
      const r = await this.#store.getVersionDetailed(ref, version);
      ({ doc, source, stale } = r);
    } else {
      doc = await this.#store.getVersion(ref, version);
    }
    if (!doc) return;
    // Never backwards: a tier answering with an older version than held is behind.
    if (held && doc.version < held.doc.version) return;
    const id = ref.id;
    const previousEntry = this.#entries.get(id);
    const previous = previousEntry
      ? (previousEntry.fixed ?? this.#evaluate(previousEntry, undefined)).value
      : undefined;
    this.#docs.set(key, { doc, source, stale });
    try {
      await this.#recompute(id);
    } catch (error) {
      // Rejected: the entry was not swapped; restore the last good document and say so.
      if (held) this.#docs.set(key, held);
      else this.#docs.delete(key);
      await this.#ack(doc, 'rejected', messageOf(error));
      this.#report(error);
      return;
    }
    // Watchers hear of the change at once; the acknowledgement follows through the ack queue.
    void this.#ack(doc, 'applied');
    this.#scheduleSnapshot();
    if (notify) {
      const details = this.resolve(id);
      this.#listeners.emit(
        Object.freeze({ id, ref, version: doc.version, previous, value: details.value, details }),
        (error) => this.#report(error),
      );
    }
  }

  /**
   * Resolves the documents of `id` for this environment, resolves secret references, validates the
   * result (with every overlay the rollout can produce), and swaps the entry in. Throws, leaving the
   * old entry in place, when anything is invalid or a secret cannot be resolved.
   */
  async #recompute(id: string): Promise<void> {
    // A tombstone (a delete through the change service) is a version like any other, read as absent.
    const live = (key: string) => {
      const held = this.#docs.get(key);
      return held && held.doc.metadata.deleted !== true ? held : undefined;
    };
    const global = live(`global/${id}`);
    const app = live(`app:${this.app}/${id}`);
    if (!global && !app) {
      this.#entries.delete(id);
      return;
    }
    const schemas = this.#options.schemas;
    const hasSchema = schemas?.latestVersion(id) !== undefined;
    const base = resolveLayers({
      defaults: hasSchema ? schemas?.defaults(id) : undefined,
      global: global?.doc,
      app: app?.doc,
      environmentChain: this.#chain,
      extra: this.#options.sources
        ? sourceLayers(this.#options.sources, id, hasSchema ? schemas?.get(id)?.schema : undefined)
        : undefined,
    });
    const rolloutDoc = app?.doc.rollout ? app.doc : global?.doc.rollout ? global.doc : undefined;
    const rollout = rolloutDoc?.rollout
      ? compileRollout(rolloutDoc.rollout, { ref: refKey(rolloutDoc.ref) })
      : undefined;
    const docs = [global, app].filter((d) => d !== undefined).map((d) => d.doc);
    const secrets = this.#options.secrets;
    if (secrets) {
      // A new version may point at a rotated secret: read every secret it references afresh.
      for (const d of docs) for (const [provider, name] of secretRefsOf(d)) secrets.invalidate(provider, name);
    }
    const values = new Map<RolloutOutcome, JsonObject>();
    for (const outcome of rollout ? [NO_ROLLOUT, ...rollout.outcomes] : [NO_ROLLOUT]) {
      let candidate = outcome.overlay
        ? withRollout(base, { overlay: outcome.overlay, ruleId: outcome.ruleId, variant: outcome.variant }).value
        : base.value;
      if (secrets && hasSecretRef(candidate)) candidate = deepFreeze(await secrets.resolveRefs(candidate));
      if (hasSchema) schemas?.validate(id, candidate, { ref: refKey((app ?? global)?.doc.ref as ConfigRef) });
      this.#options.validate?.({ id, value: candidate, docs });
      values.set(outcome, candidate);
    }
    const stale = [global, app].some((d) => d?.stale);
    const entry: Entry = {
      base,
      rollout,
      fixed: undefined,
      byOutcome: new WeakMap(),
      values,
      meta: Object.freeze({
        versions: Object.freeze({ global: global?.doc.version, app: app?.doc.version }),
        checksum: `${global?.doc.checksum ?? ''}:${app?.doc.checksum ?? ''}`,
        source: (app ?? global)?.source ?? 'none',
        stale,
      }),
    };
    // Without context or clock dependence, every get() returns the same frozen details.
    if (!rollout || (!rollout.usesContext && !rollout.usesClock)) entry.fixed = this.#evaluate(entry, undefined);
    this.#entries.set(id, entry);
  }

  /**
   * Acknowledges what was applied, a few at a time (a cold start of thousands of refs must not open
   * thousands of writes). A failed ack is reported, never thrown: applying does not depend on it.
   */
  #ack(doc: ConfigVersion, status: 'applied' | 'rejected', reason?: string): Promise<void> {
    const store = this.#store;
    if (!store.capabilities.appliedState || !store.ack) return Promise.resolve();
    const ack = store.ack.bind(store);
    return new Promise<void>((resolve) => {
      this.#ackQueue.push(async () => {
        try {
          await ack({
            ref: doc.ref,
            environment: this.environment,
            instance: this.instance,
            version: doc.version,
            checksum: doc.checksum,
            status,
            reason,
            at: new Date().toISOString(),
          });
        } catch (error) {
          this.#report(error);
        } finally {
          resolve();
        }
      });
      this.#pumpAcks();
    });
  }

  readonly #ackQueue: Array<() => Promise<void>> = [];
  #acksRunning = 0;

  #pumpAcks(): void {
    while (this.#acksRunning < 8 && this.#ackQueue.length > 0) {
      const task = this.#ackQueue.shift() as () => Promise<void>;
      this.#acksRunning++;
      void task().finally(() => {
        this.#acksRunning--;
        this.#pumpAcks();
      });
    }
  }

  #scheduleSnapshot(): void {
    if (!this.#options.snapshotFile || this.#snapshotTimer) return;
    this.#snapshotTimer = setTimeout(() => {
      this.#snapshotTimer = undefined;
      void this.#writeSnapshot();
    }, 100);
    this.#snapshotTimer.unref();
  }

  async #writeSnapshot(): Promise<void> {
    const file = this.#options.snapshotFile;
    if (!file) return;
    try {
      await writeSnapshot(
        file,
        this.app,
        this.environment,
        [...this.#docs.values()].map((d) => d.doc),
        this.#epoch,
      );
    } catch (error) {
      this.#report(error);
    }
  }
}

/** Creates a client and waits until it is ready. */
export async function createConfigClient(options: ClientOptions): Promise<ConfigClient> {
  const client = new ConfigClient(options);
  try {
    await client.ready();
  } catch (error) {
    await client.close();
    throw error instanceof ConfigError ? error : errors.constraint(messageOf(error), { cause: error });
  }
  return client;
}

/** True when `value` holds a `{"$secret": ...}` reference anywhere. */
function hasSecretRef(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasSecretRef);
  if (!isPlainObject(value)) return false;
  if (Object.hasOwn(value, '$secret')) return true;
  return Object.values(value).some(hasSecretRef);
}

/** The (provider, name) of every secret reference in a document's config, overrides and rollout. */
function secretRefsOf(doc: ConfigVersion): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v);
      return;
    }
    if (!isPlainObject(value)) return;
    const ref = value.$secret;
    if (isPlainObject(ref) && typeof ref.provider === 'string' && typeof ref.name === 'string') {
      out.push([ref.provider, ref.name]);
      return;
    }
    for (const v of Object.values(value)) walk(v);
  };
  walk(doc.config);
  walk(doc.overrides);
  walk(doc.rollout);
  return out;
}
