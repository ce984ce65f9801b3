// `@summit-config/core/internal`: the helpers and persistence contracts the sibling packages
// (backends, secrets, agent) and this repository's tests share. Not public API: no compatibility
// promise, any release may change it. Applications import `@summit-config/core` and its
// `/migrations`, `/templates` and `/openfeature` subpaths.
//
// As in index.ts, every name comes from the module that defines it (not through the areas' index
// files), so that importing this entry loads only what its names need.

// The approval rule (which environments a change touches, which of them are guarded): gitops plans with it.
export { affectedEnvironments, requirementsFor } from './approvals/policy.js';
export { ApprovalRequiredError, REQUEST_STATUSES } from './approvals/types.js';
export { auditHash, verifyAuditChain } from './audit/chain.js';
export { auditTrailError } from './audit/checkpoint.js';
export { auditOriginText, checkAuditOrigin } from './audit/origin.js';
export {
  auditCheckpointText,
  auditSigningText,
  checkAuditSignatureField,
  isAuditCheckpoint,
  signAuditCheckpoint,
  signAuditInput,
} from './audit/signing.js';
export type { AuditInput, AuditOrigin, AuditRecord } from './audit/types.js';
export { compilePattern } from './client/pattern.js';
export { BackendUnavailableError, errors, messageOf } from './errors/config-error.js';
export { validateEnvironments } from './model/environment.js';
export { canonicalJson, escapePointer, isPlainObject, sha256Hex } from './model/json.js';
export { parseEnvironmentName, parseId, parseScope, scopeApp } from './model/ref.js';
export {
  computeChecksum,
  createVersion,
  DEFAULT_MAX_DOCUMENT_BYTES,
  headOf,
  serializeVersion,
  verifyVersion,
} from './model/version.js';
export { grantCovers, PERMISSIONS } from './rbac/permissions.js';
export { AccessDeniedError, checkActor, credentialOf, impersonate } from './rbac/rbac.js';
// The window of an audit report, checked (the CLI checks its options before opening the stores).
export { reportWindow } from './report/read.js';
export { currentShare } from './rollout/progress.js';
export { type ExportTrailer, ImportError } from './service/backup-format.js';
export { contentView, diffViews, isTombstone } from './service/diff.js';
export { changeContent, checkEnvironmentInput, RESERVED_METADATA, userMetadata } from './service/inputs.js';
export { checkAuditInput, checkAuditQuery, checkRequestShape, matchesAudit, normaliseAt } from './service/records.js';
// The values a document resolves to in every environment and rollout outcome (what a write's schema check validates).
export { type DocumentsOfId, resolvedViews } from './service/views.js';
// What store implementations share: the config store's and governance's helpers, the migration
// history's checks and in-process lock.
export { fenceCheck } from './store/fence.js';
export type { GovernanceSnapshot, GovernanceUpdate, StoredSchema } from './store/governance.js';
export { compareHeads, headChange } from './store/heads.js';
export { createLocalLock, type LocalLock } from './store/local-lock.js';
export {
  type AcquireOptions,
  checkMigrationRecord,
  checkRefRecord,
  type RecordExpectation,
} from './store/migration-history.js';
export { withoutAcks } from './store/read-only.js';
// The persistence contracts of @summit-config/secrets (rotation policies, local secret storage) and
// the SQL seam that the PostgreSQL and PGlite clients implement.
export * from './store/rotation-policies.js';
export * from './store/secret-storage.js';
export * from './store/sql-client.js';
export * from './store/token-store.js';
export { createOwnerOnlyFile, readOwnerOnlyFile } from './trust/key-file.js';
export { signedCopy } from './trust/versions.js';
export { abortReason, backoffDelay, delay, onAbort, throwIfAborted } from './util/abort.js';
export { forEachConcurrently, mapConcurrently } from './util/concurrency.js';
export { Lifecycle } from './util/lifecycle.js';
export { ListenerSet } from './util/listeners.js';
