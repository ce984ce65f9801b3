/**
 * The API calls and types of the approvals, audit, status, environments and schemas pages (the
 * shapes of docs/server.md), over {@link api}: the session cookie, the CSRF token, problem+json
 * errors as `ApiError`.
 */
import { api, type ConfigVersion, refPath } from './api';

export interface Requirement {
  environment: string;
  requiredApprovals: number;
  /** User ids and `role:<name>`; empty: anyone holding `approval:approve`. */
  approvers: string[];
}

export interface Decision {
  by: string;
  at: string;
  decision: 'approve' | 'reject';
  comment?: string;
  environments: string[];
}

export interface ProposedContent {
  config: unknown;
  overrides: Record<string, unknown>;
  rollout: unknown;
  metadata: unknown;
}

export interface ChangeRequest {
  id: string;
  ref: { scope: string; id: string };
  kind: 'set' | 'delete' | 'rollback';
  baseVersion: number;
  proposed: ProposedContent;
  message: string;
  requestedBy: string;
  requestedAt: string;
  environments: string[];
  requirements: Requirement[];
  requiredApprovals: number;
  approvals: Decision[];
  status: 'pending' | 'approved' | 'rejected' | 'applied' | 'expired' | 'cancelled';
  emergency: boolean;
  expiresAt: string;
  appliedVersion?: number;
  appliedBy?: string;
  closedBy?: string;
  reason?: string;
}

export const refKeyOf = (r: ChangeRequest) => `${r.ref.scope}/${r.ref.id}`;

export const listRequests = (statuses: string[]) =>
  api<{ items: ChangeRequest[] }>(
    'GET',
    `/api/v1/change-requests?${statuses.map((s) => `status=${encodeURIComponent(s)}`).join('&')}`,
  ).then((r) => r.items);

const requestUrl = (id: string) => `/api/v1/change-requests/${encodeURIComponent(id)}`;

export const getRequest = (id: string) => api<ChangeRequest>('GET', requestUrl(id));

export const approveRequest = (id: string, comment: string) =>
  api<ChangeRequest>('POST', `${requestUrl(id)}/approve`, { body: comment === '' ? {} : { comment } });

export const rejectRequest = (id: string, reason: string) =>
  api<ChangeRequest>('POST', `${requestUrl(id)}/reject`, { body: { reason } });

export const cancelRequest = (id: string, reason: string) =>
  api<ChangeRequest>('POST', `${requestUrl(id)}/cancel`, { body: reason === '' ? {} : { reason } });

export const applyRequest = (id: string) => api<ChangeRequest>('POST', `${requestUrl(id)}/apply`, { body: {} });

/** A ref's document at a version (the base of a request). */
export const getVersion = (ref: string, version: number) =>
  api<ConfigVersion>('GET', `/api/v1/configs/${refPath(ref)}?version=${version}`);

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  action: string;
  ref?: string;
  version?: number;
  environment?: string;
  message: string;
  requestId?: string;
}

export interface AuditFilter {
  ref?: string;
  actor?: string;
  since?: string;
  until?: string;
}

export const listAudit = (filter: AuditFilter, afterSeq: number | undefined, limit: number) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  if (afterSeq !== undefined) q.set('afterSeq', String(afterSeq));
  q.set('limit', String(limit));
  return api<{ items: AuditEvent[] }>('GET', `/api/v1/audit?${q}`).then((r) => r.items);
};

export interface AuditProblem {
  code: string;
  seq?: number;
  message: string;
}

export interface AuditVerifyReport {
  ok: boolean;
  checked: number;
  brokenAt?: number;
  reason?: string;
  problems: AuditProblem[];
  omittedProblems?: number;
  signatures?: 'checked' | 'not-checked';
}

export const verifyAudit = () => api<AuditVerifyReport>('POST', '/api/v1/audit/verify', { body: {} });

export interface Tier {
  name: string;
  durable: boolean;
  role: string;
  state: string;
  consecutiveFailures?: number;
  failing: boolean;
  since?: string;
  error?: string;
}

export interface StoreStatus {
  kind: 'single' | 'failover';
  serving: string | null;
  watching?: string | null;
  tiers: Tier[];
  unsynced?: string[];
  divergent?: number;
  epoch?: number;
  mirrorTrusted?: boolean;
  /** Who leads the agents (absent when the server has no leader source; null when nobody leads). */
  leader?: { holder: string; fencingToken?: number } | null;
  /** Why the leader could not be read (an error code). */
  leaderError?: string;
  drift?: { startedAt: string; examined: number; findings: number; remediated: number } | null;
  /** The GitOps sync loop (absent when the server has none; null when it reports none). */
  gitops?: GitopsStatus | null;
  /** Why the sync loop's status could not be read (an error code). */
  gitopsError?: string;
}

/** The GitOps sync loop's status (docs/gitops.md "Sync loop"). */
export interface GitopsStatus {
  repo: string;
  branch: string;
  path: string;
  state: 'starting' | 'synced' | 'applying' | 'blocked' | 'error' | string;
  appliedCommit: string | null;
  appliedAt: string | null;
  head: string | null;
  headSeenAt: string | null;
  blocked: { head: string; applied: string; reason: string } | null;
  drift: string[];
  conflicts: string[];
  requests: string[];
  lastRunAt: string | null;
  lastError: string | null;
  leading: boolean;
}

export const getStatus = () => api<StoreStatus>('GET', '/api/v1/status');

export interface DriftFinding {
  kind: string;
  ref?: string;
  message: string;
  remediated?: boolean;
  instance?: string;
  environment?: string;
  ackVersion?: number;
  headVersion?: number;
  reason?: string;
}

export interface DriftReport {
  startedAt: string;
  durationMs?: number;
  examined: number;
  remediated: number;
  findings: DriftFinding[];
}

export const getDrift = () => api<DriftReport>('GET', '/api/v1/drift');

export interface Environment {
  name: string;
  parent?: string;
  production?: boolean;
  approvalPolicy?: {
    requiredApprovals: number;
    approvers?: string[];
    allowEmergency?: boolean;
    expiresAfterHours?: number;
  };
}

export const listEnvironments = () => api<{ items: Environment[] }>('GET', '/api/v1/environments').then((r) => r.items);

export interface SchemaItem {
  id: string;
  version: number;
  versions: number;
}

export const listSchemas = () => api<{ items: SchemaItem[] }>('GET', '/api/v1/schemas').then((r) => r.items);

export const getSchema = (id: string, version: number) =>
  api<{ id: string; version: number; schema: unknown }>(
    'GET',
    `/api/v1/schemas/${id.split('/').map(encodeURIComponent).join('/')}?version=${version}`,
  );

/** The message of an error, for a `role="alert"`. */
export const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));
