/**
 * The write path of a failover chain.
 *
 * **The record orders, the mirror serves.** While the record (PostgreSQL) answers, every write is
 * ordered by it: `beginAppend` locks the ref's head row, checks the expected version and inserts the
 * version; holding that lock, the chain appends the same version to the mirror (Consul, compare-and-
 * set on its head); then the record commits, noting whether the mirror took it. Writers of one ref
 * are thus serialised by the record's row lock, and both stores receive the same versions in the
 * same order: two writers can never both be told they own a version.
 *
 * - The mirror is down: the record commits alone and lists the ref as lagging; repair copies it.
 * - The mirror lags on the ref, or holds versions the record lacks: the write rolls back, the ref is
 *   repaired at once, and the write is tried once more (a stale base is then `VERSION_CONFLICT`).
 * - The record is down: the mirror takes the write alone, marked provisional in the same atomic
 *   write (never pruned until the record holds it), but only a mirror that holds the chain's epoch
 *   and is not behind what this process has seen.
 * - The record's commit fails after the mirror took the version: the version is marked provisional
 *   on the mirror and acknowledged; if even that fails, the write is `BACKEND_UNAVAILABLE` (its
 *   outcome is unknown, and repair settles it).
 * - A single durable tier (the embedded default, or one store alone) takes every write itself.
 */
import {
  type ConfigError,
  type ConfigVersion,
  isConfigError,
  type PendingAppend,
  refKey,
  type TierFailure,
  type WriteFence,
} from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { ChainSync } from './failover-sync.js';
import { type Breakers, failureOf, isOutage, type Tier, unavailable } from './failover-tiers.js';

export interface WriteContext {
  readonly tiers: readonly Tier[];
  readonly breakers: Breakers;
  readonly sync: ChainSync;
  /** How long a held record transaction waits for the mirror before committing without it. */
  readonly mirrorWriteTimeoutMs: number;
  floorOf(key: string): number;
  unsynced(key: string, version: number, missing: string[]): void;
}

type Options = { signal?: AbortSignal; fence?: WriteFence };

