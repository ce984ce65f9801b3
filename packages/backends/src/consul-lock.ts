/**
 * A leader lock on `<prefix>locks/<name>` for the agent's singleton jobs (reconciliation, rotation,
 * scheduled applies): a TTL session with lock-delay, `lock` through `/v1/txn` (which answers with the
 * key's LockIndex: the fencing token), a blocking query on the lock key to notice loss (the session
 * was invalidated or destroyed, or the key taken or deleted), and release on close.
 *
 *   const lock = createLeaderLock({ address, name: 'reconciler', ttlMs: 15_000 });
 *   lock.onLost((e) => stopJobs(e));
 *   const token = await lock.acquire({ signal });   // waits until this process leads
 *   await protectedWrite({ fence: lock.guardOp() }); // or compare lock.fencingToken
 *   await lock.close();                              // releases, destroys the session
 */
import { hostname } from 'node:os';
import { ConfigError, isConfigError } from '@summit-config/core';
import { backoffDelay, delay, errors, Lifecycle, ListenerSet, throwIfAborted } from '@summit-config/core/internal';
import { type ConsulConnectionOptions, resolveConnection } from './consul-connection.js';
import { ConsulHttp } from './consul-http.js';
import { checkLockName, checkPrefix, Layout } from './consul-layout.js';
import { ManagedSession, resolveSessionSettings, type SessionSettings } from './consul-session.js';
import { base64, type TxnOp } from './consul-wire.js';
import { intOption } from './integers.js';

export interface LeaderLockOptions extends ConsulConnectionOptions, Omit<SessionSettings, 'behavior'> {
  /** Lock name: path segments of `[A-Za-z0-9_.-]`; the key is `<prefix>locks/<name>`. Required. */
  name: string;
  /** Key prefix shared with the store. Default `summit/`. */
  prefix?: string;
  /** Stored as the lock key's value so operators see who leads. Default `<hostname>:<pid>`. */
  holder?: string;
  /** Wait of the blocking queries that watch the lock key, ms (1 s to 10 min). Default 30000. */
  waitMs?: number;
  /** Backoff after a failed request: full jitter, base (ms). Default 100. */
  retryBaseMs?: number;
  /** Backoff cap (ms). Default 5000. */
  retryMaxMs?: number;
  /** Called with problems the lock is retrying (e.g. `BACKEND_UNAVAILABLE`). */
  onError?: (error: ConfigError) => void;
}

export interface LeaderLock extends AsyncDisposable {
  readonly name: string;
  /** The Consul key of the lock. */
  readonly key: string;
  /** True while this process holds the lock (as far as it can tell: see `verify`). */
  readonly isHeld: boolean;
  /**
   * The lock's LockIndex while held: it grows every time anyone acquires the lock, so a write that
   * carries it can be refused when a newer leader exists. `undefined` when not held.
   */
  readonly fencingToken: number | undefined;
  /** The session holding the lock, while held. */
  readonly sessionId: string | undefined;
  /** Waits until the lock is held; resolves with the fencing token. Rejects with the signal's reason. */
  acquire(options?: { signal?: AbortSignal }): Promise<number>;
  /** One attempt: true when the lock is now held. */
  tryAcquire(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Releases the lock and destroys its session. Idempotent; the lock can be acquired again. */
  release(): Promise<void>;
  /** Called once each time a held lock is lost (session invalidated, key taken or deleted). */
  onLost(listener: (error: ConfigError) => void): () => void;
  /**
   * A `/v1/txn` operation that fails the transaction unless the lock is still held by this
   * process's session: add it to a protected write so a deposed leader cannot write.
   */
  guardOp(): TxnOp;
  /** Confirms with a consistent read that the lock is held by this session with the same LockIndex. */
  verify(options?: { signal?: AbortSignal }): Promise<boolean>;
  /** Releases and closes the connection. Idempotent; later calls reject `CLOSED`. */
  close(): Promise<void>;
}

/** Creates a leader lock; options are validated now, nothing is sent until `acquire`. */
export function createLeaderLock(options: LeaderLockOptions): LeaderLock {
  const what = 'leader lock';
  if (options === null || typeof options !== 'object') throw errors.constraint(`${what} options must be an object`);
  const name = checkLockName(options.name, what);
  const prefix = checkPrefix(options.prefix ?? 'summit/', what);
  const conn = resolveConnection(options, what);
  const settings = resolveSessionSettings({ ...options, behavior: 'release' }, what, {
    name: `summit-config lock ${name}`,
  });
  const holder = options.holder ?? `${hostname()}:${process.pid}`;
  if (typeof holder !== 'string' || holder.length > 1024) {
    throw errors.constraint(`${what} option holder must be a string of at most 1024 characters`);
  }
  const waitMs = intOption(what, 'waitMs', options.waitMs, 30_000, 1000, 600_000);
  const retryBaseMs = intOption(what, 'retryBaseMs', options.retryBaseMs, 100, 1, 60_000);
  const retryMaxMs = intOption(what, 'retryMaxMs', options.retryMaxMs, 5000, retryBaseMs, 600_000);
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw errors.constraint(`${what} option onError must be a function`);
  }

