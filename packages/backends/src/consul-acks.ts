/**
 * Applied-state acknowledgements on Consul: written with `?acquire` under one session per store
 * (behavior `delete`), renewed in the background, destroyed on close, so an instance's
 * acknowledgements vanish when it dies. A store re-publishes its own acknowledgements under a new
 * session after the old one was lost.
 */
import { type AppliedAck, type ConfigError, type ConfigRef, parseRef, refKey } from '@summit-config/core';
import { backoffDelay, delay, errors, isPlainObject, parseEnvironmentName } from '@summit-config/core/internal';
import type { ConsulStoreContext } from './consul-context.js';
import { incomplete, isInvalidSession } from './consul-errors.js';
import { CHECKSUM_RE, checkInstance } from './consul-layout.js';
import { ManagedSession, resolveSessionSettings } from './consul-session.js';
import { MAX_TXN_OPS } from './consul-txn-batch.js';
import { base64, type KvEntry } from './consul-wire.js';
import { isIntegerIn } from './integers.js';

/** Acknowledgement transactions in flight at once. */
const TXNS_IN_FLIGHT = 4;

export class ConsulAcks {
  readonly #ctx: ConsulStoreContext;
  readonly #session: ManagedSession;
  /** This store's own acks, re-published under a new session after the old one was lost. */
  readonly #mine = new Map<string, string>();
  #republishing = false;
  /** Acknowledgements waiting for the next transaction. */
  readonly #pending: Array<{ key: string; value: string; resolve: () => void; reject: (error: unknown) => void }> = [];
  /** The flush under way (or the last one). */
  #flushing: Promise<void> = Promise.resolve();

