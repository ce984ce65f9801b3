// `@summit-config/core/internal`: the helpers and persistence contracts the sibling packages
// (backends, secrets, agent) and this repository's tests share. Not public API: no compatibility
// promise, any release may change it. Applications import `@summit-config/core` and its
// `/migrations`, `/templates` and `/openfeature` subpaths.

export { ApprovalRequiredError, REQUEST_STATUSES } from './approvals/index.js';
export {
  type AuditInput,
  type AuditRecord,
  auditCheckpointText,
  auditHash,
  auditSigningText,
  auditTrailError,
  checkAuditSignatureField,
  isAuditCheckpoint,
  signAuditCheckpoint,
  signAuditInput,
  verifyAuditChain,
} from './audit/index.js';
export { compilePattern } from './client/index.js';
export { BackendUnavailableError, errors, messageOf } from './errors/index.js';
export {
  canonicalJson,
  computeChecksum,
  createVersion,
  DEFAULT_MAX_DOCUMENT_BYTES,
  escapePointer,
  headOf,
  isPlainObject,
  parseEnvironmentName,
  parseId,
  parseScope,
  scopeApp,
  serializeVersion,
  sha256Hex,
  validateEnvironments,
  verifyVersion,
} from './model/index.js';
export { AccessDeniedError, checkActor, credentialOf, impersonate } from './rbac/index.js';
export {
  checkAuditInput,
  checkAuditQuery,
  checkRequestShape,
  type ExportTrailer,
  ImportError,
  isTombstone,
  matchesAudit,
  normaliseAt,
} from './service/index.js';
// What store implementations share: the config store's and governance's helpers, the migration
// history's checks and in-process lock.
export {
  type AcquireOptions,
  checkMigrationRecord,
  checkRefRecord,
  compareHeads,
  createLocalLock,
  fenceCheck,
  type GovernanceSnapshot,
  type GovernanceUpdate,
  headChange,
  type LocalLock,
  type RecordExpectation,
  type StoredSchema,
} from './store/index.js';
// The persistence contracts of @summit-config/secrets (rotation policies, local secret storage) and
// the SQL seam that the PostgreSQL and PGlite clients implement.
export * from './store/rotation-policies.js';
export * from './store/secret-storage.js';
export * from './store/sql-client.js';
export { createOwnerOnlyFile, readOwnerOnlyFile } from './trust/key-file.js';
export { signedCopy } from './trust/versions.js';
export { abortReason, backoffDelay, delay, Lifecycle, ListenerSet, onAbort, throwIfAborted } from './util/index.js';