  const http = new ConsulHttp(conn);
  const key = new Layout(prefix).lock(name);
  const lifecycle = new Lifecycle(`${what} ${name}`);
  const lostListeners = new ListenerSet<ConfigError>();
  let session = new ManagedSession(http, settings);
  let held: { session: string; token: number; monitor: AbortController } | undefined;
  let acquiring: Promise<number> | undefined;

  const report = (error: unknown) => {
    const e = isConfigError(error) ? error : errors.unavailable(http.backend, error);
    try {
      options.onError?.(e);
    } catch {
      // A failing reporter must not break the lock.
    }
  };

  function lose(error: ConfigError): void {
    if (!held) return;
    held.monitor.abort();
    held = undefined;
    lostListeners.emit(error, report);
  }

  function watchSession(s: ManagedSession): void {
    s.onLost(({ id, error }) => {
      if (held?.session === id) lose(error);
    });
  }
  watchSession(session);

  /** Blocking query on the lock key while held: loss is the key no longer locked by our session. */
  async function monitor(sid: string, startIndex: number, signal: AbortSignal): Promise<void> {
    let index = startIndex;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const { entry, meta } = await http.kvGet(key, {
          index,
          waitMs,
          timeoutMs: waitMs + Math.ceil(waitMs / 16) + conn.timeoutMs,
          signal,
        });
        attempt = 0;
        if (!entry || entry.Session !== sid) {
          lose(
            new ConfigError(
              'CONFLICTING_CHANGE',
              entry
                ? `leader lock ${name} is no longer held by this process (session ${sid} was invalidated or the lock was taken)`
                : `leader lock ${name} was deleted`,
              { backend: http.backend },
            ),
          );
          return;
        }
        index = meta.index < index ? 1 : meta.index; // went backwards: resync
      } catch (error) {
        if (signal.aborted) return;
        report(error);
        await delay(backoffDelay(attempt++, retryBaseMs, retryMaxMs), signal).catch(() => {});
      }
    }
  }

  async function attempt(
    signal?: AbortSignal,
  ): Promise<{ ok: true; token: number } | { ok: false; holder?: string; retryNow?: boolean }> {
    const sid = await session.ensure(signal);
    session.start();
    const out = await http.txn([{ KV: { Verb: 'lock', Key: key, Value: base64(holder), Session: sid } }], { signal });
    if (out.ok) {
      const kv = out.results[0]?.KV;
      const token = kv?.LockIndex ?? 0;
      const monitorController = new AbortController();
      held = { session: sid, token, monitor: monitorController };
      void monitor(sid, kv?.ModifyIndex ?? 1, monitorController.signal);
      return { ok: true, token };
    }
    if (out.errors.some((e) => /invalid session/i.test(e.What))) {
      session.markLost(new ConfigError('NOT_FOUND', `session ${sid} no longer exists`, { backend: http.backend }));
      return { ok: false, retryNow: true }; // with a new session, at once
    }
    const { entry } = await http.kvGet(key, { signal });
    return { ok: false, holder: entry?.Session };
  }

  async function acquireLoop(signal?: AbortSignal): Promise<number> {
    let failures = 0;
    let quickRetries = 0;
    let index = 0;
    while (true) {
      lifecycle.assertOpen();
      throwIfAborted(signal);
      if (held) return held.token;
      try {
        const r = await attempt(signal);
        if (r.ok) return r.token;
        failures = 0;
        if (r.retryNow && quickRetries++ < 3) continue;
        quickRetries = 0;
        if (r.holder) {
          // Someone else leads: block until the lock key changes.
          const { meta } = await http.kvGet(key, {
            index: Math.max(1, index),
            waitMs,
            timeoutMs: waitMs + Math.ceil(waitMs / 16) + conn.timeoutMs,
            signal,
          });
          index = meta.index;
        } else {
          // Free but refused: lock-delay after the previous holder's session ended.
          index = 0;
          await delay(Math.min(settings.lockDelayMs, 1000) + backoffDelay(1, retryBaseMs, retryMaxMs), signal);
        }
      } catch (error) {
        if (signal?.aborted) throw error;
        if (lifecycle.closed) throw errors.closed(`${what} ${name}`);
        report(error);
        index = 0;
        await delay(backoffDelay(failures++, retryBaseMs, retryMaxMs), signal);
      }
    }
  }

  const lock: LeaderLock = {
    name,
    key,
    get isHeld() {
      return held !== undefined;
    },
    get fencingToken() {
      return held?.token;
    },
    get sessionId() {
      return held?.session;
    },

    acquire(o = {}) {
      if (lifecycle.closed) return Promise.reject(errors.closed(`${what} ${name}`));
      if (held) return Promise.resolve(held.token);
      // Concurrent callers share one attempt unless they bring their own signal.
      if (o.signal) return acquireLoop(o.signal);
      acquiring ??= acquireLoop().finally(() => {
        acquiring = undefined;
      });
      return acquiring;
    },

    async tryAcquire(o = {}) {
      lifecycle.assertOpen();
      if (held) return true;
      return (await attempt(o.signal)).ok;
    },

    async release() {
      const h = held;
      const s = session;
      if (h) {
        h.monitor.abort();
        held = undefined;
        // Release first: a plain release imposes no lock-delay, destroying the session would.
        await http.kvPut(key, base64(holder), { release: h.session }).catch(report);
      }
      session = new ManagedSession(http, settings);
      watchSession(session);
      await s.destroy({ bestEffort: true });
    },

    onLost(listener) {
      return lostListeners.add(listener);
    },

    guardOp(): TxnOp {
      if (!held) throw new ConfigError('CONFLICTING_CHANGE', `leader lock ${name} is not held`);
      return { KV: { Verb: 'check-session', Key: key, Session: held.session } };
    },

    async verify(o = {}) {
      lifecycle.assertOpen();
      const h = held;
      if (!h) return false;
      const { entry } = await http.kvGet(key, { consistent: true, signal: o.signal });
      const ok = entry !== undefined && entry.Session === h.session && entry.LockIndex === h.token;
      if (!ok) lose(new ConfigError('CONFLICTING_CHANGE', `leader lock ${name} is no longer held by this process`));
      return ok;
    },

    close() {
      return lifecycle.close(async () => {
        try {
          await lock.release();
        } finally {
          lostListeners.clear();
          http.destroy();
        }
      });
    },

    [Symbol.asyncDispose]() {
      return lock.close();
    },
  };
  return lock;
}

