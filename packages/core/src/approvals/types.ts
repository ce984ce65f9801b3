import { ConfigError, type ErrorContext } from '../errors/config-error.js';
import type { JsonObject } from '../model/json.js';
import type { ConfigRef } from '../model/ref.js';

export type RequestStatus = 'pending' | 'approved' | 'rejected' | 'applied' | 'expired' | 'cancelled';
export const REQUEST_STATUSES: readonly RequestStatus[] = [
  'pending',
  'approved',
  'rejected',
  'applied',
  'expired',
  'cancelled',
];

/** What a request changes: a new content, a tombstone, or old content appended again. */
export type ChangeKind = 'set' | 'delete' | 'rollback';

/** The content a request will append (the checksummed fields plus metadata). */
export interface ProposedContent {
  config: JsonObject;
  overrides: Record<string, JsonObject>;
  rollout: JsonObject | null;
  metadata: JsonObject;
}

/** The approvals one environment's policy asks of a change. */
export interface Requirement {
  environment: string;
  requiredApprovals: number;
  /** User ids and `role:<name>` entries; empty means anyone holding `approval:approve`. */
  approvers: string[];
}

/** One approval or rejection. */
export interface Decision {
  by: string;
  /**
   * The credential of the decider (see `Principal`), when it had one; decisions are told apart by it
   * (absent: `id:<by>`).
   */
  credential?: string;
  /** Who acted as `by` (`actor:impersonate`). */
  impersonatedBy?: string;
  /** ISO-8601 UTC. */
  at: string;
  decision: 'approve' | 'reject';
  comment?: string;
  /** The requirements (environment names) this approval counts for. */
  environments: string[];
  /** `<keyId>:<base64 Ed25519>` by the decider's writer key (see trust/approvals.ts), when it had one. */
  signature?: string;
}

/** A change request (seed 002's approval workflow, DESIGN section 2). */
export interface ChangeRequest {
  id: string;
  ref: ConfigRef;
  kind: ChangeKind;
  /** The head the change was made against (0 for a new ref); applying needs it to still be the head. */
  baseVersion: number;
  proposed: ProposedContent;
  message: string;
  requestedBy: string;
  /** The requester's credential, when it had one (absent: `id:<requestedBy>`); no self-approval compares it. */
  requestedByCredential?: string;
  /** Who acted as `requestedBy` (`actor:impersonate`). */
  requestedByImpersonator?: string;
  requestedAt: string;
  /** Guarded environments the change touches. */
  environments: string[];
  requirements: Requirement[];
  /** The largest requirement (for display; every requirement must be met). */
  requiredApprovals: number;
  approvals: Decision[];
  status: RequestStatus;
  /** Applied at once; `review` tracks the approvals demanded after the fact. */
  emergency: boolean;
  /** Emergency changes only: `pending` until the requirements are met by reviewers. */
  review?: 'pending' | 'approved' | 'rejected';
  /** Apply no earlier than this (ISO-8601 UTC); `applyDue()` applies it once approved. */
  applyAt?: string;
  /** A pending request expires at this time (ISO-8601 UTC). */
  expiresAt: string;
  appliedVersion?: number;
  appliedAt?: string;
  appliedBy?: string;
  /** Who rejected or cancelled it, when, and why. */
  closedBy?: string;
  closedAt?: string;
  reason?: string;
  updatedAt: string;
  /** Incremented by every change of the stored request. */
  revision: number;
}

/** `APPROVAL_REQUIRED`: the change touches guarded environments; propose it instead. */
export class ApprovalRequiredError extends ConfigError<'APPROVAL_REQUIRED'> {
  readonly environments: readonly string[];
  constructor(message: string, environments: readonly string[], options: ErrorContext = {}) {
    super('APPROVAL_REQUIRED', message, options);
    this.name = 'ApprovalRequiredError';
    this.environments = environments;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), environments: this.environments };
  }
}
