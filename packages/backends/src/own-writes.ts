/**
 * The writes this process made to the mirror alone (provisional, while the record was unreachable),
 * kept in memory until the record holds them. Two duties:
 *
 * - **Nothing acknowledged is lost with the mirror.** While the mirror holds them, reconciliation
 *   copies them (with every other process's, in order). If the mirror answers without them (a
 *   Consul restarted empty, a new cluster), this process writes them into the record itself: at
 *   their own number when the record's head is just below, otherwise preserved as a new version
 *   (`metadata.conflict`), as reconciliation would.
 * - **A renumbering is reported to its writer.** When the record kept other content under the
 *   number (writes on opposite sides of a partition), the `renumbered` event says where this
 *   process's content went.
 *
 * Bounded: beyond `max` entries the oldest are forgotten (and lose the first guarantee).
 */
import { type ConfigStore, type ConfigVersion, isConfigError, refKey } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { findReappended } from './heal.js';

export interface Renumbered {
  type: 'renumbered';
  ref: string;
  version: number;
  checksum: string;
  reappendedAs: number;
}

export class OwnWrites {
  readonly #docs = new Map<string, ConfigVersion>();
  readonly #max: number;
  /** One settling at a time: two would race for the same numbers. */
  #settling: Promise<void> | undefined;

  constructor(max = 10_000) {
    this.#max = max;
  }

  get size(): number {
    return this.#docs.size;
  }

  note(doc: ConfigVersion): void {
    if (this.#docs.size >= this.#max) this.#docs.delete(this.#docs.keys().next().value as string);
    this.#docs.set(`${refKey(doc.ref)}@${doc.version}`, doc);
  }

  /**
   * Settles what can be settled now (both stores must answer). Per ref, oldest first; a ref whose
   * settling fails is left for the next call.
   */
  settle(record: ConfigStore, mirror: ConfigStore, emit: (event: Renumbered) => void): Promise<void> {
    this.#settling ??= this.#settleAll(record, mirror, emit).finally(() => {
      this.#settling = undefined;
    });
    return this.#settling;
  }

  async #settleAll(record: ConfigStore, mirror: ConfigStore, emit: (event: Renumbered) => void): Promise<void> {
    const byRef = new Map<string, ConfigVersion[]>();
    for (const doc of this.#docs.values()) {
      const key = refKey(doc.ref);
      byRef.set(key, [...(byRef.get(key) ?? []), doc]);
    }
    for (const docs of byRef.values()) {
      docs.sort((a, b) => a.version - b.version);
      try {
        for (const doc of docs) {
          if (!(await this.#settleOne(record, mirror, doc, emit))) break; // later versions wait for this one
        }
      } catch (error) {
        if (!isConfigError(error)) throw error;
      }
    }
  }

  /** True when `doc` is settled (or was already). */
  async #settleOne(
    record: ConfigStore,
    mirror: ConfigStore,
    doc: ConfigVersion,
    emit: (event: Renumbered) => void,
  ): Promise<boolean> {
    const id = `${refKey(doc.ref)}@${doc.version}`;
    const kept = await record.getVersion(doc.ref, doc.version, { consistent: true });
    if (kept?.checksum === doc.checksum) {
      this.#docs.delete(id);
      return true;
    }
    const origin = { tier: mirror.name, version: doc.version, checksum: doc.checksum };
    const at = kept ? await findReappended(record, doc.ref, origin) : undefined;
    if (at !== undefined) {
      this.#docs.delete(id);
      emit({
        type: 'renumbered',
        ref: refKey(doc.ref),
        version: doc.version,
        checksum: doc.checksum,
        reappendedAs: at,
      });
      return true;
    }
    // Still on the mirror: reconciliation copies it, in order with everyone else's versions.
    const onMirror = await mirror.getVersion(doc.ref, doc.version, { consistent: true });
    if (onMirror?.checksum === doc.checksum) return false;
    // The mirror lost it: write it into the record. At its own number when that continues the
    // record's history, else as a preserved copy.
    const head = (await record.getHead(doc.ref, { consistent: true }))?.version ?? 0;
    const own = head === doc.version - 1;
    const copy = own
      ? doc
      : createVersion(
          {
            ref: doc.ref,
            config: doc.config,
            overrides: { ...doc.overrides },
            rollout: doc.rollout,
            metadata: { ...doc.metadata, conflict: origin },
            createdBy: doc.createdBy,
            message: `conflict: ${mirror.name} v${doc.version} by ${doc.createdBy} re-appended: ${doc.message}`.slice(
              0,
              4096,
            ),
          },
          head + 1,
        );
    const pending = await (record.beginAppend as NonNullable<ConfigStore['beginAppend']>)(copy);
    await pending.commit({ mirrored: false });
    this.#docs.delete(id);
    if (!own) {
      emit({
        type: 'renumbered',
        ref: refKey(doc.ref),
        version: doc.version,
        checksum: doc.checksum,
        reappendedAs: copy.version,
      });
    }
    return true;
  }
}
