/**
 * Helpers of the rotation tests: a change service, a store and policy storage over one of three
 * backings (memory; the real PostgreSQL server; embedded PGlite), each in a fresh schema; a clock
 * the tests move; providers that count (and can fail) the calls rotation makes; a webhook receiver.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  type Rbac,
} from '@summit-config/core';
import {
  createMemoryRotationPolicies,
  createRotationManager,
  createSqlRotationPolicies,
  type RotationEvent,
  type RotationManager,
  type RotationManagerOptions,
  type RotationPolicyStore,
  SecretError,
  type SecretProvider,
  SecretResolver,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { freshSchema, pgPool, quoteIdent, type TestPool } from './helpers.js';

export type Backing = 'memory' | 'postgres' | 'pglite';

export const RBAC = {
  roles: {
    // What the agent's rotation job acts as.
    'rotation-agent': ['secrets:rotate', 'config:write', 'config:read'],
    'rotation-no-write': ['secrets:rotate', 'config:read'],
  },
};

export const actors = {
  agent: { id: 'rotation-agent', roles: ['rotation-agent'] } as Actor,
  secrets: { id: 'sam', roles: ['secrets-admin'] } as Actor,
  admin: { id: 'alice', roles: ['config-admin'] } as Actor,
  reader: { id: 'rita', roles: ['config-reader'] } as Actor,
  nobody: { id: 'nobody', roles: [] } as Actor,
};

export const ENVIRONMENTS: Environment[] = [
  { name: 'development', production: false },
  { name: 'production', production: true },
];

/** A clock tests move by hand (starts at the real time so ISO stamps look sane). */
export class TestClock {
  #t = Date.now();
  now = (): Date => new Date(this.#t);
  advance(ms: number): void {
    this.#t += ms;
  }
}

export interface RotationHarness {
  backing: Backing;
  store: ConfigStore;
  governance: GovernanceStore;
  service: ConfigService;
  rbac: Rbac;
  policies: RotationPolicyStore;
  clock: TestClock;
  schema: string | undefined;
  /** A new runner object over the same storage (another process after a crash). */
  manager(providers: SecretProvider[], extra?: Partial<RotationManagerOptions>): RotationManager;
  /** Raw SQL behind everyone's back (postgres and pglite). */
  sql<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

let pool: TestPool | undefined;
async function sharedPool(): Promise<TestPool> {
  pool ??= await pgPool(6);
  return pool;
}

type Pglite = Awaited<ReturnType<typeof openPglite>>;
let lite: Promise<Pglite> | undefined;

/** Closes the shared pool and PGlite of a test file. */
export async function closeSharedDatabases(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.end();
  const l = lite;
  lite = undefined;
  if (l) await (await l).close();
}

export async function rotationHarness(backing: Backing): Promise<RotationHarness> {
  const clock = new TestClock();
  const rbac = createRbac(RBAC);
  const managers: RotationManager[] = [];
  let store: ConfigStore;
  let governance: GovernanceStore;
  let policies: RotationPolicyStore;
  let schema: string | undefined;
  let sql: RotationHarness['sql'] = async () => {
    throw new Error('no SQL on the memory backing');
  };
  let drop = async () => {};
  if (backing === 'memory') {
    store = createMemoryStore();
    governance = createMemoryGovernance();
    policies = createMemoryRotationPolicies();
  } else if (backing === 'postgres') {
    schema = freshSchema('rot');
    const url = process.env.DATABASE_URL as string;
    const pgStore = createPostgresStore({ connectionString: url, schema });
    store = pgStore;
    governance = createPostgresGovernance({ connectionString: url, schema });
    const p = await sharedPool();
    policies = createSqlRotationPolicies({ sql: sqlFromPgPool(p), schema, migrator: pgStore });
    sql = async (text, params) => (await p.query(text, params)).rows as never;
    const s = schema;
    drop = async () => {
      await p.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
    };
  } else {
    schema = freshSchema('rotl');
    lite ??= openPglite();
    const db = await lite;
    const liteStore = createPgliteStore({ pglite: db, schema });
    store = liteStore;
    governance = createPgliteGovernance({ pglite: db, schema });
    policies = createSqlRotationPolicies({ sql: db, schema, kind: 'pglite', migrator: liteStore });
    sql = async (text, params) => (await db.query(text, params)).rows as never;
    const s = schema;
    drop = async () => {
      await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
    };
  }
  const service = createConfigService({ store, governance, rbac, environments: ENVIRONMENTS });
  return {
    backing,
    store,
    governance,
    service,
    rbac,
    policies,
    clock,
    schema,
    manager(providers, extra = {}) {
      const m = createRotationManager({
        policies,
        providers,
        service,
        store,
        rbac,
        actor: actors.agent,
        clock: clock.now,
        retry: { maxAttempts: 3, baseMs: 1_000, maxMs: 10_000 },
        leaseMs: 60_000,
        ...extra,
      });
      managers.push(m);
      return m;
    },
    sql,
    async close() {
      await Promise.allSettled(managers.map((m) => m.close()));
      await service.close();
      await policies.close();
      await store.close();
      await governance.close();
      await drop();
    },
  };
}

/** Calls of each provider method, and faults to inject. Wraps a real provider; the inner one is closed with it. */
export interface CountingProvider extends SecretProvider {
  readonly calls: Record<'create' | 'read' | 'write' | 'promote' | 'revoke' | 'listVersions', number>;
  /** Make the next `times` calls of `method` fail with a SECRET_PROVIDER `unavailable` error (Infinity: always). */
  failNext(method: 'write' | 'promote' | 'revoke' | 'read' | 'listVersions', times?: number): void;
  /** Runs after the real call of `method` succeeded (before the result is returned). */
  after(method: 'write' | 'promote' | 'revoke', fn: (() => void) | undefined): void;
}

export function countingProvider(inner: SecretProvider): CountingProvider {
  const calls = { create: 0, read: 0, write: 0, promote: 0, revoke: 0, listVersions: 0 };
  const faults = new Map<string, number>();
  const afters = new Map<string, () => void>();
  const guard = (method: string) => {
    const left = faults.get(method) ?? 0;
    if (left > 0) {
      faults.set(method, left - 1);
      throw new SecretError('SECRET_PROVIDER', 'unavailable', `provider "${inner.name}": injected outage`, {
        provider: inner.name,
      });
    }
  };
  const wrapper: CountingProvider = {
    name: inner.name,
    kind: inner.kind,
    capabilities: inner.capabilities,
    calls,
    failNext(method, times = 1) {
      faults.set(method, times);
    },
    after(method, fn) {
      if (fn) afters.set(method, fn);
      else afters.delete(method);
    },
    async create(name, value, options) {
      calls.create++;
      return inner.create(name, value, options);
    },
    async read(name, selector, options) {
      calls.read++;
      guard('read');
      return inner.read(name, selector, options);
    },
    async write(name, value, options) {
      calls.write++;
      guard('write');
      const r = await inner.write(name, value, options);
      afters.get('write')?.();
      return r;
    },
    async promote(name, version, options) {
      calls.promote++;
      guard('promote');
      const r = await inner.promote(name, version, options);
      afters.get('promote')?.();
      return r;
    },
    async revoke(name, version, options) {
      calls.revoke++;
      guard('revoke');
      await inner.revoke(name, version, options);
      afters.get('revoke')?.();
    },
    async listVersions(name, options) {
      calls.listVersions++;
      guard('listVersions');
      return inner.listVersions(name, options);
    },
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return wrapper;
}

/** Records every event of a manager. */
export function recordEvents(manager: RotationManager): RotationEvent[] {
  const events: RotationEvent[] = [];
  manager.on('*', (e) => events.push(e));
  return events;
}

/** A webhook receiver on 127.0.0.1: every POST body, parsed. `status` is what it answers. */
export interface WebhookReceiver {
  readonly url: string;
  readonly bodies: unknown[];
  readonly raw: string[];
  status: number;
  close(): Promise<void>;
}

export async function webhookReceiver(options: { hang?: boolean } = {}): Promise<WebhookReceiver> {
  const bodies: unknown[] = [];
  const raw: string[] = [];
  const receiver = {
    url: '',
    bodies,
    raw,
    status: 204,
    close: async () => {},
  };
  const server: Server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    raw.push(text);
    bodies.push(JSON.parse(text));
    if (options.hang) return;
    res.writeHead(receiver.status).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  receiver.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return receiver;
}

/** A resolver over `providers` (the client's, in the tests that run one). */
export function resolverOf(providers: SecretProvider[]): SecretResolver {
  return new SecretResolver({ providers, ttlMs: 60_000 });
}

/** Polls `check` until it holds (a liveness bound, not a timing assertion). */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
