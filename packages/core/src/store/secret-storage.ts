/**
 * The secret storage contract of the local secret provider: where encrypted versions live. A
 * storage only ever sees ciphertext, IV and GCM tag, plus the version number, stage, state, labels
 * and timestamps; the provider encrypts before and decrypts after. Implementations, both in
 * `@summit-config/secrets`: memory (`createMemorySecretStorage`, the provider's default) and SQL on
 * PostgreSQL or PGlite (`createSqlSecretStorage`). Every one runs the suite
 * `@summit-config/test-support/contract/secret-storage-contract`.
 *
 * All stage logic lives in the provider: a storage only runs a {@link StoragePlan} atomically.
 */

/** The three stages a version can hold (see `@summit-config/secrets`' provider contract). */
export type SecretStage = 'current' | 'previous' | 'pending';

/** Provider-side state of a version. Only `enabled` versions can be read. */
export type SecretVersionState = 'enabled' | 'disabled' | 'destroyed';

/** AES-256-GCM output for one version. */
export interface SealedValue {
  /** 12 random bytes. */
  readonly iv: Uint8Array;
  /** The 16-byte authentication tag. */
  readonly tag: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** A stored version without its ciphertext. */
export interface StoredVersionMeta {
  /** 1, 2, 3... per secret. */
  readonly version: number;
  readonly stage: SecretStage | null;
  readonly state: SecretVersionState;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface StoredVersion extends StoredVersionMeta {
  /** `null` once destroyed. */
  readonly sealed: SealedValue | null;
}

/** What {@link LocalSecretStorage.change} shows the plan: the secret as it is, under its lock. */
export interface SecretSnapshot {
  readonly exists: boolean;
  /** Every version, ascending. */
  readonly versions: readonly StoredVersionMeta[];
  /** The number the next inserted version gets. */
  readonly nextVersion: number;
}

/** One change to an existing version. */
export interface VersionUpdate {
  readonly version: number;
  readonly stage: SecretStage | null;
  readonly state: SecretVersionState;
  /** Erase the ciphertext, IV and tag (with state `destroyed`). */
  readonly wipe?: boolean;
}

/** The changes a plan asks for; applied all together or not at all. */
export interface StoragePlan<T> {
  /** Create the secret (only when the snapshot said it did not exist). */
  readonly create?: boolean;
  /** A new version, numbered `snapshot.nextVersion`. */
  readonly insert?: {
    readonly stage: SecretStage | null;
    readonly sealed: SealedValue;
    readonly labels: Readonly<Record<string, string>>;
  };
  /** Stage changes are applied so that no two versions ever hold one stage, whatever the order. */
  readonly updates?: readonly VersionUpdate[];
  /** What `change` resolves to. */
  readonly result: T;
}

export type VersionLookup = { readonly version: number } | { readonly stage: SecretStage };

/**
 * Failure rules: a storage that cannot be reached rejects with a `SECRET_PROVIDER` error of reason
 * `unavailable` (the provider adds the secret name); a plan that throws changes nothing and its
 * error propagates unchanged.
 */
export interface LocalSecretStorage {
  /** `memory`, `postgres` or `pglite`. */
  readonly kind: string;
  /** Data survives a restart of this process. */
  readonly durable: boolean;
  /**
   * Locks `name` (other changes of it wait), reads its snapshot, calls `plan`, applies the plan,
   * all atomically. `create` of a secret another caller created first rejects with reason `exists`.
   */
  change<T>(name: string, plan: (snapshot: SecretSnapshot) => StoragePlan<T>): Promise<T>;
  /** One version with its ciphertext; `secretExists` tells a missing secret from a missing version. */
  get(name: string, lookup: VersionLookup): Promise<{ secretExists: boolean; row: StoredVersion | undefined }>;
  /** Every version, ascending, or `undefined` when the secret does not exist. */
  list(name: string): Promise<StoredVersionMeta[] | undefined>;
  /**
   * A storage-wide value by key, or `undefined` when it was never set. The provider keeps its master
   * key's check value (KCV) here: never a key, never anything a key can be recovered from.
   */
  getMeta(key: string): Promise<string | undefined>;
  /**
   * Sets `key` to `value` unless it is set already: the first writer wins, concurrent callers
   * included. Resolves to the value kept (`value`, or the one set before). Values never change.
   */
  putMeta(key: string, value: string): Promise<string>;
  /**
   * The oldest stored version that still holds its ciphertext (any secret, any state but
   * `destroyed`), or `undefined` when none does: what the provider decrypts to check its key against
   * a store that has no key check value yet.
   */
  firstSealed(): Promise<{ name: string; row: StoredVersion } | undefined>;
  /** Releases what the storage owns. Idempotent. */
  close(): Promise<void>;
}

/** Applies `updates` to a stage map in memory, checking the one-version-per-stage invariant. */
export function checkPlanStages(versions: readonly StoredVersionMeta[], plan: StoragePlan<unknown>): void {
  const stages = new Map<number, SecretStage | null>(versions.map((v) => [v.version, v.stage]));
  for (const u of plan.updates ?? []) {
    if (!stages.has(u.version)) throw new Error(`storage plan updates unknown version ${u.version}`);
    stages.set(u.version, u.stage);
  }
  if (plan.insert) stages.set(-1, plan.insert.stage);
  const seen = new Set<SecretStage>();
  for (const stage of stages.values()) {
    if (stage === null) continue;
    if (seen.has(stage)) throw new Error(`storage plan leaves two versions with stage ${stage}`);
    seen.add(stage);
  }
}
