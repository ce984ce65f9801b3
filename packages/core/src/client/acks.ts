/**
 * Applied-state acknowledgements: what this instance applied (or rejected), sent a few at a time
 * (a cold start of thousands of refs must not open thousands of writes). A failed ack is reported,
 * never thrown: applying does not depend on it.
 */
import type { ConfigVersion } from '../model/version.js';
import type { ClientContext } from './context.js';

const MAX_RUNNING = 8;

export class Acknowledger {
  readonly #ctx: ClientContext;
  readonly #queue: Array<() => Promise<void>> = [];
  #running = 0;

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /** Resolves once sent (or failed); immediately for stores that keep no applied state. */
  ack(doc: ConfigVersion, status: 'applied' | 'rejected', reason?: string): Promise<void> {
    const { store, environment, instance } = this.#ctx;
    if (!store.capabilities.appliedState || !store.ack) return Promise.resolve();
    const ack = store.ack.bind(store);
    return new Promise<void>((resolve) => {
      this.#queue.push(async () => {
        try {
          await ack({
            ref: doc.ref,
            environment,
            instance,
            version: doc.version,
            checksum: doc.checksum,
            status,
            reason,
            at: new Date().toISOString(),
          });
        } catch (error) {
          this.#ctx.report(error);
        } finally {
          resolve();
        }
      });
      this.#pump();
    });
  }

  /** Drops the acknowledgements still queued (best effort) and waits for those under way. */
  async drain(): Promise<void> {
    this.#queue.length = 0;
    while (this.#running > 0) await new Promise((r) => setTimeout(r, 5));
  }

  #pump(): void {
    while (this.#running < MAX_RUNNING && this.#queue.length > 0) {
      const task = this.#queue.shift() as () => Promise<void>;
      this.#running++;
      void task().finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }
}
