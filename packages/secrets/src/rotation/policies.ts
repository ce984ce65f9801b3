/**
 * Where rotation policies (and the record of the run in progress) are kept. The contract,
 * {@link RotationPolicyStore}, lives in core (`store/rotation-policies.ts`); its memory
 * implementation is here (this package's main entry loads nothing but core); the SQL one, on
 * PostgreSQL or PGlite, in `sql-policies.ts` (table `secret_rotation_policies`).
 *
 * Every write is a compare-and-set on the policy's `revision`, so two runners (two agents, a CLI
 * and an agent) never overwrite each other's record: the loser gets `VERSION_CONFLICT`.
 */
import {
  Lifecycle,
  type RotationPolicy,
  RotationPolicyConflictError,
  type RotationPolicyStore,
  secretKey,
} from '@summit-config/core/internal';
import type { SecretId } from './types.js';

export { RotationPolicyConflictError, type RotationPolicyStore } from '@summit-config/core/internal';

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
