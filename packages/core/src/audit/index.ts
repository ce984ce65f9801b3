export type { AuditAnchor, AuditCheckpoint } from './anchor.js';
export { AUDIT_HASH_PREFIX, AuditChainVerifier, auditHash, auditHashText, verifyAuditChain } from './chain.js';
export {
  AUDIT_SOURCES,
  type AuditEvent,
  type AuditInput,
  type AuditQuery,
  type AuditRecord,
  type AuditSource,
  type AuditVerifyResult,
  eventOf,
  type JsonPatchOperation,
} from './types.js';
