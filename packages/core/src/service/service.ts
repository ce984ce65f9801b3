/**
 * The change service: the only writer. Every call takes an actor and is checked against RBAC first
 * (deny by default); every mutation and every approval step writes a hash-chained audit event.
 *
 *   const service = createConfigService({ store, governance, rbac: await loadRbacFile('rbac.yaml') });
 *   await service.set(actor, { ref: 'app:billing/database', config: { pool: 10 } }, { expectedVersion: 3 });
 *
 * Writes that touch a guarded environment (one whose approval policy needs approvals) are refused
 * with `APPROVAL_REQUIRED`; they go through `propose` -> `approve` -> `apply` instead, or, where the
 * policy allows, as an emergency change that applies at once and opens a mandatory review.
 *
 * Order of checks in every entry point: the service is open, the actor is well formed, the ref is
 * valid, the actor holds the permission, the input is valid (JSON, size, rollout, environments,
 * schema), the approval policy; only then is anything written.
 */
import { adminMethods } from './admin.js';
import { changeSteps } from './changes.js';
import { createServiceContext } from './context.js';
import { readMethods } from './reads.js';
import { requestMethods } from './requests.js';
import { signingMethods } from './signing.js';
import type { ConfigService, ConfigServiceOptions } from './types.js';
import { writeMethods } from './writes.js';

// The public shapes stay importable from here as well as from the package index.
export type * from './types.js';

/**
 * Creates the change service. Options are validated now (the bad one is named); nothing is read or
 * written until the first call.
 */
export function createConfigService(options: ConfigServiceOptions): ConfigService {
  const ctx = createServiceContext(options);
  const steps = changeSteps(ctx);
  const service: ConfigService = {
    schemas: ctx.schemas,
    ...readMethods(ctx),
    ...writeMethods(ctx, steps),
    ...requestMethods(ctx, steps),
    ...adminMethods(ctx, steps),
    ...signingMethods(ctx),

    close() {
      return ctx.lifecycle.close(() => {});
    },

    [Symbol.asyncDispose]() {
      return service.close();
    },
  };
  return service;
}
