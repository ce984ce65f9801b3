/**
 * The change service's methods, by area (reads, writes, requests, admin, signing), over one shared
 * context. Loaded by `createConfigService` (service.ts) at a service's first call, so that importing
 * the package does not load the change service's modules.
 */
import { adminMethods } from './admin.js';
import { changeSteps } from './changes.js';
import type { ServiceContext } from './context.js';
import { readMethods } from './reads.js';
import { requestMethods } from './requests.js';
import { signingMethods } from './signing.js';
import type { ConfigService } from './types.js';
import { writeMethods } from './writes.js';

/** What a service does besides `schemas`, `signerKeyId` and `close` (which service.ts answers itself). */
export type ServiceMethods = Omit<ConfigService, 'schemas' | 'signerKeyId' | 'close' | typeof Symbol.asyncDispose>;

/** The methods of the service over `ctx`. */
export function serviceMethods(ctx: ServiceContext): ServiceMethods {
  const steps = changeSteps(ctx);
  return {
    ...readMethods(ctx),
    ...writeMethods(ctx, steps),
    ...requestMethods(ctx, steps),
    ...adminMethods(ctx, steps),
    ...signingMethods(ctx),
  };
}
