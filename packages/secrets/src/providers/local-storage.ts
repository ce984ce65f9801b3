/**
 * The storage seam of the local provider: where encrypted versions live. The contract,
 * `LocalSecretStorage` (with the plan it runs and `checkPlanStages`), lives in core
 * (`store/secret-storage.ts`); the memory implementation is here (the provider's default, and this
 * package's main entry loads nothing but core); the SQL one, on PostgreSQL or PGlite, in
 * `local-sql.ts`.
 */
import {
  checkPlanStages,
  type LocalSecretStorage,
  type SealedValue,
  type StoredVersion,
  type StoredVersionMeta,
} from '@summit-config/core/internal';

export {
  checkPlanStages,
  type LocalSecretStorage,
  type SealedValue,
  type SecretSnapshot,
  type StoragePlan,
  type StoredVersion,
  type StoredVersionMeta,
  type VersionLookup,
  type VersionUpdate,
} from '@summit-config/core/internal';

interface MemorySecret {
  nextVersion: number;
  versions: Map<number, StoredVersion>;
}

function copySealed(s: SealedValue): SealedValue {
  return { iv: Uint8Array.from(s.iv), tag: Uint8Array.from(s.tag), ciphertext: Uint8Array.from(s.ciphertext) };
}

/** The in-memory storage: nothing survives the process (ciphertext only, like the SQL one). */
export function createMemorySecretStorage(): LocalSecretStorage {
  const secrets = new Map<string, MemorySecret>();
  const metaValues = new Map<string, string>();

  function meta(v: StoredVersion): StoredVersionMeta {
    return {
      version: v.version,
      stage: v.stage,
      state: v.state,
      labels: v.labels,
      createdAt: v.createdAt,
      updatedAt: v.updatedAt,
    };
  }

  return {
    kind: 'memory',
    durable: false,

    async change(name, plan) {
      // Synchronous from snapshot to apply: no other change can interleave.
      const secret = secrets.get(name);
      const versions = secret ? [...secret.versions.values()].map(meta) : [];
      const result = plan({ exists: secret !== undefined, versions, nextVersion: secret?.nextVersion ?? 1 });
      checkPlanStages(versions, result);
      const now = new Date();
      let target = secret;
      if (result.create) {
        if (target) throw new Error('storage plan creates a secret that exists');
        target = { nextVersion: 1, versions: new Map() };
        secrets.set(name, target);
      }
      if (!target) {
        if (result.insert || (result.updates?.length ?? 0) > 0)
          throw new Error('storage plan changes a missing secret');
        return result.result;
      }
      for (const u of result.updates ?? []) {
        const old = target.versions.get(u.version) as StoredVersion;
        target.versions.set(u.version, {
          ...old,
          stage: u.stage,
          state: u.state,
          sealed: u.wipe ? null : old.sealed,
          updatedAt: now,
        });
      }
      if (result.insert) {
        const version = target.nextVersion++;
        target.versions.set(version, {
          version,
          stage: result.insert.stage,
          state: 'enabled',
          labels: { ...result.insert.labels },
          sealed: copySealed(result.insert.sealed),
          createdAt: now,
          updatedAt: now,
        });
      }
      return result.result;
    },

    async get(name, lookup) {
      const secret = secrets.get(name);
      if (!secret) return { secretExists: false, row: undefined };
      let row: StoredVersion | undefined;
      if ('version' in lookup) row = secret.versions.get(lookup.version);
      else row = [...secret.versions.values()].find((v) => v.stage === lookup.stage);
      return { secretExists: true, row: row && { ...row, sealed: row.sealed && copySealed(row.sealed) } };
    },

    async list(name) {
      const secret = secrets.get(name);
      return secret ? [...secret.versions.values()].sort((a, b) => a.version - b.version).map(meta) : undefined;
    },

    async getMeta(key) {
      return metaValues.get(key);
    },

    async putMeta(key, value) {
      if (!metaValues.has(key)) metaValues.set(key, value);
      return metaValues.get(key) as string;
    },

    async firstSealed() {
      let first: { name: string; row: StoredVersion } | undefined;
      for (const [name, secret] of secrets) {
        for (const row of secret.versions.values()) {
          if (!row.sealed) continue;
          if (!first || row.createdAt < first.row.createdAt) first = { name, row };
        }
      }
      return first && { name: first.name, row: { ...first.row, sealed: copySealed(first.row.sealed as SealedValue) } };
    },

    async close() {
      // Nothing to release: the data stays with the storage object, so another provider (e.g. one
      // opened with another key) can share it.
    },
  };
}
