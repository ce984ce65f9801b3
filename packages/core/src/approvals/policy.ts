/**
 * Approval policy rules: which environments a change touches, which of them are guarded, who may
 * approve, and when a request has enough approvals.
 */
import { errors } from '../errors/config-error.js';
import type { ApprovalPolicy, Environment } from '../model/environment.js';
import { canonicalJson, isPlainObject, type JsonObject } from '../model/json.js';
import type { Requirement } from './types.js';

/** Default hours before a pending request expires. */
export const DEFAULT_EXPIRES_AFTER_HOURS = 72;

/** A policy with every default filled in. */
export interface EffectivePolicy {
  requiredApprovals: number;
  approvers: string[];
  allowEmergency: boolean;
  expiresAfterHours: number;
}

/**
 * The policy of `env`: its own, or by default one approval for production environments and none
 * (auto-approve) for the others. Emergency changes (applied at once, reviewed after the fact) are
 * refused by default in production environments; an explicit `allowEmergency: true` allows them.
 */
export function effectivePolicy(env: Environment): EffectivePolicy {
  const p = env.approvalPolicy;
  return {
    requiredApprovals: p?.requiredApprovals ?? (env.production ? 1 : 0),
    approvers: [...(p?.approvers ?? [])],
    allowEmergency: p?.allowEmergency ?? !env.production,
    expiresAfterHours: p?.expiresAfterHours ?? DEFAULT_EXPIRES_AFTER_HOURS,
  };
}

/** Validates an approval policy; throws `CONSTRAINT_VIOLATION` naming the field. */
export function checkApprovalPolicy(raw: unknown, where: string): ApprovalPolicy {
  if (!isPlainObject(raw)) throw errors.constraint(`${where}: approvalPolicy must be an object`);
  for (const key of Object.keys(raw)) {
    if (!['requiredApprovals', 'approvers', 'allowEmergency', 'expiresAfterHours'].includes(key)) {
      throw errors.constraint(`${where}: approvalPolicy has an unknown field "${key}"`);
    }
  }
  const { requiredApprovals, approvers, allowEmergency, expiresAfterHours } = raw;
  if (typeof requiredApprovals !== 'number' || !Number.isSafeInteger(requiredApprovals) || requiredApprovals < 0) {
    throw errors.constraint(`${where}: approvalPolicy.requiredApprovals must be an integer >= 0`);
  }
  if (requiredApprovals > 100) throw errors.constraint(`${where}: approvalPolicy.requiredApprovals must be <= 100`);
  if (approvers !== undefined) {
    if (!Array.isArray(approvers)) throw errors.constraint(`${where}: approvalPolicy.approvers must be a list`);
    for (const a of approvers) {
      if (typeof a !== 'string' || a.length === 0 || a.length > 256 || a === 'role:') {
        throw errors.constraint(`${where}: approvalPolicy.approvers entries must be user ids or "role:<name>"`);
      }
    }
  }
  if (allowEmergency !== undefined && typeof allowEmergency !== 'boolean') {
    throw errors.constraint(`${where}: approvalPolicy.allowEmergency must be a boolean`);
  }
  if (
    expiresAfterHours !== undefined &&
    (typeof expiresAfterHours !== 'number' ||
      !Number.isFinite(expiresAfterHours) ||
      expiresAfterHours <= 0 ||
      expiresAfterHours > 24 * 366)
  ) {
    throw errors.constraint(`${where}: approvalPolicy.expiresAfterHours must be a number of hours in (0, 8784]`);
  }
  return raw as unknown as ApprovalPolicy;
}

/** The parts of a document that approvals look at. */
export interface ChangeContent {
  config: JsonObject;
  overrides: Readonly<Record<string, JsonObject>>;
  rollout: JsonObject | null;
  /** A tombstone. */
  deleted: boolean;
}

/**
 * The environments a change from `before` (undefined: the ref does not exist) to `after` touches:
 * every environment when the base config, the rollout or the existence of the document changed;
 * otherwise those whose override changed, and their descendants (which inherit the override).
 */
