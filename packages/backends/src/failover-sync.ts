/**
 * Keeping the mirror (Consul) caught up with the record (PostgreSQL) in a failover chain:
 *
 * - **Probes** every `probeIntervalMs`: the record with `ping()`, the mirror with a consistent read of
 *   its epoch (through the raft leader, so a cluster without a leader fails the probe).
 * - **Epoch**: the record creates it once; the mirror holds a copy written only after it caught up.
 *   A mirror without it, or with another one (wiped, restarted empty, a new cluster), is *untrusted*:
 *   it serves nothing and takes no write of its own until a full pass rebuilt it from the record.
 * - **Recovery**: a tier that answers again is `syncing` until a repair pass brought it in line, then
 *   `closed` (serving). A pass that could not finish leaves it `syncing`; the next probe retries.
 * - **Self-healing**: every `repairIntervalMs` while both answer, a pass over the refs the record
 *   lists as lagging and those the mirror marks provisional, with backoff after a failure. Nothing
 *   needs a new write to converge.
 * - **Renumbering** of this process's own provisional writes (a partition let another process write
 *   the same number to the record) is reported through `onEvent`.
 */
import { randomUUID } from 'node:crypto';
import { type ConfigRef, type ConfigVersion, refKey, type WriteFence } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { Breakers, Tier } from './failover-tiers.js';
import { isOutage } from './failover-tiers.js';
import { type ChainRoles, emptyReport, type HealOptions, healChain, healRef, type ReconcileReport } from './heal.js';
import { OwnWrites } from './own-writes.js';

export type SyncEvent =
  | { type: 'reconciled'; report: ReconcileReport }
  | { type: 'reconcile-failed'; error: unknown }
  | { type: 'mirror-reset'; tier: string; found: string | undefined; expected: string | undefined }
  | { type: 'renumbered'; ref: string; version: number; checksum: string; reappendedAs: number }
  /** The number of refs the record and the mirror disagree on changed (the divergent-refs gauge). */
  | { type: 'divergence'; refs: number };

export interface SyncOptions {
  probeIntervalMs: number;
  probeTimeoutMs: number;
  repairIntervalMs: number;
  emit: (event: SyncEvent) => void;
  isClosed: () => boolean;
  /** Passed to every repair: the trust root and the signer (see `HealOptions`). */
  trust?: HealOptions['trust'];
  signer?: HealOptions['signer'];
}

export class ChainSync {
  readonly #tiers: readonly Tier[];
  readonly #record: Tier | undefined;
  /** The tier that keeps the epoch: the record, or a lone durable tier that can. */
  readonly #keeper: Tier | undefined;
  readonly #mirror: Tier | undefined;
  readonly #breakers: Breakers;
  readonly #o: SyncOptions;
  /** The record's epoch, once read. */
  #epoch: string | undefined;
  /** The mirror holds the record's epoch (or, while the record is unreachable, an epoch at all). */
  #trusted = false;
  #probing = false;
  #probeTimer: NodeJS.Timeout | undefined;
  #repairTimer: NodeJS.Timeout | undefined;
  #repairFailures = 0;
  #repairing: Promise<ReconcileReport> | undefined;
  #divergent = 0;
  /** This process's provisional writes, until the record holds them (or they were renumbered). */
  readonly #own = new OwnWrites();
  #ready: Promise<void> | undefined;
  /** Aborted by stop(): a repair pass under way ends at its next step instead of holding close(). */
  readonly #stopped = new AbortController();

  constructor(tiers: readonly Tier[], breakers: Breakers, options: SyncOptions) {
    this.#tiers = tiers;
    this.#record = tiers.find((t) => t.role === 'record');
    this.#keeper = this.#record ?? tiers.find((t) => t.role === 'plain' && t.store.writeEpoch !== undefined);
    this.#mirror = tiers.find((t) => t.role === 'mirror');
    this.#breakers = breakers;
    this.#o = options;
  }

  /** The first probe round (started by the first call: nothing connects at construction). */
  get ready(): Promise<void> {
    this.#ready ??= this.#start();
    return this.#ready;
  }

  /** The first round if it was started; never starts it. */
  settled(): Promise<void> {
    return this.#ready ?? Promise.resolve();
  }

  get roles(): ChainRoles | undefined {
    return this.#record && this.#mirror ? { record: this.#record.store, mirror: this.#mirror.store } : undefined;
  }

  /** Refs found needing repair by the last pass (the divergent-refs gauge). */
  get divergent(): number {
    return this.#divergent;
  }

