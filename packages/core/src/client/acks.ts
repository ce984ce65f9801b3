/**
 * Applied-state acknowledgements: what this instance applied (or rejected). Acknowledgements queued
 * in the same moment travel together through the store's `ackMany` (a cold start of thousands of
 * refs sends a few requests, not one per ref); a store without it gets one `ack` each, a few at a
 * time. A failed ack is reported, never thrown: applying does not depend on it.
 */
import type { ConfigVersion } from '../model/version.js';
import type { AppliedAck } from '../store/config-store.js';
import type { ClientContext } from './context.js';

/** Requests in flight at once, one acknowledgement each (stores without `ackMany`). */
const MAX_RUNNING = 8;
/** Requests in flight at once through `ackMany` (the queue fills while they run). */
const MAX_RUNNING_BATCHES = 2;
/** Acknowledgements per `ackMany` call. */
export const MAX_ACK_BATCH = 4096;

interface Queued {
  ack: AppliedAck;
  done: () => void;
}

export class Acknowledger {
  readonly #ctx: ClientContext;
  #queue: Queued[] = [];
  #running = 0;
  #scheduled = false;

  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /** Resolves once sent (or failed); immediately for stores that keep no applied state. */
  ack(doc: ConfigVersion, status: 'applied' | 'rejected', reason?: string): Promise<void> {
    return this.ackMany([doc], status, reason);
  }

  /** Acknowledges `docs` with one status; resolves once all are sent (or failed). */
  ackMany(docs: readonly ConfigVersion[], status: 'applied' | 'rejected', reason?: string): Promise<void> {
    const { store, environment, instance } = this.#ctx;
    if (!store.capabilities.appliedState || (!store.ack && !store.ackMany) || docs.length === 0) {
      return Promise.resolve();
    }
    const at = new Date().toISOString();
    const sent = docs.map(
      (doc) =>
        new Promise<void>((done) => {
          this.#queue.push({
            ack: {
              ref: doc.ref,
              environment,
              instance,
              version: doc.version,
              checksum: doc.checksum,
              status,
              ...(reason === undefined ? {} : { reason }),
              at,
            },
            done,
          });
        }),
    );
    this.#schedule();
    return Promise.all(sent).then(() => undefined);
  }

  /** Drops the acknowledgements still queued (best effort) and waits for those under way. */
  async drain(): Promise<void> {
    for (const q of this.#queue.splice(0)) q.done();
    while (this.#running > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Pumps on the next turn, so that acknowledgements queued in the same moment share a request. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    const { store } = this.#ctx;
    const batched = store.ackMany !== undefined;
    const limit = batched ? MAX_RUNNING_BATCHES : MAX_RUNNING;
    while (this.#running < limit && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, batched ? MAX_ACK_BATCH : 1);
      this.#running++;
      void this.#send(batch).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #send(batch: Queued[]): Promise<void> {
    const { store } = this.#ctx;
    try {
      if (store.ackMany) await store.ackMany(batch.map((q) => q.ack));
      else await store.ack?.((batch[0] as Queued).ack);
    } catch (error) {
      this.#ctx.report(error);
    } finally {
      for (const q of batch) q.done();
    }
  }
}
