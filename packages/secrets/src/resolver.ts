/**
 * The {@link SecretResolver}: turns references into values through registered providers, with an
 * in-memory TTL cache. Values live only in this process's memory: never written to disk, a store,
 * a log line or an error.
 *
 *   const resolver = new SecretResolver({ providers: [local, aws], ttlMs: 60_000 });
 *   const resolved = await resolver.resolveRefs(configDocument);
 *   // after a rotation promoted a new version of aws:prod-db:
 *   resolver.invalidate('aws', 'prod-db');
 */
import { inspect } from 'node:util';
import type { JsonValue } from '@summit-config/core';
import { errors, isPlainObject, Lifecycle, throwIfAborted } from '@summit-config/core/internal';
import type { SecretCallOptions, SecretProvider, SecretSelector } from './contract.js';
import { secretError } from './errors.js';
import { resolveSecretRefs, type SecretRef, type SecretRefResolver } from './reference.js';

export interface SecretResolverOptions {
  /**
   * Providers to register, each under its `name` (an array), or under the given keys (a record).
   * The resolver does not own them: `close()` leaves them open (rotation shares them).
   */
  providers?: readonly SecretProvider[] | Readonly<Record<string, SecretProvider>>;
  /**
   * How long a value read from a provider is served from memory, in milliseconds. `0` disables
   * the cache (every resolve reads the provider). Default 60 000.
   */
  ttlMs?: number;
  /** Most cached versions; the least recently used go first. Default 1 000. */
  maxEntries?: number;
  /** Clock in milliseconds, for tests. Default `Date.now`. */
  now?: () => number;
}

/** One resolved reference. `value` is redacted from `JSON.stringify` and `util.inspect`. */
export interface ResolvedSecret {
  readonly ref: SecretRef;
  /** The secret (a string), or with `ref.field` that member of the JSON secret. */
  readonly value: JsonValue;
  /** Provider-native id of the version read. */
  readonly version: string;
  /** Served from the cache. */
  readonly cached: boolean;
}

export interface SecretResolverStats {
  /** Resolves answered from the cache. */
  readonly hits: number;
  /** Resolves that read a provider (a concurrent resolve of the same secret shares one read). */
  readonly misses: number;
  /** Cached versions now. */
  readonly entries: number;
}

interface Entry {
  readonly raw: string;
  readonly version: string;
  readonly expiresAt: number;
}

function cacheKey(provider: string, name: string, version: string): string {
  return `${provider}\u0000${name}\u0000${version}`;
}

function secretKey(provider: string, name: string): string {
  return `${provider}\u0000${name}`;
}

function selectorOf(version: string | undefined): SecretSelector {
  if (version === undefined || version === 'current') return 'current';
  if (version === 'previous') return 'previous';
  return { version };
}

function resolved(ref: SecretRef, value: JsonValue, version: string, cached: boolean): ResolvedSecret {
  const out = { ref, version, cached };
  Object.defineProperty(out, 'value', { value, enumerable: false });
  Object.defineProperty(out, 'toJSON', {
    value: () => ({ ref, version, cached, value: '[REDACTED]' }),
    enumerable: false,
  });
  Object.defineProperty(out, inspect.custom, {
    value: () =>
      `ResolvedSecret { ref: ${JSON.stringify(ref)}, version: ${JSON.stringify(version)}, value: [REDACTED] }`,
    enumerable: false,
  });
  return Object.freeze(out) as ResolvedSecret;
}

export class SecretResolver implements SecretRefResolver {
  readonly #providers = new Map<string, SecretProvider>();
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Entry>>();
  /** Bumped by `invalidate`: a read that started before does not fill the cache. */
  readonly #generations = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #lifecycle = new Lifecycle('secret resolver');
  #hits = 0;
  #misses = 0;

