/**
 * The client's last-known-good snapshot: written shortly after every applied change (and once
 * more at close), read at start-up, either to fall back on when no store answers or to keep a
 * store tier that is behind from moving the client back.
 */
import type { ConfigVersion } from '../model/version.js';
import type { ClientContext } from './context.js';
import { readSnapshot, type Snapshot, writeSnapshot } from './snapshot.js';

/** Milliseconds between an applied change and the snapshot write it schedules. */
const WRITE_DELAY_MS = 100;

export class SnapshotKeeper {
  /** The store chain's epoch, read at start (undefined for stores that keep none). */
  epoch: string | undefined;
  readonly #ctx: ClientContext;
  readonly #docs: () => ConfigVersion[];
  #timer: NodeJS.Timeout | undefined;

  /** `docs` gives what the client holds now. */
  constructor(ctx: ClientContext, docs: () => ConfigVersion[]) {
    this.#ctx = ctx;
    this.#docs = docs;
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

  /** Writes the snapshot soon (one write for the changes of the next moment). */
  schedule(): void {
    if (!this.file || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, WRITE_DELAY_MS);
    this.#timer.unref();
  }

  /** Writes a scheduled snapshot now (at close). */
  async flush(): Promise<void> {
    if (!this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#write();
  }

  async #write(): Promise<void> {
    const { file } = this;
    if (!file) return;
    try {
      await writeSnapshot(file, this.#ctx.app, this.#ctx.environment, this.#docs(), this.epoch);
    } catch (error) {
      this.#ctx.report(error);
    }
  }
}
