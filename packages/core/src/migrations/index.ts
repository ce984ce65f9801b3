// The history contract and its helpers live in store/ (re-exported here, where callers found them).
export { createLocalLock, type LocalLock } from '../store/local-lock.js';
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
} from '../store/migration-history.js';
export {
  DATA_EXTENSIONS,
  defineMigration,
  loadMigrationFile,
  loadMigrations,
  MIGRATION_NAME,
  MODULE_EXTENSIONS,
  migrationToJson,
  type ParseOptions,
  parseMigration,
  parseMigrationText,
} from './definition.js';
export { definitionError, MigrationError, type MigrationErrorContext } from './errors.js';
export {
  compileEnvironmentPattern,
  compileIdPattern,
  compileScopePattern,
  type IdPattern,
  type NamePattern,
} from './glob.js';
export {
  applyOperations,
  contentChecksum,
  getAt,
  migrateContent,
  type OperationContext,
  parsePointer,
  sameContent,
} from './operations.js';
export { compareVersions, type Orderable, orderMigrations, withDependencies } from './order.js';
export { migrationMessage, rollbackMessage } from './run-records.js';
export { createMigrationRunner } from './runner.js';
export type {
  ApplyReport,
  MigrationApplyResult,
  MigrationPlan,
  MigrationPlanEntry,
  MigrationProgress,
  MigrationRollbackOptions,
  MigrationRollbackReport,
  MigrationRunner,
  MigrationRunnerOptions,
  MigrationState,
  MigrationStatusEntry,
  RefAction,
  RefPlan,
} from './runner-types.js';
export type {
  MigratedContent,
  Migration,
  MigrationDefinition,
  MigrationKind,
  MigrationOperation,
  MigrationSelector,
  MigrationSelectorInput,
  OperationName,
  TransformContext,
  TransformFn,
} from './types.js';
