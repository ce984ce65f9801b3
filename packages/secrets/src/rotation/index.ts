// Secret rotation: policies and their storage, generators and handlers, the resumable rotation manager.
export { nextCronTime, type ParsedCron, parseCron } from './cron.js';
export {
  checkPasswordSpec,
  type DatabaseUserHandlerOptions,
  DEFAULT_SYMBOLS,
  databaseUserHandler,
  generatePassword,
  type HandlerContext,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordHandler,
  type RotationHandler,
} from './generators.js';
export { createRotationManager, type RotateOptions, type RotationManager } from './manager.js';
export {
  NOTIFIED_EVENTS,
  type NotifiedEvent,
  notificationOf,
  postWebhooks,
  type RotationNotification,
  type WebhookOptions,
  type WebhookResult,
} from './notify.js';
export type {
  RotationHooks,
  RotationLogger,
  RotationManagerOptions,
  RotationRetryOptions,
  VerifyContext,
} from './options.js';
export { createMemoryRotationPolicies, RotationPolicyConflictError, type RotationPolicyStore } from './policies.js';
export {
  type CheckedPolicyInput,
  checkPolicyInput,
  checkSecretId,
  DAY_MS,
  nextRotation,
  parseSecretKey,
  secretKey,
} from './policy.js';
export type { RunDueReport, RunDueResult } from './schedule.js';
export { createSqlRotationPolicies, ROTATION_MIGRATION, type SqlRotationPoliciesOptions } from './sql-policies.js';
export {
  type BumpedConfig,
  type GeneratorSpec,
  type HandlerGeneratorSpec,
  type LaggingInstance,
  type PasswordGeneratorSpec,
  ROTATION_STEPS,
  type RotationErrorInfo,
  type RotationEvent,
  type RotationEventType,
  type RotationPolicy,
  type RotationPolicyInput,
  type RotationRun,
  type RotationState,
  type RotationStep,
  type RotationSummary,
  type SecretId,
} from './types.js';
