/**
 * The server tests' helpers: a real authenticator over static bearer secrets (each mapped to an
 * actor), a change service harness (memory or PostgreSQL) and the server over it. Every response
 * the harness's `app.inject` returns is checked against the OpenAPI document the server serves
 * (`openapi-check.ts`): a response that does not match it fails the test.
 */
import type { Actor, Environment, RbacDefinition } from '@summit-config/core';
import { ConfigError } from '@summit-config/core';
import { type Backing, ENVIRONMENTS, type Harness, harness } from '@summit-config/test-support/service';
import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../src/auth.js';
import { type ConfigServerOptions, createConfigServer } from '../src/index.js';
import { type ValidatedApp, validateResponses } from './openapi-check.js';

export { OpenApiChecker, OpenApiViolation, validateResponses } from './openapi-check.js';

/** Bearer secret -> actor. */
export const TOKENS: Record<string, Actor> = {
  'root-secret': { id: 'root', roles: ['superuser'], kind: 'token', credential: 'token:t-root' },
  'alice-secret': { id: 'alice', roles: ['superuser'], kind: 'token', credential: 'token:t-alice' },
  'bob-secret': { id: 'bob', roles: ['approver'], kind: 'token', credential: 'token:t-bob' },
  'carol-secret': { id: 'carol', roles: ['approver'], kind: 'token', credential: 'token:t-carol' },
  'reader-secret': { id: 'reader', roles: ['reader'], kind: 'token', credential: 'token:t-reader' },
};

export const SERVER_RBAC: RbacDefinition = {
  roles: {
    superuser: ['*'],
    approver: ['approval:approve', 'approval:apply', 'config:read', 'config:list'],
    reader: ['config:read', 'config:list', 'env:read', 'schema:read'],
  },
  bindings: [],
};

/** Static bearer secrets: a `Bearer` header with a known secret authenticates; an unknown one is refused. */
export function staticBearer(tokens: Record<string, Actor> = TOKENS): Authenticator {
  return async (request) => {
    const m = /^Bearer (\S+)$/.exec(request.authorization ?? '');
    if (!m) return undefined;
    const actor = tokens[m[1] as string];
    if (!actor) throw new ConfigError('ACCESS_DENIED', 'unknown bearer token');
    return { actor, method: 'token', tokenId: actor.credential?.replace(/^token:/, '') };
  };
}

export const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
export const ROOT = auth('root-secret');

export interface ServerHarness {
  h: Harness;
  /** Its `inject` validates every response against the served OpenAPI document. */
  app: FastifyInstance;
  /** The response checker (`checker()` is set after the first `inject`); set by `serverHarness`. */
  openapi?: ValidatedApp;
  close(): Promise<void>;
}

/** Environments without approval gates: writes apply at once. */
export const OPEN_ENVIRONMENTS: Environment[] = [
  { name: 'development', production: false },
  { name: 'staging', production: false, parent: 'development' },
];

/** With guarded production environments (`production` needs 2 approvals, `production-eu` 1). */
export const GUARDED_ENVIRONMENTS: Environment[] = ENVIRONMENTS;

export const ROOT_ACTOR = TOKENS['root-secret'] as Actor;

export async function serverHarness(
  backing: Backing = 'memory',
  options: Partial<ConfigServerOptions> = {},
  environments: Environment[] = OPEN_ENVIRONMENTS,
): Promise<ServerHarness> {
  const h = await harness(backing, { rbac: SERVER_RBAC, environments });
  const app = createConfigServer({ service: h.service, store: h.store, authenticators: [staticBearer()], ...options });
  const openapi = validateResponses(app, { host: options.allowedHosts?.[0] });
  return {
    h,
    app,
    openapi,
    async close() {
      await app.close();
      await h.service.close();
      await h.close();
    },
  };
}

/** The JSON body of a response. */
export function json<T = Record<string, unknown>>(res: { body: string }): T {
  return JSON.parse(res.body) as T;
}
