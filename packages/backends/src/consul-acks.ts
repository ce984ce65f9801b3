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
import { base64, type KvEntry } from './consul-wire.js';
import { isIntegerIn } from './integers.js';

export class ConsulAcks {
  readonly #ctx: ConsulStoreContext;
  readonly #session: ManagedSession;
  /** This store's own acks, re-published under a new session after the old one was lost. */
  readonly #mine = new Map<string, string>();
  #republishing = false;

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

  /** Writes (or replaces) an instance's acknowledgement, held by this store's session. */
  async ack(ack: AppliedAck): Promise<void> {
    this.#ctx.lifecycle.assertOpen();
    const { key, value } = this.#check(ack);
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
          const sid = await this.#session.ensure();
          for (const [key, value] of this.#mine) await this.#put(key, value, sid);
          return;
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
