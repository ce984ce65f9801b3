/**
 * Consul sessions: create (TTL, lock-delay, behavior), renew, destroy, and a managed session that
 * renews itself in the background (unref'ed timer) and says when it is lost.
 *
 * Consul enforces a TTL lazily (a session may live up to twice its TTL), but a holder that has not
 * renewed within one TTL can no longer be sure it still holds anything: the managed session then
 * declares itself lost. That is the safe side for a leader lock.
 */
import { ConfigError, isConfigError } from '@summit-config/core';
import { errors, Lifecycle, ListenerSet } from '@summit-config/core/internal';
import { type ConsulConnectionOptions, resolveConnection } from './consul-connection.js';
import { ConsulHttp } from './consul-http.js';
import type { SessionInfo } from './consul-wire.js';
import { intOption } from './integers.js';

export interface SessionSettings {
  /** Session name shown by `consul operator`/the UI. Default `summit-config`. */
  name?: string;
  /** Time to live, ms: Consul invalidates the session when not renewed in time. 10 s to 24 h. Default 15000. */
  ttlMs?: number;
  /**
   * After the session is invalidated, the locks it held cannot be acquired for this long (ms, 0 to 60 s),
   * so a leader that lost its session has time to notice. Default 15000.
   */
  lockDelayMs?: number;
  /** What happens to the keys the session holds when it ends: `release` (default) or `delete`. */
  behavior?: 'release' | 'delete';
}

export interface ResolvedSessionSettings {
  name: string;
  ttlMs: number;
  lockDelayMs: number;
  behavior: 'release' | 'delete';
}

export function resolveSessionSettings(
  s: SessionSettings,
  what: string,
  defaults: Partial<ResolvedSessionSettings> = {},
): ResolvedSessionSettings {
  const name = s.name ?? defaults.name ?? 'summit-config';
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw errors.constraint(`${what} option name must be a string of 1-256 characters`);
  }
  const ttlMs = s.ttlMs ?? defaults.ttlMs ?? 15_000;
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 10_000 || ttlMs > 86_400_000) {
    throw errors.constraint(
      `${what} option ttlMs must be an integer from 10000 to 86400000 (Consul's range), got ${ttlMs}`,
    );
  }
  const lockDelayMs = intOption(what, 'lockDelayMs', s.lockDelayMs, defaults.lockDelayMs ?? 15_000, 0, 60_000);
  const behavior = s.behavior ?? defaults.behavior ?? 'release';
  if (behavior !== 'release' && behavior !== 'delete') {
    throw errors.constraint(`${what} option behavior must be "release" or "delete", got ${JSON.stringify(behavior)}`);
  }
  return { name, ttlMs, lockDelayMs, behavior };
}

/**
 * A session kept alive in the background. `ensure()` creates it on first use (single flight) and
 * again after it was lost; renewals run every `ttl/2` on an unref'ed timer while started.
 */
export class ManagedSession {
  readonly settings: ResolvedSessionSettings;
  readonly #http: ConsulHttp;
  #id: string | undefined;
  #creating: Promise<string> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;
  #lastConfirmed = 0;
  #stopped = false;
  readonly #lost = new ListenerSet<{ id: string; error: ConfigError }>();
  readonly #created = new ListenerSet<string>();
  readonly #renewErrors = new ListenerSet<ConfigError>();

  constructor(http: ConsulHttp, settings: ResolvedSessionSettings) {
    this.#http = http;
    this.settings = settings;
  }

  /** The current session id, if one exists. */
  get id(): string | undefined {
    return this.#id;
  }

  /** Called with the old id when the session is lost (invalidated, or not renewed within its TTL). */
  onLost(listener: (event: { id: string; error: ConfigError }) => void): () => void {
    return this.#lost.add(listener);
  }
  /** Called with the new id each time a session is created. */
  onCreated(listener: (id: string) => void): () => void {
    return this.#created.add(listener);
  }
  /** Called when a renewal failed and will be retried. */
  onRenewError(listener: (error: ConfigError) => void): () => void {
    return this.#renewErrors.add(listener);
  }

