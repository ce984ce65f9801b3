// The public API of @summit-config/core, as README.md documents it (its "API" section lists every
// name below). Nothing else belongs here: migrations live behind `@summit-config/core/migrations`,
// templates behind `@summit-config/core/templates`, the OpenFeature provider behind
// `@summit-config/core/openfeature`, and the helpers the sibling packages share behind
// `@summit-config/core/internal` (no compatibility promise).
//
// Every name comes from the module that defines it, not through the areas' index files: importing
// the package loads only what these names need (start-up cost is per module loaded). Type-only
// names use `export type`, which loads nothing. The change service's methods, diffs, approvals and
// backup load at a service's first call (service/service.ts).

// The change service, its governance storage contract, change requests, audit, export/import
export type { ChangeKind, ChangeRequest, RequestStatus } from './approvals/types.js';
export type { AuditAnchor, AuditCheckpoint } from './audit/anchor.js';
export { createFileAuditAnchor } from './audit/file-anchor.js';
export type {
  AuditEvent,
  AuditProblem,
  AuditProblemCode,
  AuditQuery,
  AuditSource,
  AuditVerifyResult,
  JsonPatchOperation,
} from './audit/types.js';
// The client
export { ConfigClient, createConfigClient } from './client/client.js';
export type {
  CandidateValidator,
  ClientLogger,
  ClientOptions,
  ClientSecrets,
  ConfigChange,
  ResolveDetails,
} from './client/types.js';
// Errors
export {
  ConfigError,
  type ConfigErrorOptions,
  ERROR_CODES,
  type ErrorCode,
  type ErrorContext,
  isConfigError,
  SchemaValidationError,
  type TierFailure,
  type ValidationIssue,
} from './errors/config-error.js';
// The model
export type { ApprovalPolicy, Environment } from './model/environment.js';
export type { JsonObject, JsonPrimitive, JsonValue } from './model/json.js';
export { type ConfigRef, parseRef, refKey, type Scope } from './model/ref.js';
export type { ConfigVersion, Head } from './model/version.js';
// RBAC
export type { Permission } from './rbac/permissions.js';
export {
  type Actor,
  createRbac,
  type Rbac,
  type RbacDefinition,
  type RoleBinding,
  type RoleDefinition,
} from './rbac/rbac.js';
export { loadRbacFile, parseRbacYaml } from './rbac/yaml.js';
// Audit reports (docs/reports.md)
export { computeAuditReport } from './report/compute.js';
export { auditReport } from './report/read.js';
export type { AuditReport, AuditReportOptions, ComputeReportOptions } from './report/types.js';
// Layers, sources and explain
export type { Explain, ExplainEntry, LayerKind } from './resolve/explain.js';
export { type Resolution, type ResolveInput, resolveLayers, withRollout } from './resolve/resolver.js';
export {
  type EnvSourceOptions,
  envSource,
  type FileSourceOptions,
  type LayerSource,
  loadFileSource,
} from './resolve/sources.js';
// Rollouts and flags (docs/rollouts.md)
export {
  type CompiledFlag,
  type CompiledRollout,
  compileRollout,
  evaluateFlag,
  evaluateFlags,
  type FlagEvaluation,
  type FlagSet,
  flagSetOf,
  type RolloutOutcome,
  type RolloutReason,
} from './rollout/evaluate.js';
export {
  abortRollout,
  advanceRollout,
  pauseRollout,
  promoteRollout,
  resumeRollout,
} from './rollout/progress.js';
export type { HealthGate, RolloutRule, RolloutSpec } from './rollout/rules.js';
export type { EvaluationContext } from './rollout/targeting.js';
export { type ValidateRolloutOptions, validateRollout } from './rollout/validate.js';
// Schemas
export {
  type PublishOptions,
  type PublishReport,
  SchemaRegistry,
  type SchemaRegistryOptions,
  type SchemaVersion,
} from './schema/registry.js';
export type { ExportOptions, ImportOptions, ImportReport, ImportSource } from './service/backup-format.js';
export { createConfigService } from './service/service.js';
export type {
  ApplyDueReport,
  CallOptions,
  ConfigService,
  ConfigServiceOptions,
  DeleteOptions,
  DiffResult,
  ProposeInput,
  ResignReport,
  ServiceRollbackOptions,
  SetInput,
  VersionSummary,
  WriteOptions,
} from './service/types.js';
// The store contract, and versioned writes on any store
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
} from './store/config-store.js';
export type { GovernanceStore, RequestQuery, StoredPolicy } from './store/governance.js';
export type { ExtendOptions, MirrorLag, PendingAppend, ProvisionalVersion } from './store/roles.js';
export { type AppendNextOptions, appendNext, type RollbackOptions, rollbackTo } from './store/write.js';
// Signed versions and the trust root (docs/trust.md)
export {
  createSigner,
  createTrustRoot,
  generateSigningKey,
  keyIdOf,
  type Signer,
  type TrustedKey,
  type TrustedKeyInput,
  type TrustRoot,
} from './trust/keys.js';
export {
  checkVersionTrust,
  SignatureInvalidError,
  signVersion,
  type VersionTrustCode,
  type VersionTrustFailure,
} from './trust/versions.js';
