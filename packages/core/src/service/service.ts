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
 *
 * The methods live in areas.ts and the modules it imports (the areas, approvals, backup, diffs),
 * loaded at a service's first call: a process that imports the package to read configuration (the
 * client) does not load them. Every method returns a promise, so waiting for that load changes no
 * caller's contract; once loaded, calls go straight to the methods.
 */
import { createServiceContext } from './context.js';
import type { ConfigService, ConfigServiceOptions } from './types.js';

// The public shapes stay importable from here as well as from the package index.
export type * from './types.js';

type ServiceMethods = import('./areas.js').ServiceMethods;
type Method = (...args: unknown[]) => Promise<unknown>;

// Every method of the service, by name: a method missing here, or one the interface does not have,
// fails to compile.
const METHODS: Record<keyof ServiceMethods, true> = {
  get: true,
  getVersion: true,
  list: true,
  history: true,
  diff: true,
  set: true,
  delete: true,
  rollback: true,
  propose: true,
  approve: true,
  reject: true,
  cancel: true,
  apply: true,
  applyDue: true,
  getRequest: true,
  listRequests: true,
  createEnvironment: true,
  updateEnvironment: true,
  listEnvironments: true,
  registerSchema: true,
  publishSchema: true,
  getSchema: true,
  listSchemas: true,
  validateDocument: true,
  putPolicy: true,
  getPolicy: true,
  listPolicies: true,
  audit: true,
  verifyAudit: true,
  resignHeads: true,
  checkpointAudit: true,
  recordEvent: true,
  exportAll: true,
  importAll: true,
};

/**
 * Creates the change service. Options are validated now (the bad one is named); nothing is read or
 * written until the first call.
 */
export function createConfigService(options: ConfigServiceOptions): ConfigService {
  const ctx = createServiceContext(options);
  let methods: ServiceMethods | undefined;
  let loading: Promise<ServiceMethods> | undefined;
  const load = () => {
    loading ??= import('./areas.js').then((areas) => {
      methods = areas.serviceMethods(ctx);
      return methods;
    });
    return loading;
  };
  const service: Record<string, unknown> = {
    schemas: ctx.schemas,
    signerKeyId: ctx.signer?.keyId,

    close() {
      return ctx.lifecycle.close(() => {});
    },

    [Symbol.asyncDispose]() {
      return ctx.lifecycle.close(() => {});
    },
  };
  for (const name of Object.keys(METHODS) as (keyof ServiceMethods)[]) {
    service[name] = (...args: unknown[]): Promise<unknown> => {
      if (methods) return (methods[name] as Method)(...args);
      return load().then((loaded) => (loaded[name] as Method)(...args));
    };
  }
  return service as unknown as ConfigService;
}
