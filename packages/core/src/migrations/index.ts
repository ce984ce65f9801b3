// `@summit-config/core/migrations`: define, load and run config migrations (README "API",
// docs/migrations.md). The runner writes through the change service; implementations of
// `MigrationHistory` live in @summit-config/backends (`/memory`, `/postgres`, `/pglite`).
export type {
  MigrationHistory,
  MigrationLock,
  MigrationRecord,
  MigrationRefRecord,
  MigrationRunStatus,
  RefState,
} from '../store/migration-history.js';
export {
  defineMigration,
  loadMigrationFile,
  loadMigrations,
  MIGRATION_NAME,
  type ParseOptions,
  parseMigration,
  parseMigrationText,
} from './definition.js';
export { MigrationError, type MigrationErrorContext } from './errors.js';
export { contentChecksum } from './operations.js';
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
