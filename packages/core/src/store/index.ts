// The persistence contracts, one file each, and the helpers their implementations share. Every
// implementation (in @summit-config/backends and @summit-config/secrets) runs its contract's suite
// in @summit-config/test-support/contract/.
export type {
  AppendOptions,
  AppliedAck,
  ConfigStore,
  HeadChange,
  HeadListener,
  ListQuery,
  ReadOptions,
  ReadSource,
  StoreCapabilities,
  Unwatch,
  WatchOptions,
  WriteFence,
} from './config-store.js';
export { fenceCheck } from './fence.js';
export {
  type GovernanceSnapshot,
  type GovernanceStore,
  type GovernanceUpdate,
  governanceSchemaPersistence,
  type RequestQuery,
  type StoredPolicy,
  type StoredSchema,
} from './governance.js';
export { compareHeads, headChange } from './heads.js';
export { createLocalLock, type LocalLock } from './local-lock.js';
export {
  type AcquireOptions,
  checkMigrationRecord,
  checkRefRecord,
  MIGRATION_RUN_STATUSES,
  type MigrationHistory,
  type MigrationLock,
  type MigrationRecord,
  type MigrationRefRecord,
  type MigrationRunStatus,
  REF_STATES,
  type RecordExpectation,
  type RefRollbackState,
  type RefState,
} from './migration-history.js';
export type { ExtendOptions, MirrorLag, PendingAppend, ProvisionalVersion } from './roles.js';
export {
  type BumpedConfig,
  type GeneratorSpec,
  type HandlerGeneratorSpec,
  type LaggingInstance,
  type PasswordGeneratorSpec,
  type RotationErrorInfo,
  type RotationPolicy,
  RotationPolicyConflictError,
  type RotationPolicyStore,
  type RotationRun,
  type RotationState,
  type RotationStep,
  type RotationSummary,
  type SecretId,
  secretKey,
} from './rotation-policies.js';
export {
  checkPlanStages,
  type LocalSecretStorage,
  type SealedValue,
  type SecretSnapshot,
  type SecretStage,
  type SecretVersionState,
  type StoragePlan,
  type StoredVersion,
  type StoredVersionMeta,
  type VersionLookup,
  type VersionUpdate,
} from './secret-storage.js';
export {
  type ListenCallbacks,
  SQL_SCHEMA_LOCK,
  type SqlClient,
  type SqlDatabase,
  type SqlListener,
  type SqlQueryable,
  type SqlResult,
} from './sql-client.js';
export { type AppendNextOptions, appendNext, type RollbackOptions, rollbackTo } from './write.js';
