/**
 * Change requests: `propose` records a change for approval (auto-approved where no guarded
 * environment is touched); `approve` and `reject` decide it (or the review of an emergency change);
 * `cancel` withdraws it; `apply` and `applyDue` write it once approved and due, or expire it once its
 * approval window has passed. Every step is one conditional update of the request with its audit event.
 */
import { randomUUID } from 'node:crypto';
import {
  affectedEnvironments,
  decisionCredential,
  effectivePolicy,
  eligibleFor,
  missingApprovals,
  requirementsFor,
} from '../approvals/policy.js';
import type { ChangeRequest, Decision, Requirement } from '../approvals/types.js';
import type { AuditSource } from '../audit/types.js';
import { ConfigError, errors, isConfigError } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import { isPlainObject } from '../model/json.js';
import { parseRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { AccessDeniedError, type Actor, credentialOf } from '../rbac/rbac.js';
import { signDecision, verifiedApprovers } from '../trust/approvals.js';
import { type ChangeSteps, describeRequirements } from './changes.js';
import type { ServiceContext } from './context.js';
import { contentView, diffViews } from './diff.js';
import { changeContent, checkSource, checkText, checkVersionNumber, optionsObject } from './inputs.js';
import type { ApplyDueReport, ConfigService } from './types.js';

const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

function checkApprovers(requirements: readonly Requirement[], requester: string): void {
  for (const r of requirements) {
    if (r.approvers.length === 0 || r.approvers.some((a) => a.startsWith('role:'))) continue;
    const possible = new Set(r.approvers.filter((a) => a !== requester)).size;
    if (possible < r.requiredApprovals) {
      throw new ConfigError(
        'INSUFFICIENT_APPROVERS',
        `${r.environment} needs ${r.requiredApprovals} approvals but only ${possible} eligible approver(s) besides the requester exist (${r.approvers.join(', ')})`,
      );
    }
  }
}

function expiredAt(request: ChangeRequest, at: Date): boolean {
  return request.status === 'pending' && at.getTime() >= Date.parse(request.expiresAt);
}

function expiredError(request: ChangeRequest): ConfigError {
  return errors.constraint(`change request ${request.id} expired at ${request.expiresAt}`, {
    ref: refKey(request.ref),
  });
}

export function requestMethods(
  ctx: ServiceContext,
  steps: ChangeSteps,
): Pick<
  ConfigService,
  'propose' | 'approve' | 'reject' | 'cancel' | 'apply' | 'applyDue' | 'getRequest' | 'listRequests'
> {
  const {
    store,
    governance,
    rbac,
    defaultSource,
    begin,
    authorize,
    callSource,
    visibleTo,
    event,
    now,
    environmentMap,
    writtenButNotAudited,
  } = ctx;
  const { prepare, candidate, checkDocument } = steps;

  async function requireRequest(id: unknown): Promise<ChangeRequest> {
    if (typeof id !== 'string' || !REQUEST_ID.test(id))
      throw errors.constraint('a change request id is 1-128 characters of [A-Za-z0-9_.:-]');
    const found = await governance.getRequest(id);
    if (!found) throw errors.notFound(`change request ${id} does not exist`);
    return found;
  }

  function expireUpdate(actor: Actor | string, cur: ChangeRequest, at: Date, source: AuditSource) {
    return {
      value: { ...cur, status: 'expired' as const, updatedAt: at.toISOString(), revision: cur.revision + 1 },
      audit: event(
        actor,
        'request.expire',
        { ref: refKey(cur.ref), requestId: cur.id, message: `expired unapproved at ${cur.expiresAt}` },
        source,
      ),
    };
  }

  async function expire(actor: Actor, id: string, source: AuditSource, at: Date): Promise<ChangeRequest | undefined> {
    let changed = false;
    const result = await governance.updateRequest(id, (cur) => {
      if (!expiredAt(cur, at)) return undefined;
      changed = true;
      return expireUpdate(actor, cur, at, source);
    });
    return changed ? result : undefined;
  }

  async function decide(
    actorInput: Actor,
    id: string,
    decision: 'approve' | 'reject',
    comment: string | undefined,
    source: AuditSource,
  ): Promise<ChangeRequest> {
    const actor = begin(actorInput);
    const existing = await requireRequest(id);
    const key = refKey(existing.ref);
    authorize(actor, 'approval:approve', existing.ref);
    const roles = rbac.rolesOf(actor, existing.ref.scope);
    let expired = false;
    const result = await governance.updateRequest(id, (cur) => {
      const at = now();
      const iso = at.toISOString();
      if (expiredAt(cur, at)) {
        expired = true;
        return expireUpdate(actor, cur, at, source);
      }
      const review = cur.emergency && cur.status === 'applied' && cur.review === 'pending';
      if (!review && cur.status !== 'pending') {
        throw errors.constraint(
          `change request ${id} is ${cur.status}${cur.emergency ? ` (review ${cur.review})` : ''}: only pending requests and pending reviews can be ${decision === 'approve' ? 'approved' : 'rejected'}`,
          { ref: key },
        );
      }
      // One person is one credential, whatever id is claimed: the requester's credential may not decide.
      const credential = credentialOf(actor);
      const requester = decisionCredential({ by: cur.requestedBy, credential: cur.requestedByCredential });
      if (cur.requestedBy === actor.id || requester === credential) {
        const as = cur.requestedBy === actor.id ? '' : ` (as ${cur.requestedBy}, with the same credential)`;
        throw new AccessDeniedError(
          `${actor.id} requested ${id}${as} and may not ${decision} it (no self-approval)`,
          'approval:approve',
          actor.id,
          { ref: key },
        );
      }
      const previous = cur.approvals.find((a) => a.by === actor.id || decisionCredential(a) === credential);
      if (previous) {
        // The same approver (id or credential) twice counts once.
        if (previous.decision === decision) return undefined;
        const as = previous.by === actor.id ? '' : ` (as ${previous.by}, with the same credential)`;
        throw errors.constraint(
          `${actor.id} already ${previous.decision === 'approve' ? 'approved' : 'rejected'} ${id}${as}`,
          {
            ref: key,
          },
        );
      }
      const eligible = cur.requirements.filter((r) => eligibleFor(r, actor.id, roles)).map((r) => r.environment);
      if (eligible.length === 0) {
        throw new AccessDeniedError(
          `${actor.id} is not an eligible approver of ${id} (${cur.requirements.map((r) => `${r.environment}: ${r.approvers.join(', ')}`).join('; ')})`,
          'approval:approve',
          actor.id,
          { ref: key },
        );
      }
      let d: Decision = { by: actor.id, at: iso, decision, environments: eligible };
      if (actor.credential !== undefined) d.credential = actor.credential;
      if (actor.impersonatedBy !== undefined) d.impersonatedBy = actor.impersonatedBy;
      if (comment !== undefined) d.comment = comment;
      if (ctx.signer) d = signDecision(cur, d, ctx.signer);
      const approvals = [...cur.approvals, d];
      const next: ChangeRequest = { ...cur, approvals, updatedAt: iso, revision: cur.revision + 1 };
      const done = decision === 'approve' && missingApprovals(cur.requirements, approvals).length === 0;
      if (review) next.review = decision === 'reject' ? 'rejected' : done ? 'approved' : 'pending';
      else if (decision === 'reject') {
        next.status = 'rejected';
        next.closedBy = actor.id;
        next.closedAt = iso;
        if (comment !== undefined) next.reason = comment;
      } else if (done) next.status = 'approved';
      const state = review ? `review ${next.review}` : next.status;
      return {
        value: next,
        audit: event(
          actor,
          `${review ? 'review' : 'request'}.${decision}`,
          {
            ref: key,
            requestId: id,
            message: `${decision === 'approve' ? 'approved' : 'rejected'} for ${eligible.join(', ')}; now ${state}${comment ? `: ${comment}` : ''}`,
          },
          source,
        ),
      };
    });
    if (!result) throw errors.notFound(`change request ${id} does not exist`);
    if (expired) throw expiredError(result);
    return result;
  }

  async function applyRequest(
    actor: Actor,
    request: ChangeRequest,
    source: AuditSource,
    at: Date,
  ): Promise<ChangeRequest> {
    const ref = parseRef(request.ref);
    const key = refKey(ref);
    if (request.status === 'applied') return request;
    if (request.status === 'pending') {
      if (expiredAt(request, at)) {
        const done = await expire(actor, request.id, source, at);
        throw expiredError(done ?? request);
      }
      const missing = missingApprovals(request.requirements, request.approvals);
      throw new ConfigError(
        'INSUFFICIENT_APPROVERS',
        `change request ${request.id} still needs ${missing.map((m) => `${m.missing} approval(s) for ${m.environment}`).join(', ')}`,
        { ref: key },
      );
    }
    if (request.status !== 'approved') {
      throw errors.constraint(`change request ${request.id} is ${request.status} and cannot be applied`, { ref: key });
    }
    if (request.applyAt !== undefined && at.getTime() < Date.parse(request.applyAt)) {
      throw errors.constraint(`change request ${request.id} is scheduled for ${request.applyAt}`, { ref: key });
    }
    const approvedBy = verifiedApprovers(request, ctx.trust);
    const target = request.baseVersion + 1;
    const envs = await environmentMap();
    const doc = candidate(ref, target, request.proposed, request.requestedBy, request.message, at, {
      changeRequest: request.id,
      approvedBy,
    });
    let written: ConfigVersion;
    const head = await store.getHead(ref, { consistent: true });
    const conflict = async (): Promise<ConfigVersion> => {
      // Another apply of this same request may have won the race: then it is applied, once.
      const existing = await store.getVersion(ref, target, { consistent: true });
      if (existing && existing.metadata.changeRequest === request.id) return existing;
      const now = await store.getHead(ref, { consistent: true });
      throw new ConfigError(
        'CONFLICTING_CHANGE',
        `${key}: change request ${request.id} was made against v${request.baseVersion}, but the head is now v${now?.version ?? 0}; propose the change again`,
        { ref: key, version: request.baseVersion },
      );
    };
    if ((head?.version ?? 0) !== request.baseVersion) written = await conflict();
    else {
      await checkDocument(doc, envs);
      try {
        written = await store.append(doc);
      } catch (error) {
        if (!isConfigError(error, 'VERSION_CONFLICT')) throw error;
        written = await conflict();
      }
    }
    const before = request.baseVersion > 0 ? await store.getVersion(ref, request.baseVersion) : undefined;
    const changes = diffViews(contentView(before), contentView(written));
    const iso = at.toISOString();
    let final: ChangeRequest | undefined;
    try {
      final = await governance.updateRequest(request.id, (cur) => {
        if (cur.status === 'applied') return undefined;
        return {
          value: {
            ...cur,
            status: 'applied',
            appliedVersion: written.version,
            appliedAt: iso,
            appliedBy: actor.id,
            updatedAt: iso,
            revision: cur.revision + 1,
          },
          audit: event(
            actor,
            'request.apply',
            {
              ref: key,
              version: written.version,
              requestId: request.id,
              message: `applied ${request.kind} as v${written.version}${cur.status === 'approved' ? '' : ` (request was ${cur.status} meanwhile)`}: ${request.message}`,
              changes,
            },
            source,
          ),
        };
      });
    } catch (error) {
      throw writtenButNotAudited(written, error);
    }
    if (!final) throw errors.notFound(`change request ${request.id} does not exist`);
    return final;
  }

  return {
    async propose(actorInput, input, opts) {
      const actor = begin(actorInput);
      if (!isPlainObject(input)) throw errors.constraint('propose input must be an object { ref, kind, ... }');
      const ref = parseRef(input.ref);
      const key = refKey(ref);
      authorize(actor, 'approval:request', ref);
      const source = callSource(opts, 'propose');
      const kind = input.kind ?? 'set';
      if (!['set', 'delete', 'rollback'].includes(kind))
        throw errors.constraint('kind must be set, delete or rollback');
      const base =
        input.baseVersion === undefined ? undefined : checkVersionNumber(input.baseVersion, 'baseVersion', 0);
      let applyAt: string | undefined;
      if (input.applyAt !== undefined) {
        const t = input.applyAt instanceof Date ? input.applyAt.getTime() : Date.parse(String(input.applyAt));
        if (typeof input.applyAt !== 'string' && !(input.applyAt instanceof Date))
          throw errors.constraint('applyAt must be a date');
        if (Number.isNaN(t)) throw errors.constraint('applyAt is not a valid date');
        applyAt = new Date(t).toISOString();
      }
      const envs = await environmentMap();
      const p = await prepare(ref, kind, input, base);
      const at = now();
      const doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at);
      await checkDocument(doc, envs);
      const affected = affectedEnvironments(changeContent(p.before), changeContent(doc), envs);
      const requirements = requirementsFor(affected, envs);
      checkApprovers(requirements, actor.id);
      const hours = Math.min(
        ...requirements.map((r) => effectivePolicy(envs.get(r.environment) as Environment).expiresAfterHours),
        ...(requirements.length === 0 ? [72] : []),
      );
      const iso = at.toISOString();
      const request: ChangeRequest = {
        id: randomUUID(),
        ref,
        kind,
        baseVersion: p.current,
        proposed: structuredClone(p.content),
        message: p.message,
        requestedBy: actor.id,
        requestedAt: iso,
        environments: requirements.map((r) => r.environment),
        requirements,
        requiredApprovals: Math.max(0, ...requirements.map((r) => r.requiredApprovals)),
        approvals: [],
        status: requirements.length === 0 ? 'approved' : 'pending',
        emergency: false,
        expiresAt: new Date(at.getTime() + hours * 3_600_000).toISOString(),
        updatedAt: iso,
        revision: 1,
      };
      if (actor.credential !== undefined) request.requestedByCredential = actor.credential;
      if (actor.impersonatedBy !== undefined) request.requestedByImpersonator = actor.impersonatedBy;
      if (applyAt !== undefined) request.applyAt = applyAt;
      await governance.createRequest(
        request,
        event(
          actor,
          'request.create',
          {
            ref: key,
            requestId: request.id,
            message: `${kind} proposed against v${p.current}${requirements.length === 0 ? ' (auto-approved)' : `, needs ${describeRequirements(requirements)}`}${applyAt ? `, apply at ${applyAt}` : ''}: ${p.message}`,
            changes: diffViews(contentView(p.before), contentView(doc)),
          },
          source,
        ),
      );
      return request;
    },

    approve(actor, id, opts) {
      try {
        const o = optionsObject(opts, 'approve');
        return decide(actor, id, 'approve', checkText(o.comment, 'comment'), checkSource(o.source, defaultSource));
      } catch (error) {
        return Promise.reject(error);
      }
    },

    reject(actor, id, opts) {
      try {
        const o = optionsObject(opts, 'reject');
        const reason = checkText(o.reason, 'reason');
        if (!reason) throw errors.constraint('reject needs a reason');
        return decide(actor, id, 'reject', reason, checkSource(o.source, defaultSource));
      } catch (error) {
        return Promise.reject(error);
      }
    },

    async cancel(actorInput, id, opts) {
      const actor = begin(actorInput);
      const o = optionsObject(opts, 'cancel');
      const reason = checkText(o.reason, 'reason');
      const source = checkSource(o.source, defaultSource);
      const existing = await requireRequest(id);
      const own = existing.requestedBy === actor.id;
      authorize(actor, own ? 'approval:request' : 'approval:approve', existing.ref);
      const result = await governance.updateRequest(id, (cur) => {
        if (cur.status !== 'pending' && cur.status !== 'approved') {
          throw errors.constraint(`change request ${id} is ${cur.status} and cannot be cancelled`);
        }
        const iso = now().toISOString();
        const next: ChangeRequest = {
          ...cur,
          status: 'cancelled',
          closedBy: actor.id,
          closedAt: iso,
          updatedAt: iso,
          revision: cur.revision + 1,
        };
        if (reason !== undefined) next.reason = reason;
        return {
          value: next,
          audit: event(
            actor,
            'request.cancel',
            { ref: refKey(cur.ref), requestId: id, message: `cancelled${reason ? `: ${reason}` : ''}` },
            source,
          ),
        };
      });
      if (!result) throw errors.notFound(`change request ${id} does not exist`);
      return result;
    },

    async apply(actorInput, id, opts) {
      const actor = begin(actorInput);
      const source = callSource(opts, 'apply');
      const existing = await requireRequest(id);
      authorize(actor, 'approval:apply', existing.ref);
      return applyRequest(actor, existing, source, now());
    },

    async applyDue(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'approval:apply');
      const o = optionsObject(opts, 'applyDue');
      const source = checkSource(o.source, 'agent');
      if (o.now !== undefined && (!(o.now instanceof Date) || Number.isNaN(o.now.getTime()))) {
        throw errors.constraint('applyDue option now must be a valid Date');
      }
      const at = o.now ?? now();
      const report: ApplyDueReport = { applied: [], expired: [], failed: [] };
      for (const r of await governance.listRequests({ status: 'pending' })) {
        if (!expiredAt(r, at)) continue;
        const done = await expire(actor, r.id, source, at);
        if (done) report.expired.push(done);
      }
      for (const r of await governance.listRequests({ status: 'approved' })) {
        if (r.applyAt === undefined || at.getTime() < Date.parse(r.applyAt)) continue;
        try {
          report.applied.push(await applyRequest(actor, r, source, at));
        } catch (error) {
          report.failed.push({
            id: r.id,
            error: isConfigError(error) ? error : errors.unavailable(store.name, error),
          });
        }
      }
      return report;
    },

    async getRequest(actorInput, id) {
      const actor = begin(actorInput);
      const found = await requireRequest(id);
      authorize(actor, 'config:read', found.ref);
      return found;
    },

    async listRequests(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('request query must be an object');
      if (query.ref !== undefined) {
        const ref = parseRef(query.ref);
        authorize(actor, 'config:read', ref);
        return governance.listRequests({ ...query, ref: refKey(ref) });
      }
      return visibleTo(
        actor,
        'config:read',
        () => governance.listRequests(query),
        (r) => r.ref.scope,
      );
    },
  };
}