export function affectedEnvironments(
  before: ChangeContent | undefined,
  after: ChangeContent,
  environments: ReadonlyMap<string, Environment>,
): string[] {
  const all = [...environments.keys()].sort();
  if (
    !before ||
    before.deleted !== after.deleted ||
    canonicalJson(before.config) !== canonicalJson(after.config) ||
    canonicalJson(before.rollout) !== canonicalJson(after.rollout)
  ) {
    return all;
  }
  const changed = new Set<string>();
  for (const name of new Set([...Object.keys(before.overrides), ...Object.keys(after.overrides)])) {
    if (canonicalJson(before.overrides[name] ?? null) !== canonicalJson(after.overrides[name] ?? null)) {
      changed.add(name);
    }
  }
  if (changed.size === 0) return [];
  // An environment is touched when it or one of its ancestors is.
  return all.filter((name) => {
    const seen = new Set<string>();
    let current: string | undefined = name;
    while (current !== undefined && !seen.has(current)) {
      if (changed.has(current)) return true;
      seen.add(current);
      current = environments.get(current)?.parent;
    }
    return false;
  });
}

/**
 * Whether `after` differs from `before` only in the `step` or `state` of progressive (percentage or
 * canary) rollout rules: an approved canary plan moving along its own schedule, or being aborted. The
 * agent makes such changes with the `rollout:step` permission, without a new approval.
 */
export function isRolloutProgression(before: ChangeContent | undefined, after: ChangeContent): boolean {
  if (!before || before.deleted || after.deleted) return false;
  if (canonicalJson(before.config) !== canonicalJson(after.config)) return false;
  if (canonicalJson(before.overrides) !== canonicalJson(after.overrides)) return false;
  const rulesOf = (rollout: JsonObject | null) => (Array.isArray(rollout?.rules) ? rollout.rules : []);
  const strip = (rollout: JsonObject | null) =>
    canonicalJson({
      ...(rollout ?? {}),
      rules: rulesOf(rollout).map((rule) => {
        if (!isPlainObject(rule) || (rule.strategy !== 'percentage' && rule.strategy !== 'canary')) return rule;
        const { step: _step, state: _state, ...rest } = rule;
        return rest;
      }),
    });
  return (
    canonicalJson(before.rollout) !== canonicalJson(after.rollout) && strip(before.rollout) === strip(after.rollout)
  );
}

/** The requirements of the guarded environments among `names` (those needing at least one approval). */
export function requirementsFor(
  names: readonly string[],
  environments: ReadonlyMap<string, Environment>,
): Requirement[] {
  const out: Requirement[] = [];
  for (const name of names) {
    const env = environments.get(name);
    if (!env) continue;
    const policy = effectivePolicy(env);
    if (policy.requiredApprovals > 0) {
      out.push({ environment: name, requiredApprovals: policy.requiredApprovals, approvers: policy.approvers });
    }
  }
  return out;
}

/** Whether an actor (id and effective roles) may approve for `requirement`. */
export function eligibleFor(requirement: Requirement, actorId: string, roles: ReadonlySet<string>): boolean {
  if (requirement.approvers.length === 0) return true;
  return requirement.approvers.some((a) => (a.startsWith('role:') ? roles.has(a.slice(5)) : a === actorId));
}

/** The credential a decision (or request) was made with: its own, else `id:<by>`. */
export function decisionCredential(d: { by?: string; credential?: string }): string | undefined {
  return d.credential ?? (d.by === undefined ? undefined : `id:${d.by}`);
}

/**
 * Approvals still missing per requirement (empty when the request has enough). Approvals made with
 * one credential count once, whatever ids they claim.
 */
export function missingApprovals(
  requirements: readonly Requirement[],
  approvals: readonly {
    decision: 'approve' | 'reject';
    environments: readonly string[];
    by?: string;
    credential?: string;
  }[],
): { environment: string; missing: number }[] {
  const out: { environment: string; missing: number }[] = [];
  for (const r of requirements) {
    const approvers = new Set<string>();
    let anonymous = 0;
    for (const a of approvals) {
      if (a.decision !== 'approve' || !a.environments.includes(r.environment)) continue;
      const credential = decisionCredential(a);
      if (credential === undefined) anonymous++;
      else approvers.add(credential);
    }
    const got = approvers.size + anonymous;
    if (got < r.requiredApprovals) out.push({ environment: r.environment, missing: r.requiredApprovals - got });
  }
  return out;
}