  constructor(ctx: ConsulStoreContext) {
    this.#ctx = ctx;
    this.#session = new ManagedSession(
      ctx.http,
      resolveSessionSettings({}, 'consul store', {
        name: `summit-config acks (${ctx.backend})`,
        ttlMs: ctx.opts.ackSessionTtlMs,
        lockDelayMs: 0,
        behavior: 'delete',
      }),
    );
    this.#session.onLost(() => void this.#republish());
  }

  /**
   * Writes (or replaces) an instance's acknowledgement, held by this store's session. Acknowledgements
   * sent in the same moment travel together (one transaction per {@link MAX_TXN_OPS}).
   */
  async ack(ack: AppliedAck): Promise<void> {
    this.#ctx.lifecycle.assertOpen();
    const { key, value } = this.#check(ack);
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ key, value, resolve, reject });
      if (this.#pending.length > 1) return;
      // One flush at a time (a later value of a key is never overtaken by an earlier one); those
      // queued meanwhile go together in the next.
      setImmediate(() => {
        this.#flushing = this.#flushing.then(() => this.#flush());
      });
    });
  }

  /**
   * Writes many acknowledgements: one transaction per {@link MAX_TXN_OPS} (a few in flight), the
   * last one per key winning. A malformed one rejects with `CONSTRAINT_VIOLATION` before anything is sent.
   */
  async many(items: readonly AppliedAck[]): Promise<void> {
    this.#ctx.lifecycle.assertOpen();
    const byKey = new Map<string, string>();
    for (const ack of items) {
      const { key, value } = this.#check(ack);
      byKey.delete(key);
      byKey.set(key, value);
    }
    const failures = await this.#write([...byKey]);
    if (failures.length > 0) throw failures[0]?.error;
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0);
    const byKey = new Map<string, string>();
    for (const p of batch) {
      byKey.delete(p.key);
      byKey.set(p.key, p.value);
    }
    let failures: Array<{ key: string; error: unknown }>;
    try {
      failures = await this.#write([...byKey]);
    } catch (error) {
      failures = [...byKey.keys()].map((key) => ({ key, error }));
    }
    const failed = new Map(failures.map((f) => [f.key, f.error]));
    for (const p of batch) {
      if (failed.has(p.key)) p.reject(failed.get(p.key));
      else p.resolve();
    }
  }

  /**
   * Writes `[key, value]` pairs (distinct keys) under the session, a transaction of locks per chunk; a
   * chunk Consul refuses (a key held by another session, a lost session) is written key by key.
   * Returns the keys that could not be written.
   */
  async #write(entries: ReadonlyArray<readonly [string, string]>): Promise<Array<{ key: string; error: unknown }>> {
    const chunks: Array<ReadonlyArray<readonly [string, string]>> = [];
    for (let i = 0; i < entries.length; i += MAX_TXN_OPS) chunks.push(entries.slice(i, i + MAX_TXN_OPS));
    const failures: Array<{ key: string; error: unknown }> = [];
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++] as ReadonlyArray<readonly [string, string]>;
        if (chunk.length > 1 && (await this.#lockAll(chunk))) continue;
        for (const [key, value] of chunk) {
          try {
            await this.#ackOne(key, value);
          } catch (error) {
            failures.push({ key, error });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(TXNS_IN_FLIGHT, chunks.length) }, worker));
    return failures;
  }

  /** One transaction locking every key of `chunk` with its value; false when Consul refused it. */
  async #lockAll(chunk: ReadonlyArray<readonly [string, string]>): Promise<boolean> {
    const sid = await this.#session.ensure();
    this.#session.start();
    const out = await this.#ctx.http.txn(
      chunk.map(([key, value]) => ({ KV: { Verb: 'lock', Key: key, Value: base64(value), Session: sid } })),
    );
    if (!out.ok) return false;
    for (const [key, value] of chunk) this.#mine.set(key, value);
    return true;
  }

  async #ackOne(key: string, value: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const sid = await this.#session.ensure();
      this.#session.start();
      try {
        await this.#put(key, value, sid);
        this.#mine.set(key, value);
        return;
      } catch (error) {
        if (attempt === 0 && isInvalidSession(error)) {
          this.#session.markLost(error as ConfigError);
          continue;
        }
        throw error;
      }
    }
  }

  /** The acknowledgements of a ref; entries that do not parse as one are left out. */
  async list(refInput: ConfigRef): Promise<AppliedAck[]> {
    const ref = this.#ctx.open(refInput);
    const { entries, meta } = await this.#ctx.http.kvList(this.#ctx.layout.acksPrefix(ref));
    if (meta.filtered) throw incomplete(this.#ctx.backend, `acknowledgements of ${refKey(ref)}`);
    const out: AppliedAck[] = [];
    for (const entry of entries) {
      const ack = this.#parse(ref, entry);
      if (ack) out.push(ack);
    }
    return out;
  }

  /** Stops re-publishing this store's acknowledgements (on close). */
  forget(): void {
    this.#mine.clear();
  }

  /** Destroys the session, so the acknowledgements it holds vanish. Never rejects. */
  destroy(): Promise<void> {
    return this.#session.destroy({ bestEffort: true });
  }

  async #republish(): Promise<void> {
    const { lifecycle, opts } = this.#ctx;
    if (this.#republishing || lifecycle.closed || this.#mine.size === 0) return;
    this.#republishing = true;
    try {
      for (let attempt = 0; !lifecycle.closed; attempt++) {
        try {
          if ((await this.#write([...this.#mine])).length === 0) return;
        } catch {
          await delay(backoffDelay(attempt, opts.retryBaseMs, opts.retryMaxMs)).catch(() => {});
        }
      }
    } finally {
      this.#republishing = false;
    }
  }

  async #put(key: string, value: string, sid: string, signal?: AbortSignal): Promise<void> {
    const { http, backend } = this.#ctx;
    if (await http.kvPut(key, value, { acquire: sid, signal })) return;
    // Held by another session: a previous process of this instance whose session has not expired
    // yet. Take the key over atomically (unlock with its session, lock with ours) if unchanged.
    const { entry } = await http.kvGet(key, { consistent: true, signal });
    if (entry?.Session && entry.Session !== sid) {
      const out = await http.txn(
        [
          { KV: { Verb: 'check-index', Key: key, Index: entry.ModifyIndex } },
          { KV: { Verb: 'unlock', Key: key, Value: base64(value), Session: entry.Session } },
          { KV: { Verb: 'lock', Key: key, Value: base64(value), Session: sid } },
        ],
        { signal },
      );
      if (out.ok) return;
    }
    if (await http.kvPut(key, value, { acquire: sid, signal })) return;
    throw errors.unavailable(backend, new Error(`could not acquire ${key} for the acknowledgement`));
  }

  #check(ack: AppliedAck): { ref: ConfigRef; value: string; key: string } {
    if (!isPlainObject(ack)) throw errors.constraint('an acknowledgement must be an object');
    const ref = parseRef(ack.ref);
    const environment = parseEnvironmentName(ack.environment);
    const instance = checkInstance(ack.instance);
    const ctx = { ref: refKey(ref), backend: this.#ctx.backend };
    if (!isIntegerIn(ack.version, 1)) {
      throw errors.constraint('ack version must be an integer >= 1', ctx);
    }
    if (typeof ack.checksum !== 'string' || !CHECKSUM_RE.test(ack.checksum)) {
      throw errors.constraint('ack checksum must be 64 lower-case hex characters', ctx);
    }
    if (ack.status !== 'applied' && ack.status !== 'rejected') {
      throw errors.constraint('ack status must be "applied" or "rejected"', ctx);
    }
    if (ack.reason !== undefined && (typeof ack.reason !== 'string' || ack.reason.length > 4096)) {
      throw errors.constraint('ack reason must be a string of at most 4096 characters', ctx);
    }
    if (typeof ack.at !== 'string' || Number.isNaN(Date.parse(ack.at))) {
      throw errors.constraint('ack at must be an ISO-8601 timestamp', ctx);
    }
    const value = JSON.stringify({
      ref: { scope: ref.scope, id: ref.id },
      environment,
      instance,
      version: ack.version,
      checksum: ack.checksum,
      status: ack.status,
      ...(ack.reason === undefined ? {} : { reason: ack.reason }),
      at: ack.at,
    });
    return { ref, value, key: this.#ctx.layout.ack(ref, environment, instance) };
  }

  #parse(ref: ConfigRef, entry: KvEntry): AppliedAck | undefined {
    const parts = this.#ctx.layout.ackPartsOf(ref, entry.Key);
    if (!parts) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(entry.Value ?? '');
    } catch {
      return undefined;
    }
    if (!isPlainObject(raw)) return undefined;
    try {
      const stored = raw as unknown as AppliedAck;
      const { ref: ackRef } = this.#check({ ...stored, at: stored.at });
      if (ackRef.scope !== ref.scope || ackRef.id !== ref.id) return undefined;
      if (stored.environment !== parts.environment || stored.instance !== parts.instance) return undefined;
      return Object.freeze({ ...stored, ref: ackRef });
    } catch {
      return undefined;
    }
  }
}
