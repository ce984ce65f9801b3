/**
 * The secret provider contract: what `local`, `aws`, `gcp`, `azure` and `vault` implement, and what rotation
 * is built on. A secret is a name with versions; each version has a provider-native id, at most one
 * of three stages, and a state.
 *
 * Stages (the rotation life cycle):
 *
 *   write()            promote(v)                         revoke(old)
 *   ------> pending v -----------> current v, previous old --------> old disabled, no stage
 *
 * - `current`: what readers get by default. Exactly one version once the secret exists.
 * - `previous`: the version that was current before the last promote. Still readable (the grace
 *   period of a rotation), until it is revoked or the next promote replaces it.
 * - `pending`: written but not yet served. At most one; writing another revokes the older one.
 *
 * States: `enabled` versions are readable; `disabled` (revoked) and `destroyed` ones are not: a read
 * rejects with reason `revoked`. Invariants every provider keeps:
 * 1. at most one version per stage;
 * 2. a version that loses its last stage because of a promote or a newer pending write is revoked
 *    (AWS does this by itself: a version without staging labels is "deprecated");
 * 3. the current version cannot be revoked or destroyed (promote another one first).
 *
 * How each provider stores the stages:
 * | stage     | local (SQL/memory) | aws (staging labels) | gcp (version aliases) | azure (version tags)        |
 * |-----------|--------------------|----------------------|-----------------------|-----------------------------|
 * | current   | `stage` column     | `AWSCURRENT`         | alias `current`       | `stage=current`             |
 * | previous  | `stage` column     | `AWSPREVIOUS`        | alias `previous`      | `stage=previous`            |
 * | pending   | `stage` column     | `AWSPENDING`         | alias `pending`       | `stage=pending`             |
 * | revoked   | state `disabled`   | no label (deprecated)| state `DISABLED`      | `attributes.enabled=false`  |
 *
 * vault (KV v2): custom_metadata keys `summit-current`, `summit-previous`, `summit-pending` hold the
 * version numbers; revoked = the version soft-deleted (`deletion_time`), destroyed = `destroyed`.
 *
 * Failure rules (all errors are {@link SecretError}, and none ever contains a secret value):
 * - a missing secret, version or stage rejects with code `NOT_FOUND` (reason `not-found`);
 * - `promote` with a stale `expectedCurrent` rejects with `VERSION_CONFLICT` (reason `conflict`);
 * - every other failure rejects with `SECRET_PROVIDER` and a `reason` (`revoked`, `exists`, `invalid`,
 *   `denied`, `unavailable`, `key`, `failed`), naming the provider and the secret, with the SDK error
 *   as a sanitised `cause`;
 * - after `close()` every call rejects with `CLOSED`; an aborted `signal` rejects with its reason.
 */
import type { SecretStage, SecretVersionState } from '@summit-config/core/internal';
import type { SecretError } from './errors.js';

// The stage and state types are shared with the secret storage contract (core's store/secret-storage.ts).
export type { SecretStage, SecretVersionState } from '@summit-config/core/internal';

/** The three stages a version can hold. */
export const SECRET_STAGES: readonly SecretStage[] = ['current', 'previous', 'pending'];

/** Which version to read: a stage, or a provider-native version id. Default `current`. */
export type SecretSelector = SecretStage | { readonly version: string };

/** One version, without its value. */
export interface SecretVersionInfo {
  /** The secret name. */
  readonly name: string;
  /** Provider-native version id: local and GCP `"1"`, `"2"`...; AWS a UUID; Azure 32 hex digits. */
  readonly version: string;
  /** The stage this version holds, if any. */
  readonly stage: SecretStage | undefined;
  readonly state: SecretVersionState;
  /** ISO-8601 UTC creation time, when the provider reports one. */
  readonly createdAt: string | undefined;
  /** Caller labels given to `create`/`write` (always empty where `capabilities.labels` is false). */
  readonly labels: Readonly<Record<string, string>>;
  /** The provider's own markers, for diagnostics: AWS staging labels, GCP aliases, Azure stage tag. */
  readonly native: readonly string[];
}

/**
 * A secret value as read. `value` is not enumerable and `toJSON()`/`util.inspect` redact it, so a
 * `SecretValue` that ends up in a log line or a JSON document shows `[REDACTED]`, never the value.
 */
export interface SecretValue {
  readonly name: string;
  /** Provider-native id of the version that was read (also when reading by stage). */
  readonly version: string;
  /** The secret itself (UTF-8 text). Read it explicitly: `secret.value`. */
  readonly value: string;
  /** ISO-8601 UTC creation time of the version, when the provider reports one. */
  readonly createdAt: string | undefined;
}

export interface SecretCallOptions {
  /** Aborts the call: it rejects with the signal's reason (a `TIMEOUT` error for `AbortSignal.timeout`). */
  signal?: AbortSignal;
}

export interface SecretWriteOptions extends SecretCallOptions {
  /**
   * Metadata stored with the version, returned by `listVersions` (never secret: stored in clear).
   * Only where `capabilities.labels`; elsewhere a non-empty `labels` rejects with reason `invalid`.
   * Keys 1-63 characters `[A-Za-z0-9_.-]`, values up to 256 characters.
   */
  labels?: Record<string, string>;
}

