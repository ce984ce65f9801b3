/**
 * Signed approvals. Each decision on a change request is signed by the decider's writer key over
 * what it approved: the request, its base version, the checksum of the proposed content, the
 * requester, and the decision itself. `apply` counts only decisions that verify, so an approval
 * typed into the governance database (or a backup) never lets a change through, and swapping the
 * proposed content after approval voids every approval.
 *
 *   "summit-decision-v1\n" + canonicalJson({ request, ref, baseVersion, proposed, deleted,
 *                                            requestedBy, by, credential, at, decision, environments })
 */
import { decisionCredential, missingApprovals } from '../approvals/policy.js';
import type { ChangeRequest, Decision } from '../approvals/types.js';
import { ConfigError } from '../errors/config-error.js';
import { canonicalJson } from '../model/json.js';
import { refKey } from '../model/ref.js';
import { computeChecksum } from '../model/version.js';
import type { Signer, TrustRoot } from './keys.js';
import { SignatureInvalidError } from './versions.js';

export const DECISION_SIGNATURE_PREFIX = 'summit-decision-v1\n';

type RequestPart = Pick<
  ChangeRequest,
  'id' | 'ref' | 'baseVersion' | 'proposed' | 'requestedBy' | 'requestedByCredential'
>;

/** The exact text a decision's signature covers. */
export function decisionSigningText(request: RequestPart, d: Decision): string {
  const proposed = computeChecksum({
    ref: request.ref,
    version: request.baseVersion + 1,
    config: request.proposed.config,
    overrides: request.proposed.overrides,
    rollout: request.proposed.rollout,
  });
  return (
    DECISION_SIGNATURE_PREFIX +
    canonicalJson({
      request: request.id,
      ref: refKey(request.ref),
      baseVersion: request.baseVersion,
      proposed,
      deleted: request.proposed.metadata.deleted === true,
      requestedBy: request.requestedByCredential ?? `id:${request.requestedBy}`,
      by: d.by,
      credential: d.credential ?? null,
      at: d.at,
      decision: d.decision,
      environments: [...d.environments].sort(),
    })
  );
}

/** `d` signed by `signer` (`signature: "<keyId>:<base64>"`). */
export function signDecision(request: RequestPart, d: Decision, signer: Signer): Decision {
  const { signature: _old, ...rest } = d;
  return { ...rest, signature: `${signer.keyId}:${signer.sign(decisionSigningText(request, rest))}` };
}

/** Why a decision does not verify against `trust`, or undefined when it does. */
export function checkDecision(request: RequestPart, d: Decision, trust: TrustRoot): string | undefined {
  const who = `the ${d.decision} by ${d.by} at ${d.at}`;
  if (typeof d.signature !== 'string') return `${who} carries no signature`;
  const cut = d.signature.lastIndexOf(':');
  if (cut <= 0) return `${who} carries a malformed signature`;
  const keyId = d.signature.slice(0, cut);
  const { signature: _sig, ...rest } = d;
  const outcome = trust.check(keyId, decisionSigningText(request, rest), d.signature.slice(cut + 1), d.at);
  if (outcome === 'unknown-key') return `${who} is signed by ${keyId}, which is not trusted`;
  if (outcome === 'expired-key') return `${who} is signed by ${keyId} after that key's notAfter`;
  if (outcome !== 'ok') return `${who}: the signature does not verify (forged or altered)`;
  const principal = trust.key(keyId)?.principal;
  if (principal !== undefined && d.credential !== principal) {
    return `${who} claims credential ${d.credential ?? `id:${d.by}`}, but key ${keyId} belongs to ${principal}`;
  }
  return undefined;
}

/**
 * The credentials whose approvals let `request` be applied, sorted (they go into the version's
 * signed `approvedBy`). With a trust root every decision must verify (`SIGNATURE_INVALID`, reason
 * `FORGED_APPROVAL`, otherwise); the requester's own approvals never count; and the approvals that
 * remain must meet every requirement (`INSUFFICIENT_APPROVERS` otherwise), whatever the stored status says.
 */
export function verifiedApprovers(request: ChangeRequest, trust: TrustRoot | undefined): string[] {
  const key = refKey(request.ref);
  if (trust) {
    for (const d of request.approvals) {
      const problem = checkDecision(request, d, trust);
      if (problem) {
        throw new SignatureInvalidError(`change request ${request.id}: ${problem}`, 'FORGED_APPROVAL', { ref: key });
      }
    }
  }
  const requester = request.requestedByCredential ?? `id:${request.requestedBy}`;
  const counted = request.approvals.filter((d) => decisionCredential(d) !== requester);
  const missing = missingApprovals(request.requirements, counted);
  if (missing.length > 0) {
    throw new ConfigError(
      'INSUFFICIENT_APPROVERS',
      `change request ${request.id} is marked ${request.status} but its approvals do not meet ${missing.map((m) => `${m.environment} (${m.missing} missing)`).join(', ')}`,
      { ref: key },
    );
  }
  const out = new Set<string>();
  for (const d of counted) if (d.decision === 'approve') out.add(decisionCredential(d) as string);
  return [...out].sort();
}
