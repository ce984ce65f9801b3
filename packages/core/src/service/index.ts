export {
  type GovernanceSnapshot,
  type GovernanceStore,
  type GovernanceUpdate,
  governanceSchemaPersistence,
  type RequestQuery,
  type StoredPolicy,
  type StoredSchema,
} from '../store/governance.js';
export {
  type BackupDeps,
  EXPORT_FORMAT,
  EXPORT_FORMAT_VERSION,
  type ExportHeader,
  type ExportOptions,
  type ExportRecord,
  type ExportTrailer,
  ImportError,
  type ImportOptions,
  type ImportProgress,
  type ImportReport,
  type ImportSource,
} from './backup.js';
export { applyJsonPatch, type ContentView, contentView, diffViews, isTombstone } from './diff.js';
export {
  checkAuditInput,
  checkAuditQuery,
  checkRequestShape,
  MAX_AUDIT_LIMIT,
  matchesAudit,
  normaliseAt,
} from './records.js';
export {
  type ApplyDueReport,
  type CallOptions,
  type ConfigService,
  type ConfigServiceOptions,
  createConfigService,
  type DeleteOptions,
  type DiffResult,
  type ProposeInput,
  type ResignReport,
  type ServiceRollbackOptions,
  type SetInput,
  type VersionSummary,
  type WriteOptions,
} from './service.js';
export { type DocumentsOfId, type ResolvedView, resolvedViews } from './views.js';