  set divergent(value: number) {
    if (value === this.#divergent) return;
    this.#divergent = value;
    this.#o.emit({ type: 'divergence', refs: value });
  }

  get trusted(): boolean {
    return this.#trusted;
  }

  get epoch(): string | undefined {
    return this.#epoch;
  }

  /** A provisional write of this process, kept until the record holds it. */
  noteProvisional(doc: ConfigVersion): void {
    this.#own.note(doc);
  }

  stop(): void {
    this.#stopped.abort(errors.closed('failover store'));
    clearInterval(this.#probeTimer);
    clearInterval(this.#repairTimer);
  }

  // ------------------------------------------------------------------ start and probes

  async #start(): Promise<void> {
    const deadline = Date.now() + this.#o.probeTimeoutMs;
    // Two rounds at most: a recovery that failed on a transient error (a concurrent migration, say)
    // gets one more try before the first call goes on without it.
    for (let round = 0; round < 2; round++) {
      await this.probeAll(round === 0);
      // A fresh or quickly repaired mirror starts serving at once; a long rebuild goes on behind.
      const running = this.#tiers.map((t) => t.recovering).filter((p) => p !== undefined);
      const left = deadline - Date.now();
      if (running.length > 0 && left > 0) {
        await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, left).unref())]);
      }
      if (!this.#tiers.some((t) => t.state === 'syncing' && !t.recovering) || Date.now() >= deadline) break;
    }
    this.#probeTimer = setInterval(() => void this.probeAll(false), this.#o.probeIntervalMs);
    this.#probeTimer.unref();
    if (this.roles) this.#scheduleRepair(this.#o.repairIntervalMs);
  }

  async probeAll(first: boolean): Promise<void> {
    if (this.#probing || this.#o.isClosed()) return;
    this.#probing = true;
    try {
      await Promise.all(this.#tiers.map((tier) => this.#probe(tier, first)));
    } finally {
      this.#probing = false;
    }
  }

  async #probe(tier: Tier, first: boolean): Promise<void> {
    const signal = AbortSignal.timeout(this.#o.probeTimeoutMs);
    try {
      if (tier.role === 'mirror') {
        const found = await (tier.store.readEpoch?.({ signal }) ?? Promise.resolve(undefined));
        this.#breakers.success(tier);
        this.#checkMirrorEpoch(tier, found);
      } else {
        await tier.store.ping({ signal });
        this.#breakers.success(tier);
        if (tier === this.#keeper && this.#epoch === undefined) await this.#ensureEpoch();
      }
      if (tier.state !== 'closed') this.recover(tier);
    } catch (error) {
      if (this.#o.isClosed()) return;
      if (first && tier.state !== 'closed') {
        tier.lastError = error;
        this.#breakers.set(tier, 'open', error);
      } else if (tier.state === 'closed') this.#breakers.failure(tier, error);
      else tier.lastError = error;
    }
  }

  /** Creates the record's epoch when it has none; learns it otherwise. */
  async #ensureEpoch(): Promise<string> {
    const record = this.#keeper?.store;
    if (!record?.readEpoch || !record.writeEpoch) throw new Error('the record keeps no epoch');
    this.#epoch = (await record.readEpoch()) ?? (await record.writeEpoch(randomUUID(), undefined));
    return this.#epoch;
  }

  #checkMirrorEpoch(tier: Tier, found: string | undefined): void {
    const agrees = found !== undefined && (this.#epoch === undefined || found === this.#epoch);
    if (agrees) return;
    if (this.#trusted || tier.state === 'closed') {
      this.#trusted = false;
      this.#o.emit({ type: 'mirror-reset', tier: tier.store.name, found, expected: this.#epoch });
      this.#breakers.set(tier, 'syncing');
    }
  }

  // ------------------------------------------------------------------ recovery

  /** Brings a tier that answers again in line with the record, then closes its breaker. */
  recover(tier: Tier): void {
    if (tier.recovering || this.#o.isClosed()) return;
    tier.recovering = (async () => {
      if (tier.state === 'open') this.#breakers.set(tier, 'syncing');
      try {
        if (tier.role === 'mirror') await this.#recoverMirror(tier);
        else if (tier.role === 'record') await this.#recoverRecord(tier);
        else this.#close(tier);
      } catch (error) {
        this.#o.emit({ type: 'reconcile-failed', error });
        tier.lastError = error;
        if (isOutage(error)) this.#breakers.set(tier, 'open', error);
      } finally {
        tier.recovering = undefined;
      }
    })();
  }

  #close(tier: Tier): void {
    tier.failures = 0;
    this.#breakers.set(tier, 'closed');
  }

  async #recoverMirror(tier: Tier): Promise<void> {
    const record = this.#record as Tier;
    const found = await tier.store.readEpoch?.();
    if (record.state === 'open') {
      // The record cannot be asked: a mirror that kept its epoch was caught up when it last had it.
      this.#trusted = found !== undefined && (this.#epoch === undefined || found === this.#epoch);
      if (this.#trusted) this.#close(tier);
      return;
    }
    const epoch = this.#epoch ?? (await this.#ensureEpoch());
    const full = found !== epoch;
    const report = await this.#pass({ full });
    // Refs a concurrent writer moved are in the record's order on both tiers already; any other
    // gap keeps the mirror syncing, and the next probe tries again.
    if (report.incomplete.some((i) => !i.concurrent)) return;
    if (full) {
      const stored = await tier.store.writeEpoch?.(epoch, found);
      if (stored !== epoch) return;
    }
    this.#trusted = true;
    this.#close(tier);
  }

  async #recoverRecord(tier: Tier): Promise<void> {
    await this.#ensureEpoch();
    await this.#checkOwn();
    const mirror = this.#mirror;
    if (mirror && mirror.state !== 'open' && this.#trusted) {
      // Versions the mirror took alone while the record was away go into the record first; what a
      // concurrent writer moved is finished by the repair loop.
      const report = await this.#pass({ full: false });
      if (report.incomplete.some((i) => !i.concurrent)) return;
    }
    this.#close(tier);
  }

  // ------------------------------------------------------------------ repair

  /** One repair pass (coalesced: callers during a pass share it). */
  #pass(options: HealOptions & { full?: boolean }): Promise<ReconcileReport> {
    const roles = this.roles;
    if (!roles) return Promise.resolve(emptyReport());
    if (this.#repairing && !options.full && !options.fence) return this.#repairing;
    // A caller's own signal (the leader's reconcile job) is that caller's to abort.
    const signal = options.signal ?? this.#stopped.signal;
    const run = (async () => {
      const report = await healChain(roles, { ...options, ...this.#keys(), signal });
      this.divergent = report.incomplete.length;
      if (report.refs.length > 0 || report.conflicts.length > 0 || options.full) {
        this.#o.emit({ type: 'reconciled', report });
      }
      await this.#checkOwn();
      return report;
    })();
    if (!options.full && !options.fence) {
      this.#repairing = run.finally(() => {
        this.#repairing = undefined;
      });
      return this.#repairing;
    }
    return run;
  }

  /** Runs a pass now: `full` compares every ref (the leader's anti-entropy). */
  async reconcile(
    options: { signal?: AbortSignal; fence?: WriteFence; full?: boolean } = {},
  ): Promise<ReconcileReport> {
    if (!this.roles) return emptyReport();
    const report = await this.#pass({ full: options.full ?? true, signal: options.signal, fence: options.fence });
    const mirror = this.#mirror as Tier;
    if (report.incomplete.length === 0 && this.#epoch !== undefined && mirror.state !== 'open') {
      const found = await mirror.store.readEpoch?.();
      if (found !== this.#epoch) await mirror.store.writeEpoch?.(this.#epoch, found, { fence: options.fence });
    }
    return report;
  }

  /** Waits (at most `ms`) for the running repair pass and tier recoveries to end. */
  async idle(ms: number): Promise<void> {
    const running = [this.#repairing, ...this.#tiers.map((t) => t.recovering)].filter((p) => p !== undefined);
    if (running.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Repairs one ref now (a writer found the two tiers apart on it). True when anything changed. */
  async healOne(ref: ConfigRef): Promise<boolean> {
    const roles = this.roles;
    if (!roles?.mirror.listProvisional) return false;
    const key = refKey(ref);
    const marks = (await roles.mirror.listProvisional()).filter((p) => refKey(p.ref) === key).map((p) => p.version);
    const report = emptyReport();
    await healRef(roles, ref, marks, report, this.#keys());
    if (report.refs.length > 0) this.#o.emit({ type: 'reconciled', report });
    return report.refs.length > 0;
  }

  /** The trust root and signer every repair uses. */
  #keys(): Pick<HealOptions, 'trust' | 'signer'> {
    return { trust: this.#o.trust, signer: this.#o.signer };
  }

  #scheduleRepair(ms: number): void {
    if (this.#o.isClosed()) return;
    clearTimeout(this.#repairTimer);
    this.#repairTimer = setTimeout(() => void this.#repairTick(), ms);
    this.#repairTimer.unref();
  }

  async #repairTick(): Promise<void> {
    const record = this.#record as Tier;
    const mirror = this.#mirror as Tier;
    let ok = true;
    try {
      if (record.state !== 'open' && mirror.state === 'closed' && this.#trusted) {
        ok = (await this.#pass({ full: false })).incomplete.length === 0;
      } else if (record.state !== 'open' && record.store.listLagging) {
        // The mirror is away or rebuilding: the record still knows what it lacks, and takes this
        // process's own provisional writes now (the mirror may have lost them).
        await this.#checkOwn();
        this.divergent = (await record.store.listLagging({ limit: 10_000 })).length;
      } else this.divergent = this.#own.size;
    } catch (error) {
      ok = false;
      this.#o.emit({ type: 'reconcile-failed', error });
    }
    this.#repairFailures = ok ? 0 : this.#repairFailures + 1;
    // Backoff after failures, capped so that a repair is retried within seconds of the tiers answering.
    const base = this.#o.repairIntervalMs;
    const delay = ok ? base : Math.min(base * 2 ** Math.min(this.#repairFailures, 4), Math.max(base, 2000));
    this.#scheduleRepair(delay * (0.75 + Math.random() * 0.5));
  }

  /** Settles this process's provisional writes with the record (see own-writes.ts). */
  async #checkOwn(): Promise<void> {
    const record = this.#record;
    const mirror = this.#mirror;
    if (!record || !mirror || this.#own.size === 0 || record.state === 'open' || mirror.state === 'open') return;
    await this.#own.settle(record.store, mirror.store, (event) => this.#o.emit(event));
  }
}
