export type { AuditAnchor, AuditCheckpoint } from './anchor.js';
export { AUDIT_HASH_PREFIX, AuditChainVerifier, auditHash, auditHashText, verifyAuditChain } from './chain.js';
export { type AuditCheckpointReport, auditTrailError, checkpointTrail } from './checkpoint.js';
export { createFileAuditAnchor } from './file-anchor.js';
export { auditOriginText, checkAuditOrigin, MAX_ORIGIN_FIELD } from './origin.js';
export {
  AUDIT_CHECKPOINT_PREFIX,
  AUDIT_SIGNATURE_PREFIX,
  type AuditSignedFields,
  auditCheckpointText,
  auditSigningText,
  checkAuditCheckpoint,
  checkAuditSignature,
  checkAuditSignatureField,
  isAuditCheckpoint,
  parseAuditSignature,
  signAuditCheckpoint,
  signAuditInput,
  storedFieldsOf,
} from './signing.js';
export {
  AUDIT_ORIGIN_FIELDS,
  AUDIT_SOURCES,
  type AuditEvent,
  type AuditInput,
  type AuditOrigin,
  type AuditProblem,
  type AuditProblemCode,
  type AuditQuery,
  type AuditRecord,
  type AuditSource,
  type AuditVerifyResult,
  eventOf,
  type JsonPatchOperation,
} from './types.js';
export { type AnchorReadings, type AuditTrailSource, readAnchors, verifyAuditTrail } from './verify.js';
