export {
  affectedEnvironments,
  type ChangeContent,
  checkApprovalPolicy,
  DEFAULT_EXPIRES_AFTER_HOURS,
  decisionCredential,
  type EffectivePolicy,
  effectivePolicy,
  eligibleFor,
  isRolloutProgression,
  missingApprovals,
  requirementsFor,
} from './policy.js';
export {
  ApprovalRequiredError,
  type ChangeKind,
  type ChangeRequest,
  type Decision,
  type ProposedContent,
  REQUEST_STATUSES,
  type RequestStatus,
  type Requirement,
} from './types.js';