  /** The session id, creating the session if there is none. */
  async ensure(signal?: AbortSignal): Promise<string> {
    if (this.#stopped) throw errors.closed('consul session');
    if (this.#id) return this.#id;
    this.#creating ??= (async () => {
      try {
        const id = await this.#http.sessionCreate(
          {
            name: this.settings.name,
            ttlMs: this.settings.ttlMs,
            lockDelayMs: this.settings.lockDelayMs,
            behavior: this.settings.behavior,
          },
          { signal },
        );
        if (this.#stopped) {
          await this.#http.sessionDestroy(id).catch(() => {});
          throw errors.closed('consul session');
        }
        this.#id = id;
        this.#lastConfirmed = performance.now();
        this.#created.emit(id);
        return id;
      } finally {
        this.#creating = undefined;
      }
    })();
    return this.#creating;
  }

  /** Forgets the current session as lost (e.g. Consul said "invalid session"). */
  markLost(error: ConfigError): void {
    const id = this.#id;
    if (!id) return;
    this.#id = undefined;
    this.#lost.emit({ id, error });
  }

  /** Renews once. Resolves false (and emits lost) when the session no longer exists. */
  async renew(signal?: AbortSignal): Promise<boolean> {
    const id = this.#id;
    if (!id) return false;
    const info: SessionInfo | undefined = await this.#http.sessionRenew(id, { signal });
    if (this.#id !== id) return false;
    if (!info) {
      this.markLost(
        new ConfigError('NOT_FOUND', `consul session ${id} no longer exists (invalidated or expired)`, {
          backend: this.#http.backend,
        }),
      );
      return false;
    }
    this.#lastConfirmed = performance.now();
    return true;
  }

  /** Starts background renewal every `ttl/2` (retrying faster after a failure). */
  start(): void {
    if (this.#stopped || this.#timer) return;
    this.#schedule(this.settings.ttlMs / 2);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#renewing) return;
    this.#renewing = true;
    try {
      if (this.#id) await this.renew();
      this.#schedule(this.settings.ttlMs / 2);
    } catch (error) {
      const e = isConfigError(error) ? error : errors.unavailable(this.#http.backend, error);
      this.#renewErrors.emit(e);
      if (this.#id && performance.now() - this.#lastConfirmed > this.settings.ttlMs) {
        // Not renewed within one TTL: Consul may have invalidated it already; stop relying on it.
        this.markLost(e);
      }
      this.#schedule(Math.min(1000, this.settings.ttlMs / 10));
    } finally {
      this.#renewing = false;
    }
  }

  /** Stops renewing and destroys the session (best effort when `bestEffort`). Final. */
  async destroy(options: { signal?: AbortSignal; bestEffort?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#creating;
    if (pending) await pending.catch(() => {});
    const id = this.#id;
    this.#id = undefined;
    if (!id) return;
    try {
      await this.#http.sessionDestroy(id, { signal: options.signal });
    } catch (error) {
      if (!options.bestEffort) throw error;
    }
  }
}

export interface ConsulSessionOptions extends ConsulConnectionOptions, SessionSettings {
  /** Renew in the background every `ttlMs/2` (unref'ed timer). Default true. */
  autoRenew?: boolean;
  /** Called when the session is lost (invalidated, or not renewed within its TTL). */
  onLost?: (error: ConfigError) => void;
}

/** A standalone Consul session (own connection). */
export interface ConsulSession extends AsyncDisposable {
  readonly id: string;
  readonly settings: ResolvedSessionSettings;
  /** Renews now; resolves false when Consul no longer knows the session. */
  renew(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** The session as Consul sees it, or undefined when it no longer exists. */
  info(options?: { signal?: AbortSignal }): Promise<SessionInfo | undefined>;
  /** Destroys the session (its locks are released or deleted per `behavior`) and closes the connection. Idempotent. */
  destroy(): Promise<void>;
}

/** Creates a session (TTL, lock-delay, behavior) and, by default, keeps it renewed. */
export async function createConsulSession(options: ConsulSessionOptions = {}): Promise<ConsulSession> {
  const what = 'consul session';
  const conn = resolveConnection(options, what);
  const settings = resolveSessionSettings(options, what);
  if (options.autoRenew !== undefined && typeof options.autoRenew !== 'boolean') {
    throw errors.constraint(`${what} option autoRenew must be a boolean`);
  }
  const http = new ConsulHttp(conn);
  const managed = new ManagedSession(http, settings);
  const lifecycle = new Lifecycle(what);
  let id: string;
  try {
    id = await managed.ensure();
  } catch (error) {
    http.destroy();
    throw error;
  }
  if (options.onLost) {
    const onLost = options.onLost;
    managed.onLost(({ error }) => onLost(error));
  }
  if (options.autoRenew !== false) managed.start();
  const session: ConsulSession = {
    id,
    settings,
    async renew(o = {}) {
      lifecycle.assertOpen();
      return managed.renew(o.signal);
    },
    async info(o = {}) {
      lifecycle.assertOpen();
      return http.sessionInfo(id, { signal: o.signal });
    },
    destroy() {
      return lifecycle.close(async () => {
        try {
          await managed.destroy();
        } finally {
          http.destroy();
        }
      });
    },
    [Symbol.asyncDispose]() {
      return session.destroy();
    },
  };
  return session;
}
