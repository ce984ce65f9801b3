/**
 * The client's last-known-good snapshot: written shortly after an applied change, at most once per
 * {@link MIN_INTERVAL_MS} however many changes arrive (a burst is one write), one write at a time,
 * and once more at close; read at start-up, either to fall back on when no store answers or to keep
 * a store tier that is behind from moving the client back.
 */
import type { ConfigVersion } from '../model/version.js';
import type { ClientContext } from './context.js';
import { readSnapshot, type Snapshot, writeSnapshot } from './snapshot.js';

/** Milliseconds between an applied change and the snapshot write it schedules (at the soonest). */
const WRITE_DELAY_MS = 100;
/** Milliseconds between the starts of two snapshot writes, at the least. */
export const MIN_INTERVAL_MS = 1000;

/** Timings, for tests. */
export interface SnapshotTimings {
  delayMs?: number;
  minIntervalMs?: number;
}

export class SnapshotKeeper {
  /** The store chain's epoch, read at start (undefined for stores that keep none). */
  epoch: string | undefined;
  readonly #ctx: ClientContext;
  readonly #docs: () => ConfigVersion[];
  readonly #delayMs: number;
  readonly #minIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  /** The write under way (or the last one), so that writes never overlap. */
  #writing: Promise<void> = Promise.resolve();
  /** When the last write started (performance.now()). */
  #lastStart = Number.NEGATIVE_INFINITY;
  /** Snapshot files written (for tests and benchmarks). */
  writes = 0;

  /** `docs` gives what the client holds now. */
  constructor(ctx: ClientContext, docs: () => ConfigVersion[], timings: SnapshotTimings = {}) {
    this.#ctx = ctx;
    this.#docs = docs;
    this.#delayMs = timings.delayMs ?? WRITE_DELAY_MS;
    this.#minIntervalMs = timings.minIntervalMs ?? MIN_INTERVAL_MS;
  }

  get file(): string | undefined {
    return this.#ctx.options.snapshotFile;
  }

  /** The snapshot file's content (undefined without a file, or when none was written yet). */
  async read(): Promise<Snapshot | undefined> {
    const { file } = this;
    return file ? readSnapshot(file, this.#ctx.app, this.#ctx.environment) : undefined;
  }

  /**
   * The snapshot's documents, when it was written in the same store chain (same epoch): none without
   * a snapshot file or an epoch, or when it cannot be read.
   */
  async previousDocs(): Promise<ConfigVersion[]> {
    if (!this.file || this.epoch === undefined) return [];
    try {
      const snapshot = await this.read();
      return snapshot?.epoch === this.epoch ? snapshot.docs : [];
    } catch (error) {
      this.#ctx.report(error);
      return [];
    }
  }

  /**
   * Writes the snapshot soon: one write for every change until it starts, no sooner than
   * `minIntervalMs` after the previous write started.
   */
  schedule(): void {
    if (!this.file || this.#timer) return;
    const wait = Math.max(this.#delayMs, this.#lastStart + this.#minIntervalMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue();
    }, wait);
    this.#timer.unref();
  }

  /** Writes a scheduled snapshot now (at close), after the write under way. */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      await this.#enqueue();
    } else {
      await this.#writing;
    }
  }

  /** Queues a write behind the one under way (a later write holds what the earlier one did, or more). */
  #enqueue(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#write());
    return this.#writing;
  }

  async #write(): Promise<void> {
    const { file } = this;
    if (!file) return;
    this.#lastStart = performance.now();
    try {
      await writeSnapshot(file, this.#ctx.app, this.#ctx.environment, this.#docs(), this.epoch);
      this.writes++;
    } catch (error) {
      this.#ctx.report(error);
    }
  }
}
