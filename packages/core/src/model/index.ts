export { type ApprovalPolicy, type Environment, environmentChain, validateEnvironments } from './environment.js';
export {
  assertJson,
  canonicalJson,
  cloneJson,
  deepFreeze,
  escapePointer,
  FORBIDDEN_KEYS,
  isPlainObject,
  type JsonObject,
  type JsonPrimitive,
  type JsonValue,
  MAX_JSON_DEPTH,
  sha256Hex,
} from './json.js';
export { mergeAll, mergeLayers } from './merge.js';
export {
  type ConfigRef,
  MAX_ID_LENGTH,
  parseEnvironmentName,
  parseId,
  parseRef,
  parseScope,
  refKey,
  type Scope,
  scopeApp,
} from './ref.js';
export {
  type ConfigVersion,
  computeChecksum,
  createVersion,
  DEFAULT_MAX_DOCUMENT_BYTES,
  type DocumentLimits,
  type Head,
  headOf,
  serializeVersion,
  type VersionInput,
  verifyVersion,
} from './version.js';
