// Audit reports (docs/reports.md): the computation over audit events, and the reader over the change service.
export { computeAuditReport } from './compute.js';
export { auditReport } from './read.js';
export type { AuditReport, AuditReportOptions, ComputeReportOptions } from './types.js';
