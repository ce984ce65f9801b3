/**
 * The change-service harness: a service over one of three backings (see backings.ts), each in a fresh
 * schema, with a controllable clock and raw SQL access behind the service's back.
 */
import {
  type ConfigService,
  type ConfigStore,
  createConfigService,
  createRbac,
  type Environment,
  type GovernanceStore,
  type RbacDefinition,
} from '@summit-config/core';
import { type Backing, type StorePair, storage } from './backings.js';
import { TestClock } from './clock.js';

// What the service tests use besides the harness, from one place.
export { BACKINGS, type Backing } from './backings.js';
export { closeShared, q } from './sql.js';

export const RBAC: RbacDefinition = {
  roles: {
    superuser: ['*'],
    agent: ['approval:apply', 'config:read'],
    sre: { permissions: ['approval:approve', 'config:read'] },
  },
  bindings: [{ users: ['root'], roles: ['superuser'] }],
};

export const ENVIRONMENTS: Environment[] = [
  { name: 'development', production: false },
  { name: 'staging', production: false },
  {
    name: 'production',
    production: true,
    approvalPolicy: { requiredApprovals: 2, expiresAfterHours: 24, allowEmergency: true },
  },
  {
    name: 'production-eu',
    parent: 'production',
    production: true,
    approvalPolicy: { requiredApprovals: 1, allowEmergency: true },
  },
];

export interface Harness {
  backing: Backing;
  service: ConfigService;
  store: ConfigStore;
  governance: GovernanceStore;
  clock: TestClock;
  schema: string | undefined;
  /** Raw SQL behind the service's back (postgres and pglite only). */
  sql<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /** A second service on the same storage (another process's view), for concurrency tests. */
  twin(): Promise<{ service: ConfigService; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  environments?: Environment[];
  rbac?: RbacDefinition;
  /** Reuse this schema (postgres/pglite), e.g. to import into a second, empty one. */
  schema?: string;
}

export async function harness(backing: Backing, options: HarnessOptions = {}): Promise<Harness> {
  const clock = new TestClock();
  const rbac = createRbac(options.rbac ?? RBAC);
  const s = await storage(backing, { schema: options.schema, tag: 'svc' });
  const make = ({ store, governance }: StorePair) =>
    createConfigService({ store, governance, rbac, clock: clock.now, environments: options.environments });
  const closePair = async ({ store, governance }: StorePair) => {
    await store.close();
    await governance.close();
  };
  const main = s.stores();
  return {
    backing,
    service: make(main),
    store: main.store,
    governance: main.governance,
    clock,
    schema: s.schema,
    sql: s.sql,
    async twin() {
      const pair = s.stores();
      return { service: make(pair), close: async () => (pair === main ? undefined : closePair(pair)) };
    },
    async close() {
      await closePair(main);
      await s.drop();
    },
  };
}

/** Runs `fn` on a new harness, and closes the harness after, whatever happens. */
export async function withHarness(
  backing: Backing,
  fn: (h: Harness) => Promise<void>,
  options: HarnessOptions = {},
): Promise<void> {
  const h = await harness(backing, options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}
