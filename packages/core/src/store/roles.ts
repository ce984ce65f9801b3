/**
 * The two roles a durable store can play in a failover chain, and what each must implement.
 *
 * **The record** (PostgreSQL, `capabilities.record`) keeps every version and orders every write it
 * can reach: `beginAppend` takes the ref's row lock, checks the expected head and inserts the
 * version, then holds the transaction open while the chain copies the version to the mirror, and
 * commits saying whether the mirror took it. The record never rewrites a version. It remembers per
 * ref the highest version the mirror holds (`listLagging` lists the refs it lacks), and it keeps the
 * chain's epoch, created once.
 *
 * **The mirror** (Consul, `capabilities.mirror`) serves reads and watches in real time. It takes a
 * write alone only while the record is unreachable; such a version is *provisional*: marked in the
 * same atomic write, never pruned, and listed by `listProvisional` until reconciliation has copied it
 * into the record and cleared the mark. `extend` copies a run of the record's versions onto the
 * mirror's head (or onto an empty ref) in as few atomic writes as the mirror's limits allow. The
 * mirror holds a copy of the record's epoch, written only after the mirror has caught up with the
 * record: a mirror that comes back without it (wiped, or a new cluster) is rebuilt before it serves.
 */
import type { ConfigRef } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { WriteFence } from './config-store.js';

/** A version inserted by `beginAppend`, holding the ref's lock until it is committed or rolled back. */
export interface PendingAppend {
  readonly doc: ConfigVersion;
  /**
   * Commits the version. `mirrored`: the mirror holds this version too; otherwise the record notes
   * that the mirror lags on this ref. Rejects `BACKEND_UNAVAILABLE` when the outcome is unknown.
   */
  commit(options: { mirrored: boolean }): Promise<void>;
  /** Rolls the insert back and releases the lock. Never rejects. */
  rollback(): Promise<void>;
}

/** A ref whose head the mirror does not hold yet (`mirrored` < `version`). */
export interface MirrorLag {
  readonly ref: ConfigRef;
  /** The record's head. */
  readonly version: number;
  /** The highest version the record knows the mirror holds (0: none). */
  readonly mirrored: number;
}

/** A version the mirror took while the record was unreachable. */
export interface ProvisionalVersion {
  readonly ref: ConfigRef;
  readonly version: number;
}

export interface ExtendOptions {
  /** The head the mirror must have (0: the ref must be absent); `VERSION_CONFLICT` otherwise. */
  expectedHead: number;
  /** The leader's write fence, for leader-only repairs. */
  fence?: WriteFence;
  signal?: AbortSignal;
}