/** Who holds a leader lock, as the lock key says. */
export interface LeaderLockHolder {
  /** The holder's `holder` option (the agent's instance name). */
  readonly holder: string;
  /** The Consul session holding the lock. */
  readonly session: string;
  /** The lock's LockIndex: the fencing token of the holder's term. */
  readonly lockIndex: number;
}

/**
 * Reads who holds the leader lock `<prefix>locks/<name>`, without campaigning: `undefined` when no
 * session holds it (no leader, or between terms). A Consul failure rejects (`BACKEND_UNAVAILABLE`),
 * it is never reported as "no leader".
 */
export async function readLeaderLock(
  options: ConsulConnectionOptions & { name: string; prefix?: string; signal?: AbortSignal },
): Promise<LeaderLockHolder | undefined> {
  const what = 'leader lock reader';
  if (options === null || typeof options !== 'object') throw errors.constraint(`${what} options must be an object`);
  const name = checkLockName(options.name, what);
  const prefix = checkPrefix(options.prefix ?? 'summit/', what);
  const http = new ConsulHttp(resolveConnection(options, what));
  try {
    const { entry } = await http.kvGet(new Layout(prefix).lock(name), { signal: options.signal });
    if (entry?.Session === undefined || entry.Session === '') return undefined;
    return { holder: entry.Value ?? '', session: entry.Session, lockIndex: entry.LockIndex };
  } finally {
    http.destroy();
  }
}
