/**
 * Helpers for the change-service tests: a service over one of three backings (memory, the real
 * PostgreSQL server, embedded PGlite), each in a fresh schema, with a controllable clock and raw SQL
 * access behind the service's back.
 */
import { randomBytes } from 'node:crypto';
import { createMemoryStore } from '@summit-config/backends';
import { createPgliteGovernance, createPgliteStore, openPglite } from '@summit-config/backends/pglite';
import { createPostgresGovernance, createPostgresStore } from '@summit-config/backends/postgres';
import {
  type Actor,
  type ConfigService,
  type ConfigStore,
  createConfigService,
  createMemoryGovernance,
  createRbac,
  type Environment,
  type GovernanceStore,
  isConfigError,
  type RbacDefinition,
} from '@summit-config/core';
import pg from 'pg';
import { services } from '../helpers/services.js';

export type Backing = 'memory' | 'postgres' | 'pglite';
export const BACKINGS: readonly Backing[] = ['memory', 'postgres', 'pglite'];

/** Quotes an identifier (test-side copy, so tests do not trust the code under test). */
export function q(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function freshSchema(tag = 'svc'): string {
  return `summit_${tag}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** A clock tests move by hand. */
export class TestClock {
  #t: number;
  constructor(start = '2030-01-01T00:00:00.000Z') {
    this.#t = Date.parse(start);
  }
  now = (): Date => new Date(this.#t);
  advanceHours(h: number): void {
    this.#t += h * 3_600_000;
  }
  advanceMs(ms: number): void {
    this.#t += ms;
  }
}

export const RBAC: RbacDefinition = {
  roles: {
    superuser: ['*'],
    agent: ['approval:apply', 'config:read'],
    sre: { permissions: ['approval:approve', 'config:read'] },
  },
  bindings: [{ users: ['root'], roles: ['superuser'] }],
};

export const actors = {
  root: { id: 'root' } as Actor,
  alice: { id: 'alice', roles: ['config-admin'] } as Actor,
  bob: { id: 'bob', roles: ['config-admin'] } as Actor,
  carol: { id: 'carol', roles: ['config-admin'] } as Actor,
  dave: { id: 'dave', roles: ['sre'] } as Actor,
  reader: { id: 'rita', roles: ['config-reader'] } as Actor,
  secrets: { id: 'sam', roles: ['secrets-admin'] } as Actor,
  agent: { id: 'agent', roles: ['agent'] } as Actor,
  nobody: { id: 'nobody', roles: [] } as Actor,
};

export const ENVIRONMENTS: Environment[] = [
  { name: 'development', production: false },
  { name: 'staging', production: false },
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 2, expiresAfterHours: 24 } },
  { name: 'production-eu', parent: 'production', production: true },
];

let admin: pg.Pool | undefined;
export function adminPool(): pg.Pool {
  if (!admin) {
    admin = new pg.Pool({ connectionString: services().databaseUrl, max: 3, connectionTimeoutMillis: 10_000 });
    admin.on('error', () => {});
  }
  return admin;
}

type PGlite = Awaited<ReturnType<typeof openPglite>>;
let sharedPglite: Promise<PGlite> | undefined;
/** One in-memory PGlite per test file (each service gets its own schema in it). */
export function pglite(): Promise<PGlite> {
  sharedPglite ??= openPglite();
  return sharedPglite;
}

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
  const make = (store: ConfigStore, governance: GovernanceStore) =>
    createConfigService({ store, governance, rbac, clock: clock.now, environments: options.environments });
  if (backing === 'memory') {
    const store = createMemoryStore();
    const governance = createMemoryGovernance();
    return {
      backing,
      service: make(store, governance),
      store,
      governance,
      clock,
      schema: undefined,
      async sql() {
        throw new Error('no SQL on the memory backing');
      },
      async twin() {
        return { service: make(store, governance), close: async () => {} };
      },
      async close() {
        await store.close();
        await governance.close();
      },
    };
  }
  const schema = options.schema ?? freshSchema();
  if (backing === 'postgres') {
    const url = services().databaseUrl;
    const store = createPostgresStore({ connectionString: url, schema });
    const governance = createPostgresGovernance({ connectionString: url, schema });
    return {
      backing,
      service: make(store, governance),
      store,
      governance,
      clock,
      schema,
      async sql<R>(text: string, params: unknown[] = []) {
        return (await adminPool().query(text, params)).rows as R[];
      },
      async twin() {
        const s2 = createPostgresStore({ connectionString: url, schema });
        const g2 = createPostgresGovernance({ connectionString: url, schema });
        return {
          service: make(s2, g2),
          close: async () => {
            await s2.close();
            await g2.close();
          },
        };
      },
      async close() {
        await store.close();
        await governance.close();
        await adminPool().query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
      },
    };
  }
  const db = await pglite();
  const store = createPgliteStore({ pglite: db, schema });
  const governance = createPgliteGovernance({ pglite: db, schema });
  return {
    backing,
    service: make(store, governance),
    store,
    governance,
    clock,
    schema,
    async sql<R>(text: string, params: unknown[] = []) {
      return (await db.query<R>(text, params)).rows;
    },
    async twin() {
      const s2 = createPgliteStore({ pglite: db, schema });
      const g2 = createPgliteGovernance({ pglite: db, schema });
      return {
        service: make(s2, g2),
        close: async () => {
          await s2.close();
          await g2.close();
        },
      };
    },
    async close() {
      await store.close();
      await governance.close();
      await db.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
    },
  };
}

/** Closes the shared pools of a test file. */
export async function closeShared(): Promise<void> {
  const pool = admin;
  admin = undefined;
  await pool?.end();
  const db = sharedPglite;
  sharedPglite = undefined;
  if (db) await (await db).close();
}

/** The error code a promise rejects with, or `resolved`. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    if (isConfigError(error)) return error.code;
    throw error;
  }
}