export function createWriter(ctx: WriteContext): (doc: ConfigVersion, options: Options) => Promise<ConfigVersion> {
  const record = ctx.tiers.find((t) => t.role === 'record');
  const mirror = ctx.tiers.find((t) => t.role === 'mirror');
  const plain = ctx.tiers.filter((t) => t.role === 'plain');
  const { breakers, sync } = ctx;

  async function plainAppend(doc: ConfigVersion, o: Options): Promise<ConfigVersion> {
    const key = refKey(doc.ref);
    const tier = plain[0] as Tier;
    if (tier.state === 'open') {
      throw unavailable(`${key}: no durable tier accepted the write`, [failureOf(tier)], {
        ref: key,
        version: doc.version,
      });
    }
    try {
      const written = await tier.store.append(doc, o);
      breakers.success(tier);
      return written;
    } catch (error) {
      if (!isOutage(error)) throw error;
      breakers.failure(tier, error);
      throw unavailable(`${key}: no durable tier accepted the write`, [{ backend: tier.store.name, error }], {
        ref: key,
        version: doc.version,
      });
    }
  }

  async function chainAppend(doc: ConfigVersion, o: Options, retry: boolean): Promise<ConfigVersion> {
    const R = record as Tier;
    // A record catching up with versions the mirror took alone is about to be current: wait for it.
    if (R.state === 'syncing' && R.recovering) await sync.idle(ctx.mirrorWriteTimeoutMs);
    // Half-open: when the mirror could not take the write alone either, the record is tried even
    // behind an open breaker (it may have come back since the last probe) rather than failing at once.
    const M = mirror as Tier;
    if (R.state !== 'open' || M.state !== 'closed' || !sync.trusted) {
      let pending: PendingAppend | undefined;
      try {
        pending = await (R.store.beginAppend as NonNullable<typeof R.store.beginAppend>)(doc, { signal: o.signal });
        breakers.success(R);
        if (R.state === 'open') sync.recover(R);
      } catch (error) {
        if (isConfigError(error, 'VERSION_CONFLICT')) {
          // The record may lack versions the mirror took alone: repair the ref, then try once more.
          if (retry && (await mirrorAhead(doc))) {
            await heal(doc);
            return chainAppend(doc, o, false);
          }
          throw error;
        }
        if (!isOutage(error)) throw error;
        breakers.failure(R, error);
      }
      if (pending) return finish(pending, o, retry);
    }
    return mirrorOnly(doc, o);
  }

  /** The mirror holds a newer head than the record (versions it took alone): the record must catch up. */
  async function mirrorAhead(doc: ConfigVersion): Promise<boolean> {
    if (!mirror || mirror.state === 'open' || !record) return false;
    const [m, r] = await Promise.all([
      mirror.store.getHead(doc.ref, { consistent: true }),
      record.store.getHead(doc.ref, { consistent: true }),
    ]).catch(() => [undefined, undefined]);
    return (m?.version ?? 0) > (r?.version ?? 0);
  }

  /** Repairs the ref now; when a concurrent repair got there first, waits for it to finish. */
  async function heal(doc: ConfigVersion): Promise<void> {
    const ok = await sync.healOne(doc.ref).then(
      () => true,
      () => false,
    );
    if (!ok) await sync.idle(ctx.mirrorWriteTimeoutMs);
  }

  async function finish(pending: PendingAppend, o: Options, retry: boolean): Promise<ConfigVersion> {
    const R = record as Tier;
    const M = mirror as Tier;
    const doc = pending.doc;
    const key = refKey(doc.ref);
    let mirrored = false;
    if (M.state !== 'open') {
      // Bounded: the record holds the ref's lock meanwhile. A copy that lands after the deadline is
      // the same version with the same content, which repair recognises.
      const deadline = AbortSignal.timeout(ctx.mirrorWriteTimeoutMs);
      const signal = o.signal ? linked(o.signal, deadline) : deadline;
      try {
        await M.store.append(doc, { ...o, signal });
        mirrored = true;
        breakers.success(M);
      } catch (error) {
        if (isConfigError(error, 'VERSION_CONFLICT')) {
          // The mirror's head is not the record's: repair the ref outside the lock, then once more.
          await pending.rollback();
          if (!retry) throw error;
          await heal(doc);
          return chainAppend(doc, o, false);
        }
        if (deadline.aborted && !o.signal?.aborted) {
          breakers.failure(M, errors.unavailable(M.store.name, new Error('the mirror did not answer in time')));
        } else if (!isOutage(error)) {
          await pending.rollback();
          throw error;
        } else breakers.failure(M, error);
      }
    }
    try {
      await pending.commit({ mirrored });
      breakers.success(R);
    } catch (error) {
      if (isOutage(error)) breakers.failure(R, error);
      if (mirrored && M.store.markProvisional) {
        // The mirror holds it; the record may not: keep it as a provisional version.
        const marked = await M.store.markProvisional([{ ref: doc.ref, version: doc.version }]).then(
          () => true,
          () => false,
        );
        if (marked) {
          sync.noteProvisional(doc);
          ctx.unsynced(key, doc.version, [R.store.name]);
          return doc;
        }
      }
      if (!isOutage(error)) throw error;
      throw unavailable(
        `${key}: the record's commit failed and its outcome is unknown`,
        [{ backend: R.store.name, error }],
        { ref: key, version: doc.version },
      );
    }
    if (!mirrored) ctx.unsynced(key, doc.version, [M.store.name]);
    return doc;
  }

  async function mirrorOnly(doc: ConfigVersion, o: Options): Promise<ConfigVersion> {
    const R = record as Tier;
    const M = mirror as Tier;
    const key = refKey(doc.ref);
    const ctxOf = { ref: key, version: doc.version };
    const refuse = (why: string, mirrorError?: unknown) => {
      const byTier = new Map([
        [R, failureOf(R)],
        [M, mirrorError === undefined ? failureOf(M, why) : { backend: M.store.name, error: mirrorError }],
      ]);
      const failures = ctx.tiers.filter((t) => byTier.has(t)).map((t) => byTier.get(t) as TierFailure);
      return unavailable(`${key}: no durable tier accepted the write`, failures, ctxOf);
    };
    if (M.state !== 'closed' || !sync.trusted) {
      throw refuse(`${M.store.name} ${M.state === 'open' ? 'is unreachable' : 'has not caught up with the record'}`);
    }
    try {
      const written = await M.store.append(doc, { ...o, provisional: true });
      breakers.success(M);
      sync.noteProvisional(doc);
      ctx.unsynced(key, doc.version, [R.store.name]);
      return written;
    } catch (error) {
      if (isConfigError(error, 'VERSION_CONFLICT')) {
        const floor = ctx.floorOf(key);
        const head = (await M.store.getHead(doc.ref, { consistent: true }).catch(() => undefined))?.version ?? 0;
        if (head < floor) {
          throw refuse(
            `${M.store.name} is at v${head} of ${key}, behind v${floor} which this process has seen, and the record is unreachable`,
          );
        }
        throw error;
      }
      if (!isOutage(error)) throw error;
      breakers.failure(M, error);
      throw refuse('', error as ConfigError);
    }
  }

  return async (doc, o) => (record && mirror ? chainAppend(doc, o, true) : plainAppend(doc, o));
}

/** A signal that aborts with either (without AbortSignal.any's listener bookkeeping on Node 20). */
function linked(a: AbortSignal, b: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const abort = (from: AbortSignal) => () => controller.abort(from.reason);
  if (a.aborted || b.aborted) controller.abort((a.aborted ? a : b).reason);
  else {
    a.addEventListener('abort', abort(a), { once: true });
    b.addEventListener('abort', abort(b), { once: true });
  }
  return controller.signal;
}
