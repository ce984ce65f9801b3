/**
 * Helpers of the rotation tests: a change service, a store and policy storage over one of three
 * backings (see backings.ts), a clock the tests move; providers that count (and can fail) the
 * calls rotation makes; a webhook receiver.
 */

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPgliteClient } from '@summit-config/backends/pglite';
import type { Actor, ConfigService, ConfigStore, Environment, GovernanceStore, Rbac } from '@summit-config/core';
import { createConfigService, createRbac } from '@summit-config/core';
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
import { type Backing, storage } from './backings.js';
import { actors as people } from './builders.js';
import { TestClock } from './clock.js';
import { adminPool } from './sql.js';

export const RBAC = {
  roles: {
    // What the agent's rotation job acts as.
    'rotation-agent': ['secrets:rotate', 'config:write', 'config:read'],
    'rotation-no-write': ['secrets:rotate', 'config:read'],
  },
};

export const actors = {
  agent: { id: 'rotation-agent', roles: ['rotation-agent'] } as Actor,
  secrets: people.secrets,
  admin: people.alice,
  reader: people.reader,
  nobody: people.nobody,
};

export const ENVIRONMENTS: Environment[] = [
  { name: 'development', production: false },
  // Guarded (one approval); the first write of a ref is an emergency change, which production must allow.
  { name: 'production', production: true, approvalPolicy: { requiredApprovals: 1, allowEmergency: true } },
];

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

export async function rotationHarness(backing: Backing): Promise<RotationHarness> {
  // Starts at the real time so ISO stamps look sane.
  const clock = new TestClock(Date.now());
  const rbac = createRbac(RBAC);
  const managers: RotationManager[] = [];
  const s = await storage(backing, { tag: backing === 'pglite' ? 'rotl' : 'rot' });
  const { schema } = s;
  const { store, governance } = s.stores();
  const migrator = store as { migrate(): Promise<unknown> };
  const policies =
    backing === 'memory'
      ? createMemoryRotationPolicies()
      : s.pglite
        ? createSqlRotationPolicies({ sql: createPgliteClient({ pglite: s.pglite }), schema, kind: 'pglite', migrator })
        : createSqlRotationPolicies({ sql: sqlFromPgPool(adminPool()), schema, migrator });
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
    sql: s.sql,
    async close() {
      await Promise.allSettled(managers.map((m) => m.close()));
      await service.close();
      await policies.close();
      await store.close();
      await governance.close();
      await s.drop();
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
  // Counts the call, fails it when a fault is due, runs the `after` hook once it succeeded.
  const counted =
    <A extends unknown[], R>(method: keyof typeof calls, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      calls[method]++;
      guard(method);
      const result = await fn(...args);
      afters.get(method)?.();
      return result;
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
    create: counted('create', inner.create.bind(inner)),
    read: counted('read', inner.read.bind(inner)),
    write: counted('write', inner.write.bind(inner)),
    promote: counted('promote', inner.promote.bind(inner)),
    revoke: counted('revoke', inner.revoke.bind(inner)),
    listVersions: counted('listVersions', inner.listVersions.bind(inner)),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return wrapper;
}

/** The events of a rotation run that went through, in order (`step` events aside). */
export const RUN_EVENTS = ['started', 'written', 'promoted', 'bumped', 'revoked', 'completed'];

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
