/**
 * The read path of a failover chain, and the floors that keep it monotonic.
 *
 * Reads go to the first closed tier (the mirror, then the record, then the cache; consistent reads
 * ask the record first) and move on after an outage or a checksum failure within the same call. A
 * tier never moves a ref backwards for this process: an answer older than what the process has seen
 * (written, read or watched) counts as "behind" and the next tier is asked; when every tier is
 * behind the read waits briefly and asks again. Only the record (or a lone durable tier) can say that
 * a ref or version does not exist; the mirror can while the record is unreachable; the cache never.
 */
import {
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type Head,
  isConfigError,
  type ListQuery,
  parseRef,
  type ReadOptions,
  refKey,
  type TierFailure,
} from '@summit-config/core';
import { errors, throwIfAborted } from '@summit-config/core/internal';
import type { ChainSync } from './failover-sync.js';
import { type Breakers, failureOf, isOutage, type Tier, unavailable } from './failover-tiers.js';

/** What one tier said to a read. */
export const LACKING = Symbol('lacking');
export const BEHIND = Symbol('behind');
export type Verdict<T> = T | typeof LACKING | typeof BEHIND;

const BEHIND_ERROR = new Error('behind what this process has seen');
/** Highest version per ref this process has seen; bounded. */
const MAX_FLOORS = 200_000;

export interface ReaderDeps {
  readonly tiers: readonly Tier[];
  readonly breakers: Breakers;
  readonly sync: ChainSync;
  /** How long a read waits for tiers that are behind: a write's deadline plus a probe. */
  readonly behindWaitMs: number;
  assertOpen(): void;
  /** `drift` (a document that does not verify) and `regressed` (a seen version exists nowhere). */
  report(
    event:
      | { type: 'drift'; tier: string; ref: string; error: import('@summit-config/core').ConfigError }
      | {
          type: 'regressed';
          ref: string;
          seen: number;
        },
  ): void;
}

export class ChainReader {
  readonly #d: ReaderDeps;
  readonly #record: Tier | undefined;
  readonly #mirror: Tier | undefined;
  readonly #cache: Tier | undefined;
  readonly #floors = new Map<string, number>();

  constructor(deps: ReaderDeps) {
    this.#d = deps;
    this.#record = deps.tiers.find((t) => t.role === 'record');
    this.#mirror = deps.tiers.find((t) => t.role === 'mirror');
    this.#cache = deps.tiers.find((t) => !t.durable && t.store.capabilities.cache);
  }

  // ------------------------------------------------------------------ floors

  floorOf(key: string): number {
    return this.#floors.get(key) ?? 0;
  }

  noteSeen(key: string, version: number): void {
    const floor = this.#floors.get(key);
    if (floor !== undefined && floor >= version) return;
    if (floor === undefined && this.#floors.size >= MAX_FLOORS) {
      this.#floors.delete(this.#floors.keys().next().value as string);
    }
    this.#floors.set(key, version);
  }

  /** A list from a durable tier is behind when any ref in it is older than this process has seen. */
  behind(items: readonly { ref: ConfigRef; version: number }[]): boolean {
    return items.some((h) => h.version < this.floorOf(refKey(h.ref)));
  }

  // ------------------------------------------------------------------ the protocol

  /** Tier order of a read: priority order, or the record first for a consistent (CAS-critical) read. */
  order(consistent: boolean | undefined, candidates: readonly Tier[] = this.#d.tiers): Tier[] {
    const record = this.#record;
    if (!consistent || !record) return [...candidates];
    return [...candidates].sort((a, b) => (b === record ? 1 : 0) - (a === record ? 1 : 0));
  }

