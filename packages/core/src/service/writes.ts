/**
 * The direct writes: `set`, `delete` and `rollback`. Each is checked (actor, ref, permission, options,
 * content, schema) and then applied at once, unless it touches a guarded environment: then it is
 * refused with `APPROVAL_REQUIRED`, or, as an emergency change where the policy allows, applied with a
 * mandatory review opened in the same step as its audit event.
 */
import { randomUUID } from 'node:crypto';
import { affectedEnvironments, effectivePolicy, isRolloutProgression, requirementsFor } from '../approvals/policy.js';
import { ApprovalRequiredError, type ChangeKind, type ChangeRequest } from '../approvals/types.js';
import { errors } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import { isPlainObject } from '../model/json.js';
import { parseRef, refKey } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import type { Permission } from '../rbac/permissions.js';
import type { Actor } from '../rbac/rbac.js';
import { type ChangeInput, type ChangeSteps, describeRequirements } from './changes.js';
import type { ServiceContext } from './context.js';
import { contentView, diffViews } from './diff.js';
import { changeContent, checkSource, checkVersionNumber, optionsObject } from './inputs.js';
import type { ConfigService, DeleteOptions, ServiceRollbackOptions, WriteOptions } from './types.js';

const WRITE_PERMISSION: Record<ChangeKind, Permission> = {
  set: 'config:write',
  delete: 'config:delete',
  rollback: 'config:rollback',
};

/**
 * How old the environments a direct write checks against may be (the service's own environment
 * changes are seen at once; another process's within this long).
 */
const ENVIRONMENTS_MAX_AGE_MS = 1_000;

export function writeMethods(
  ctx: ServiceContext,
  steps: ChangeSteps,
): Pick<ConfigService, 'set' | 'delete' | 'rollback'> {
  const { store, governance, rbac, defaultSource, begin, authorize, event, now, environmentMap, writtenButNotAudited } =
    ctx;
  const { prepare, candidate, checkDocument, documentsAround } = steps;

  async function write(
    actorInput: Actor,
    kind: ChangeKind,
    refInput: unknown,
    input: ChangeInput,
    rawOptions: WriteOptions | undefined,
  ): Promise<ConfigVersion> {
    const actor = begin(actorInput);
    const ref = parseRef(refInput);
    const key = refKey(ref);
    authorize(actor, WRITE_PERMISSION[kind], ref);
    const options = optionsObject(rawOptions, kind);
    const source = checkSource(options.source, defaultSource);
    const expected =
      options.expectedVersion === undefined
        ? undefined
        : checkVersionNumber(options.expectedVersion, 'expectedVersion', 0);
    if (options.emergency !== undefined && typeof options.emergency !== 'boolean') {
      throw errors.constraint('emergency must be a boolean');
    }
    // The environments (kept for a moment), the head and the documents the schema check resolves
    // with are read at once; the append's compare-and-set guards the head read.
    const [kept, p, around] = await Promise.all([
      environmentMap(ENVIRONMENTS_MAX_AGE_MS),
      prepare(ref, kind, input, expected),
      kind === 'delete' ? undefined : documentsAround(ref),
    ]);
    const at = now();
    let doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at);
    // An environment the kept list does not know may have been created since: read them again.
    const envs = Object.keys(doc.overrides).some((name) => !kept.has(name)) ? await environmentMap() : kept;
    await checkDocument(doc, envs, around);
    let requirements = requirementsFor(affectedEnvironments(changeContent(p.before), changeContent(doc), envs), envs);
    // An approved canary moving along its own schedule (or aborted) needs `rollout:step`, not a new approval.
    if (
      requirements.length > 0 &&
      options.emergency !== true &&
      isRolloutProgression(changeContent(p.before), changeContent(doc)) &&
      rbac.can(actor, 'rollout:step', ref.scope)
    ) {
      requirements = [];
    }
    let request: ChangeRequest | undefined;
    if (requirements.length > 0) {
      const names = requirements.map((r) => r.environment);
      if (options.emergency !== true) {
        throw new ApprovalRequiredError(
          `${key}: the change touches guarded environment(s) ${describeRequirements(requirements)}; propose it for approval`,
          names,
          { ref: key },
        );
      }
      authorize(actor, 'approval:emergency', ref);
      const refused = names.filter((n) => !effectivePolicy(envs.get(n) as Environment).allowEmergency);
      if (refused.length > 0) {
        throw new ApprovalRequiredError(
          `${key}: emergency changes are not allowed in ${refused.join(', ')}; propose it for approval`,
          refused,
          { ref: key },
        );
      }
      const id = randomUUID();
      doc = candidate(ref, p.current + 1, p.content, actor.id, p.message, at, { changeRequest: id, emergency: true });
      const iso = at.toISOString();
      request = {
        id,
        ref,
        kind,
        baseVersion: p.current,
        proposed: p.content,
        message: p.message,
        requestedBy: actor.id,
        requestedAt: iso,
        environments: names,
        requirements,
        requiredApprovals: Math.max(...requirements.map((r) => r.requiredApprovals)),
        approvals: [],
        status: 'applied',
        emergency: true,
        review: 'pending',
        expiresAt: iso,
        appliedVersion: doc.version,
        appliedAt: iso,
        appliedBy: actor.id,
        updatedAt: iso,
        revision: 1,
      };
      if (actor.credential !== undefined) request.requestedByCredential = actor.credential;
      if (actor.impersonatedBy !== undefined) request.requestedByImpersonator = actor.impersonatedBy;
    }
    const written = await store.append(doc, { signal: options.signal });
    const audit = event(
      actor,
      `config.${kind}`,
      {
        ref: key,
        version: written.version,
        message: request ? `[emergency, review pending] ${written.message}` : written.message,
        changes: diffViews(contentView(p.before), contentView(written)),
        ...(request ? { requestId: request.id } : {}),
      },
      source,
    );
    try {
      if (request) await governance.createRequest(request, audit);
      else await governance.appendAudit(audit);
    } catch (error) {
      throw writtenButNotAudited(written, error);
    }
    return written;
  }

  return {
    set(actor, input, opts) {
      if (!isPlainObject(input))
        return Promise.reject(errors.constraint('set input must be an object { ref, config, ... }'));
      return write(actor, 'set', input.ref, input, opts);
    },

    delete(actor, ref, opts) {
      return write(actor, 'delete', ref, { message: (opts as DeleteOptions | undefined)?.message }, opts);
    },

    rollback(actor, ref, opts) {
      const o = (opts ?? {}) as ServiceRollbackOptions;
      return write(actor, 'rollback', ref, { to: o.to, message: o.message }, opts);
    },
  };
}
