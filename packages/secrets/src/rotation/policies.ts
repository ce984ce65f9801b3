/**
 * Where rotation policies (and the record of the run in progress) are kept: the
 * {@link RotationPolicyStore} seam, its memory implementation here, and the SQL one on PostgreSQL
 * or PGlite in `sql-policies.ts` (table `secret_rotation_policies`).
 *
 * Every write is a compare-and-set on the policy's `revision`, so two runners (two agents, a CLI
 * and an agent) never overwrite each other's record: the loser gets `VERSION_CONFLICT`.
 */
import { ConfigError, Lifecycle } from '@summit-config/core';
import { secretKey } from './policy.js';
import type { RotationPolicy, SecretId } from './types.js';

/**
 * Failure rules: an unreachable storage rejects with `BACKEND_UNAVAILABLE`; a lost compare-and-set
 * with `VERSION_CONFLICT`; after `close()` calls reject `CLOSED`.
 */
export interface RotationPolicyStore extends AsyncDisposable {
  /** `memory`, `postgres` or `pglite` (used in errors). */
  readonly name: string;
  /** Policies survive a restart of this process. */
  readonly durable: boolean;
  /** The policy of `secret`, or `undefined`. */
  get(secret: SecretId): Promise<RotationPolicy | undefined>;
  /** Every policy, sorted by `<provider>/<name>`. */
  list(): Promise<RotationPolicy[]>;
  /**
   * Stores `policy` as revision `expectedRevision + 1` and returns what was stored.
   * `expectedRevision` 0 creates it (`VERSION_CONFLICT` when it exists); otherwise the stored
   * revision must be `expectedRevision` (`VERSION_CONFLICT` when it differs or the policy is gone).
   */
  save(policy: RotationPolicy, expectedRevision: number): Promise<RotationPolicy>;
  /** Deletes it if its revision is `expectedRevision` (`VERSION_CONFLICT` otherwise); false when there was none. */
  delete(secret: SecretId, expectedRevision: number): Promise<boolean>;
  /** Releases what the storage owns. Idempotent. */
  close(): Promise<void>;
}

/** A lost compare-and-set on a policy: another runner (or an operator) wrote it first. */
export class RotationPolicyConflictError extends ConfigError<'VERSION_CONFLICT'> {
  readonly secret: SecretId;
  constructor(secret: SecretId, expected: number, found: number | undefined) {
    super(
      'VERSION_CONFLICT',
      `rotation policy ${secretKey(secret)}: expected revision ${expected}, found ${found === undefined ? 'none' : found}`,
      { version: expected },
    );
    this.name = 'RotationPolicyConflictError';
    this.secret = secret;
  }
}

export function conflict(secret: SecretId, expected: number, found: number | undefined): RotationPolicyConflictError {
  return new RotationPolicyConflictError(secret, expected, found);
}

/** Policies in memory (tests, demos, a single process). Not durable. */
export function createMemoryRotationPolicies(): RotationPolicyStore {
  const policies = new Map<string, RotationPolicy>();
  const lifecycle = new Lifecycle('memory rotation policies');
  const store: RotationPolicyStore = {
    name: 'memory',
    durable: false,
    async get(secret) {
      lifecycle.assertOpen();
      const found = policies.get(secretKey(secret));
      return found && structuredClone(found);
    },
    async list() {
      lifecycle.assertOpen();
      return [...policies.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, p]) => structuredClone(p));
    },
    async save(policy, expectedRevision) {
      lifecycle.assertOpen();
      const key = secretKey(policy.secret);
      const found = policies.get(key);
      if ((found?.revision ?? 0) !== expectedRevision || (expectedRevision === 0 && found)) {
        throw conflict(policy.secret, expectedRevision, found?.revision);
      }
      const stored: RotationPolicy = structuredClone({ ...policy, revision: expectedRevision + 1 });
      policies.set(key, stored);
      return structuredClone(stored);
    },
    async delete(secret, expectedRevision) {
      lifecycle.assertOpen();
      const key = secretKey(secret);
      const found = policies.get(key);
      if (!found) return false;
      if (found.revision !== expectedRevision) throw conflict(secret, expectedRevision, found.revision);
      policies.delete(key);
      return true;
    },
    close() {
      return lifecycle.close(() => {});
    },
    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}