  /**
   * Asks `candidates` in order (closed ones only). `op` returns LACKING when a tier lacks the answer
   * and BEHIND when its answer is older than this process has seen. `absentFromMirror`: a trusted
   * mirror may say "absent" while the record is away (head reads). `key`: the floor to drop when a
   * version this process saw exists nowhere any more.
   */
  async through<T>(
    candidates: readonly Tier[],
    op: (tier: Tier) => Promise<Verdict<T>>,
    absentFromMirror: boolean,
    key?: string,
  ): Promise<{ value: T | undefined; tier: Tier }> {
    await this.#d.sync.ready;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      this.#d.assertOpen();
      const outcome = await this.#once(candidates, op, absentFromMirror);
      if (!('failures' in outcome)) return outcome;
      // Every tier that answered is behind what this process saw: a version another process wrote is
      // committing, or a tier is catching up (or a writer is putting back what a wiped mirror lost).
      // All of these end within a write's deadline: wait, then ask again.
      const behind = outcome.failures.some((f) => f.error === BEHIND_ERROR);
      if (behind && Date.now() - started <= this.#d.behindWaitMs) {
        await new Promise((r) => setTimeout(r, Math.min(20 * 2 ** attempt, 200)));
        continue;
      }
      if (behind && key !== undefined && this.#floors.has(key)) {
        // Still nowhere: the version this process saw was lost with the store that alone held it.
        // Say so, and serve what exists rather than fail for ever.
        this.#d.report({ type: 'regressed', ref: key, seen: this.floorOf(key) });
        this.#floors.delete(key);
        continue;
      }
      throw unavailable('no tier answered', outcome.failures);
    }
  }

  /** One pass over the candidates: an answer, or why there is none. */
  async #once<T>(
    candidates: readonly Tier[],
    op: (tier: Tier) => Promise<Verdict<T>>,
    absentFromMirror: boolean,
  ): Promise<{ value: T | undefined; tier: Tier } | { failures: TierFailure[] }> {
    const record = this.#record;
    const mirror = this.#mirror;
    const failures: TierFailure[] = [];
    const lacked: Tier[] = [];
    for (const tier of candidates) {
      if (tier.state !== 'closed') {
        failures.push(failureOf(tier));
        continue;
      }
      try {
        const value = await op(tier);
        this.#d.breakers.success(tier);
        if (value === LACKING) lacked.push(tier);
        else if (value === BEHIND) failures.push({ backend: tier.store.name, error: BEHIND_ERROR });
        else return { value, tier };
      } catch (error) {
        if (isConfigError(error, 'CHECKSUM_MISMATCH')) {
          this.#d.report({ type: 'drift', tier: tier.store.name, ref: error.ref ?? '', error });
          failures.push({ backend: tier.store.name, error });
          continue;
        }
        if (!isOutage(error)) throw error;
        this.#d.breakers.failure(tier, error);
        failures.push({ backend: tier.store.name, error });
      }
    }
    // Half-open: no durable tier answered, and the record's breaker is not closed: ask it anyway. An open
    // record may be back since the last probe; a syncing one answers and holds every version it
    // ordered (what it may lack, versions the mirror took alone, the mirror did not answer for
    // either). Only the record: an open mirror may have come back empty.
    if (record && record.state !== 'closed' && candidates.includes(record) && !lacked.some((t) => t.durable)) {
      const answer = await this.#lastResort(record, op);
      if (answer) {
        if (record.state === 'open') this.#d.sync.recover(record);
        return answer;
      }
    }
    // Every serving tier is behind: a reachable mirror that is still syncing may hold the version.
    if (mirror && mirror.state === 'syncing' && failures.some((f) => f.error === BEHIND_ERROR)) {
      const answer = await this.#lastResort(mirror, op);
      if (answer) return answer;
    }
    const authority = lacked.find((t) => t.role === 'record' || t.role === 'plain');
    if (authority) return { value: undefined, tier: authority };
    const trustedMirror = lacked.find((t) => t.role === 'mirror');
    if (trustedMirror && absentFromMirror && record?.state !== 'closed') {
      return { value: undefined, tier: trustedMirror };
    }
    if (lacked[0] && failures.length === 0) return { value: undefined, tier: lacked[0] };
    return { failures };
  }

  /** Asks a tier outside the normal order; an answer only when it has one (never an error). */
  async #lastResort<T>(
    tier: Tier,
    op: (tier: Tier) => Promise<Verdict<T>>,
  ): Promise<{ value: T; tier: Tier } | undefined> {
    try {
      const value = await op(tier);
      return value === LACKING || value === BEHIND ? undefined : { value, tier };
    } catch {
      return undefined; // still away: the caller counts it with the others
    }
  }

  /** Verdict on a head (or head document) read from `tier`, against this process's floor. */
  judgeHead<T extends { version: number }>(tier: Tier, key: string, found: T | undefined): Verdict<T> {
    const floor = this.floorOf(key);
    if (found === undefined) return floor > 0 && tier.durable ? BEHIND : LACKING;
    if (found.version >= floor) return found;
    return tier.durable ? BEHIND : LACKING;
  }

  // ------------------------------------------------------------------ the reads the store exposes

  async getHead(refInput: ConfigRef, readOptions?: ReadOptions): Promise<Head | undefined> {
    const ref = parseRef(refInput);
    const key = refKey(ref);
    const { value } = await this.through(
      this.order(readOptions?.consistent),
      async (t) => this.judgeHead(t, key, await t.store.getHead(ref, readOptions)),
      true,
      key,
    );
    if (value) this.noteSeen(key, value.version);
    return value;
  }

  async getVersionDetailed(refInput: ConfigRef, version?: number, readOptions?: ReadOptions) {
    const ref = parseRef(refInput);
    const key = refKey(ref);
    const { value, tier } = await this.through<ConfigVersion>(
      this.order(readOptions?.consistent),
      async (t) => {
        const doc = await t.store.getVersion(ref, version, readOptions);
        if (version === undefined) return this.judgeHead(t, key, doc);
        // A specific version: only the record (or a lone tier without a history limit) is complete.
        if (doc) return doc;
        if (t.role === 'record') return LACKING;
        if (t.role === 'plain' && t.store.capabilities.historyLimit === undefined) return LACKING;
        if (t.role === 'plain') {
          const head = await t.store.getHead(ref, readOptions);
          return head && version <= head.version ? BEHIND : LACKING;
        }
        return t.role === 'cache' ? LACKING : BEHIND;
      },
      version === undefined,
      version === undefined ? key : undefined,
    );
    if (value) {
      this.noteSeen(key, value.version);
      this.prime(value, tier);
    }
    return { doc: value, source: tier.store.name, stale: !tier.durable };
  }

  async listHeads(query: ListQuery, readOptions?: ReadOptions): Promise<Head[]> {
    // The cache holds only what this process has read: never a complete list.
    const { value } = await this.through(
      this.order(readOptions?.consistent, this.#durable()),
      async (t) => {
        const heads = await t.store.listHeads(query, readOptions);
        return this.behind(heads) ? BEHIND : heads;
      },
      true,
    );
    return value ?? [];
  }

  async getHeadDocuments(query: ListQuery, readOptions?: ReadOptions) {
    const { value, tier } = await this.through(
      this.order(readOptions?.consistent, this.#durable()),
      async (t) => {
        const docs = await headDocumentsOf(t.store, query, readOptions);
        return this.behind(docs) ? BEHIND : docs;
      },
      true,
    );
    const docs = value ?? [];
    for (const d of docs) {
      this.noteSeen(refKey(d.ref), d.version);
      this.prime(d, tier);
    }
    return { docs, source: tier.store.name, stale: !tier.durable };
  }

  /** Versions of a ref: the tier that keeps every version answers first. */
  async listVersions(refInput: ConfigRef, readOptions?: ReadOptions): Promise<number[]> {
    const ref = parseRef(refInput);
    const keepsAll = (t: Tier) => (t.role === 'record' || t.store.capabilities.historyLimit === undefined ? 0 : 1);
    const complete = this.#durable().sort((a, b) => keepsAll(a) - keepsAll(b));
    return (await this.through(complete, (t) => t.store.listVersions(ref, readOptions), false)).value ?? [];
  }

  /** Fills the cache with a version a durable tier answered. */
  prime(doc: ConfigVersion, from?: Tier): void {
    const cache = this.#cache;
    if (cache && from !== cache) void cache.store.prime?.(doc).catch(() => {});
  }

  #durable(): Tier[] {
    return this.#d.tiers.filter((t) => t.durable);
  }
}

/** Every head document of `query` from one durable tier (bulk when it can), in key order. */
async function headDocumentsOf(s: ConfigStore, query: ListQuery, readOptions?: ReadOptions) {
  if (s.capabilities.bulkReads && s.getHeadDocuments) return (await s.getHeadDocuments(query, readOptions)).docs;
  const heads = await s.listHeads(query, readOptions);
  const out: ConfigVersion[] = new Array(heads.length);
  let next = 0;
  const worker = async () => {
    while (next < heads.length) {
      const i = next++;
      const head = heads[i] as Head;
      // One listener on the caller's signal, not one per request: check it between documents.
      throwIfAborted(readOptions?.signal);
      const doc = await s.getVersion(head.ref, head.version, { consistent: readOptions?.consistent });
      if (!doc) throw errors.unavailable(s.name, new Error(`head document of ${refKey(head.ref)} vanished`));
      out[i] = doc;
    }
  };
  await Promise.all(Array.from({ length: Math.min(32, heads.length) }, worker));
  return out;
}
