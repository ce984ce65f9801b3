export {
  BackendUnavailableError,
  ConfigError,
  type ConfigErrorOptions,
  ERROR_CODES,
  type ErrorCode,
  type ErrorContext,
  errors,
  isConfigError,
  messageOf,
  SchemaValidationError,
  type TierFailure,
  type ValidationIssue,
} from './config-error.js';