  constructor(options: SecretResolverOptions = {}) {
    const ttlMs = options.ttlMs ?? 60_000;
    if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 0) {
      throw errors.constraint('secret resolver option ttlMs must be a non-negative integer (milliseconds)');
    }
    const maxEntries = options.maxEntries ?? 1_000;
    if (typeof maxEntries !== 'number' || !Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw errors.constraint('secret resolver option maxEntries must be a positive integer');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw errors.constraint('secret resolver option now must be a function returning milliseconds');
    }
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
    this.#now = options.now ?? Date.now;
    const providers = options.providers;
    if (Array.isArray(providers)) {
      for (const p of providers) this.register(p);
    } else if (providers !== undefined) {
      if (!isPlainObject(providers))
        throw errors.constraint('secret resolver option providers must be an array or a record');
      for (const [name, p] of Object.entries(providers as Record<string, SecretProvider>)) this.register(p, name);
    }
  }

  /**
   * Registers `provider` under `name` (default `provider.name`). Returns a function that
   * unregisters it and drops its cached values. Throws `CONSTRAINT_VIOLATION` for a taken name.
   */
  register(provider: SecretProvider, name: string = provider?.name): () => void {
    this.#lifecycle.assertOpen();
    if (!provider || typeof provider.read !== 'function') {
      throw errors.constraint('secret resolver: register() needs a SecretProvider');
    }
    if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
      throw errors.constraint(`secret resolver: provider name ${JSON.stringify(name)} must match [a-z][a-z0-9-]{0,62}`);
    }
    if (this.#providers.has(name))
      throw errors.constraint(`secret resolver: a provider is already registered as "${name}"`);
    this.#providers.set(name, provider);
    return () => {
      if (this.#providers.get(name) !== provider) return;
      this.#providers.delete(name);
      this.invalidate(name);
    };
  }

  /** The provider registered as `name`, if any. */
  provider(name: string): SecretProvider | undefined {
    return this.#providers.get(name);
  }

  /**
   * Resolves one reference (see {@link SecretRefResolver.resolve}). Rejects `SECRET_PROVIDER`
   * reason `unknown-provider` for an unregistered provider, reason `invalid` when `field` is asked
   * of a value that is not a JSON object or lacks that member, and with the provider's error otherwise.
   */
  async resolve(ref: SecretRef, options: SecretCallOptions = {}): Promise<ResolvedSecret> {
    this.#lifecycle.assertOpen();
    throwIfAborted(options.signal);
    const provider = this.#providers.get(ref.provider);
    if (!provider) {
      throw secretError('unknown-provider', 'no provider is registered under this name', {
        provider: ref.provider,
        secret: ref.name,
      });
    }
    const version = ref.version ?? 'current';
    const key = cacheKey(ref.provider, ref.name, version);
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt > this.#now()) {
      this.#hits++;
      // Most recently used last.
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return resolved(ref, this.#extract(ref, cached.raw), cached.version, true);
    }
    if (cached) this.#cache.delete(key);
    let load = this.#inflight.get(key);
    if (!load) {
      this.#misses++;
      load = this.#load(provider, ref, key, options);
      this.#inflight.set(key, load);
      const clear = () => {
        if (this.#inflight.get(key) === load) this.#inflight.delete(key);
      };
      load.then(clear, clear);
    }
    const entry = await load;
    return resolved(ref, this.#extract(ref, entry.raw), entry.version, false);
  }

  /** A copy of `json` with every reference resolved: `resolveSecretRefs(json, this, options)`. */
  resolveRefs<T>(json: T, options: SecretCallOptions = {}): Promise<T> {
    return resolveSecretRefs(json, this, options);
  }

  /**
   * Drops the cached values of secret `name` of `provider` (every version), or of every secret of
   * `provider` when `name` is omitted; a read already under way will not fill the cache. Returns
   * how many entries were dropped. Rotation calls this after a promote and a revoke.
   */
  invalidate(provider: string, name?: string): number {
    let dropped = 0;
    const prefix = name === undefined ? `${provider}\u0000` : `${secretKey(provider, name)}\u0000`;
    for (const key of [...this.#cache.keys()]) {
      if (key.startsWith(prefix)) {
        this.#cache.delete(key);
        dropped++;
      }
    }
    for (const key of [...this.#inflight.keys()]) {
      if (key.startsWith(prefix)) this.#inflight.delete(key);
    }
    const gen = name === undefined ? provider : secretKey(provider, name);
    this.#generations.set(gen, (this.#generations.get(gen) ?? 0) + 1);
    return dropped;
  }

  /** Drops every cached value. */
  clear(): void {
    this.#cache.clear();
    this.#inflight.clear();
    for (const key of [...this.#generations.keys()]) this.#generations.set(key, (this.#generations.get(key) ?? 0) + 1);
  }

  get stats(): SecretResolverStats {
    return { hits: this.#hits, misses: this.#misses, entries: this.#cache.size };
  }

  /** Drops the cache; later calls reject `CLOSED`. Registered providers stay open. Idempotent. */
  close(): Promise<void> {
    return this.#lifecycle.close(() => {
      this.#cache.clear();
      this.#inflight.clear();
      this.#providers.clear();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #generation(provider: string, name: string): string {
    return `${this.#generations.get(provider) ?? 0}/${this.#generations.get(secretKey(provider, name)) ?? 0}`;
  }

  async #load(provider: SecretProvider, ref: SecretRef, key: string, options: SecretCallOptions): Promise<Entry> {
    const generation = this.#generation(ref.provider, ref.name);
    const secret = await provider.read(ref.name, selectorOf(ref.version), { signal: options.signal });
    const entry: Entry = { raw: secret.value, version: secret.version, expiresAt: this.#now() + this.#ttlMs };
    if (this.#ttlMs > 0 && !this.#lifecycle.closed && this.#generation(ref.provider, ref.name) === generation) {
      this.#cache.set(key, entry);
      while (this.#cache.size > this.#maxEntries) {
        const oldest = this.#cache.keys().next().value as string;
        this.#cache.delete(oldest);
      }
    }
    return entry;
  }

  #extract(ref: SecretRef, raw: string): JsonValue {
    if (ref.field === undefined) return raw;
    const fail = (why: string) =>
      secretError('invalid', `${why}, so field ${JSON.stringify(ref.field)} cannot be read`, {
        provider: ref.provider,
        secret: ref.name,
        secretVersion: ref.version ?? 'current',
      });
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // JSON.parse's message quotes the text it failed on: never keep it.
      throw fail('the secret value is not JSON');
    }
    if (!isPlainObject(parsed)) throw fail('the secret value is not a JSON object');
    if (!Object.hasOwn(parsed, ref.field)) throw fail('the secret value has no such member');
    return parsed[ref.field] as JsonValue;
  }
}
