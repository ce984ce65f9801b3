// The provider contract, references, the resolver, the local provider and the Vault provider (plain
// fetch, also at ./vault). Loads no cloud SDK: the cloud providers live behind subpath exports:
// ./aws, ./gcp, ./azure.
export {
  type PromoteOptions,
  type PromoteResult,
  SECRET_STAGES,
  type SecretCallOptions,
  type SecretProvider,
  type SecretProviderCapabilities,
  type SecretSelector,
  type SecretStage,
  type SecretValue,
  type SecretVersionInfo,
  type SecretVersionState,
  type SecretWriteOptions,
} from './contract.js';
export {
  isSecretError,
  SanitizedCause,
  SecretError,
  type SecretErrorCode,
  type SecretErrorContext,
  type SecretErrorReason,
} from './errors.js';
export {
  createLocalProvider,
  generateMasterKey,
  type LocalProviderOptions,
  parseMasterKey,
} from './providers/local.js';
export {
  createSqlSecretStorage,
  type PgPoolLike,
  type SecretSql,
  type SecretSqlQueryable,
  type SqlSecretStorageOptions,
  sqlFromPgPool,
} from './providers/local-sql.js';
export {
  createMemorySecretStorage,
  type LocalSecretStorage,
  type SealedValue,
  type SecretSnapshot,
  type StoragePlan,
  type StoredVersion,
  type StoredVersionMeta,
  type VersionLookup,
  type VersionUpdate,
} from './providers/local-storage.js';
export { createVaultProvider, type VaultAppRole, type VaultProviderOptions } from './providers/vault.js';
export {
  type FoundSecretRef,
  findSecretRefs,
  formatSecretRef,
  isSecretRefObject,
  resolveSecretRefs,
  SECRET_REF_KEY,
  type SecretRef,
  type SecretRefResolver,
  secretRef,
  secretRefIssues,
  validateSecretRef,
} from './reference.js';
export {
  type ResolvedSecret,
  SecretResolver,
  type SecretResolverOptions,
  type SecretResolverStats,
} from './resolver.js';
export * from './rotation/index.js';
