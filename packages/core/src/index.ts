// The public API of @summit-config/core, as README.md documents it (its "API" section lists every
// name below). Nothing else belongs here: migrations live behind `@summit-config/core/migrations`,
// templates behind `@summit-config/core/templates`, the OpenFeature provider behind
// `@summit-config/core/openfeature`, and the helpers the sibling packages share behind
// `@summit-config/core/internal` (no compatibility promise).

// The change service, its governance storage contract, change requests, audit, export/import
export type { ChangeKind, ChangeRequest, RequestStatus } from './approvals/index.js';
export {
  type AuditAnchor,
  type AuditCheckpoint,
  type AuditEvent,
  type AuditProblem,
  type AuditProblemCode,
  type AuditQuery,
  type AuditSource,
  type AuditVerifyResult,
  createFileAuditAnchor,
  type JsonPatchOperation,
} from './audit/index.js';
// The client
export {
  type CandidateValidator,
  type ClientLogger,
  type ClientOptions,
  type ClientSecrets,
  type ConfigChange,
  ConfigClient,
  createConfigClient,
  type ResolveDetails,
} from './client/index.js';
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
} from './errors/index.js';
// The model
export {
  type ApprovalPolicy,
  type ConfigRef,
  type ConfigVersion,
  type Environment,
  type Head,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  parseRef,
  refKey,
  type Scope,
} from './model/index.js';
// RBAC
export {
  type Actor,
  createRbac,
  loadRbacFile,
  type Permission,
  parseRbacYaml,
  type Rbac,
  type RbacDefinition,
  type RoleBinding,
  type RoleDefinition,
} from './rbac/index.js';
// Layers, sources and explain
export {
  type EnvSourceOptions,
  type Explain,
  type ExplainEntry,
  envSource,
  type FileSourceOptions,
  type LayerKind,
  type LayerSource,
  loadFileSource,
  type Resolution,
  type ResolveInput,
  resolveLayers,
  withRollout,
} from './resolve/index.js';
// Rollouts and flags (docs/rollouts.md)
export {
  abortRollout,
  advanceRollout,
  type CompiledFlag,
  type CompiledRollout,
  compileRollout,
  type EvaluationContext,
  evaluateFlag,
  evaluateFlags,
  type FlagEvaluation,
  type FlagSet,
  flagSetOf,
  type HealthGate,
  promoteRollout,
  type RolloutOutcome,
  type RolloutReason,
  type RolloutRule,
  type RolloutSpec,
  type ValidateRolloutOptions,
  validateRollout,
} from './rollout/index.js';
// Schemas
export {
  type PublishOptions,
  type PublishReport,
  SchemaRegistry,
  type SchemaRegistryOptions,
  type SchemaVersion,
} from './schema/index.js';
export {
  type ApplyDueReport,
  type CallOptions,
  type ConfigService,
  type ConfigServiceOptions,
  createConfigService,
  type DeleteOptions,
  type DiffResult,
  type ExportOptions,
  type GovernanceStore,
  type ImportOptions,
  type ImportReport,
  type ImportSource,
  type ProposeInput,
  type RequestQuery,
  type ResignReport,
  type ServiceRollbackOptions,
  type SetInput,
  type StoredPolicy,
  type VersionSummary,
  type WriteOptions,
} from './service/index.js';
// The store contract, and versioned writes on any store
export {
  type AppendNextOptions,
  type AppendOptions,
  type AppliedAck,
  appendNext,
  type ConfigStore,
  type ExtendOptions,
  type HeadChange,
  type HeadListener,
  type ListQuery,
  type MirrorLag,
  type PendingAppend,
  type ProvisionalVersion,
  type ReadOptions,
  type ReadSource,
  type RollbackOptions,
  rollbackTo,
  type StoreCapabilities,
  type Unwatch,
  type WatchOptions,
  type WriteFence,
} from './store/index.js';
// Signed versions and the trust root (docs/trust.md)
export {
  checkVersionTrust,
  createSigner,
  createTrustRoot,
  generateSigningKey,
  keyIdOf,
  SignatureInvalidError,
  type Signer,
  signVersion,
  type TrustedKey,
  type TrustedKeyInput,
  type TrustRoot,
  type VersionTrustCode,
  type VersionTrustFailure,
} from './trust/index.js';