export interface PromoteOptions extends SecretCallOptions {
  /**
   * The version the caller believes is current. When another version is current, `promote` changes
   * nothing and rejects with `VERSION_CONFLICT` (checked atomically where `capabilities.atomicPromote`,
   * otherwise just before the change).
   */
  expectedCurrent?: string;
}

/** What a promote changed. */
export interface PromoteResult {
  /** The version now current (the one promoted). */
  readonly current: string;
  /** The version now previous (the one that was current), if the secret had one and it differs. */
  readonly previous: string | undefined;
  /** The version that was previous before and was revoked by this promote (invariant 2), if any. */
  readonly revoked: string | undefined;
}

/** What a provider can do beyond the required members. Callers read these; they never probe methods. */
export interface SecretProviderCapabilities {
  /**
   * `revoke` disables the version at the provider itself, so no other client can read it there
   * either (local, GCP, Azure, Vault: a soft delete). False for AWS: revoke removes the staging labels; this provider then
   * refuses to read the version, but AWS keeps its value readable by id until it deletes deprecated
   * versions. Use IAM to cut other readers off.
   */
  readonly disable: boolean;
  /** Implements `destroy()`: a version's value is erased irrecoverably (local, GCP, Vault). */
  readonly destroy: boolean;
  /** `create`/`write` accept `labels` and `listVersions` returns them (local, Azure tags, Vault custom_metadata). */
  readonly labels: boolean;
  /**
   * `promote` moves every stage in one provider operation, so a reader never sees an intermediate
   * state (local: one SQL transaction; GCP: one alias update; AWS: AWSCURRENT and AWSPREVIOUS move
   * together). False for Azure (one tag update per version; until the last one lands, `current`
   * resolves by the newest `stageSince` tag, which is already the promoted version).
   */
  readonly atomicPromote: boolean;
  /** Versions survive a restart of this process (false for the local provider's memory storage). */
  readonly durable: boolean;
  /** Largest value accepted, in UTF-8 bytes. Larger values reject with reason `invalid`. */
  readonly maxValueBytes: number;
}

/**
 * The contract. Every member rejects with a {@link SecretError} as described in the file comment;
 * names are validated by each provider (the portable set is `[A-Za-z0-9-]{1,127}`).
 */
export interface SecretProvider extends AsyncDisposable {
  /** Instance name used in references and errors: `local`, `aws`, ... or the `name` option. */
  readonly name: string;
  /** Which implementation: `local`, `aws`, `gcp`, `azure`, `vault`. */
  readonly kind: string;
  readonly capabilities: SecretProviderCapabilities;

  /**
   * Creates the secret with `value` as its first version, `current`. Rejects with reason `exists`
   * when the secret already exists (Azure: checked just before, not atomically).
   */
  create(name: string, value: string, options?: SecretWriteOptions): Promise<SecretVersionInfo>;

  /**
   * Reads a version: the `current` one by default, another stage, or a version id. Rejects
   * `NOT_FOUND` when the secret, the version or the stage does not exist, and reason `revoked` when
   * the version is disabled or destroyed.
   */
  read(name: string, selector?: SecretSelector, options?: SecretCallOptions): Promise<SecretValue>;

  /**
   * Adds a new version as `pending` (never current): readers keep getting the current version until
   * `promote`. A version that was pending before is revoked. Rejects `NOT_FOUND` when the secret
   * does not exist (use `create`).
   */
  write(name: string, value: string, options?: SecretWriteOptions): Promise<SecretVersionInfo>;

  /**
   * Makes `version` current. The version that was current becomes `previous` (still readable); the
   * version that was previous before is revoked. Promoting the current version changes nothing.
   * Promoting `previous` is a rollback (the two swap). Rejects `NOT_FOUND` for an unknown version,
   * reason `revoked` for a disabled or destroyed one, `VERSION_CONFLICT` for a stale `expectedCurrent`.
   */
  promote(name: string, version: string, options?: PromoteOptions): Promise<PromoteResult>;

  /**
   * Revokes a version: it loses its stage and can no longer be read (see `capabilities.disable`).
   * Idempotent. Rejects reason `invalid` for the current version, `NOT_FOUND` for an unknown one.
   */
  revoke(name: string, version: string, options?: SecretCallOptions): Promise<void>;

  /**
   * Only where `capabilities.destroy`: erases a version's value for good (it is revoked first if it
   * was not). Idempotent. Rejects reason `invalid` for the current version.
   */
  destroy?(name: string, version: string, options?: SecretCallOptions): Promise<void>;

  /** Every version the provider still lists, revoked and destroyed ones included, oldest first. */
  listVersions(name: string, options?: SecretCallOptions): Promise<SecretVersionInfo[]>;

  /** Releases clients and connections. Idempotent; later calls of other members reject `CLOSED`. */
  close(): Promise<void>;
}

/** Re-exported for implementers: the error every member rejects with. */
export type { SecretError };
