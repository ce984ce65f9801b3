/**
 * The change service's shared context: the validated options (store, governance storage, RBAC, schema
 * registry, clock, default audit source) and the helpers every area uses (open check and actor check,
 * authorisation, audit events, environment seeding, version reads). Created once per service by
 * `createConfigService`; the reads, writes, requests and admin areas receive it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditAnchor } from '../audit/anchor.js';
import { signAuditInput } from '../audit/signing.js';
import type { AuditInput, AuditSource } from '../audit/types.js';
import { BackendUnavailableError, type ConfigError, errors } from '../errors/config-error.js';
import { type Environment, validateEnvironments } from '../model/environment.js';
import { isPlainObject, type JsonObject } from '../model/json.js';
import { type ConfigRef, refKey, type Scope } from '../model/ref.js';
import { type ConfigVersion, DEFAULT_MAX_DOCUMENT_BYTES } from '../model/version.js';
import type { Permission } from '../rbac/permissions.js';
import { type Actor, checkActor, type Rbac } from '../rbac/rbac.js';
import { SchemaRegistry } from '../schema/registry.js';
import type { ConfigStore } from '../store/config-store.js';
import { type GovernanceStore, governanceSchemaPersistence } from '../store/governance.js';
import { createTrustRoot, type Signer, type TrustRoot } from '../trust/keys.js';
import { Lifecycle } from '../util/lifecycle.js';
import { checkEnvironmentInput, checkSource, optionsObject } from './inputs.js';
import type { CallOptions, ConfigServiceOptions } from './types.js';

/** Who registers a schema, carried into the registry's persistence hook. */
export interface SchemaAuditContext {
  actor: Actor;
  source: AuditSource;
  recorded: boolean;
}

export interface ServiceContext {
  readonly store: ConfigStore;
  readonly governance: GovernanceStore;
  readonly rbac: Rbac;
  readonly schemas: SchemaRegistry;
  /** Set while a schema registration runs, so its audit event is stored with the schema. */
  readonly schemaAudit: AsyncLocalStorage<SchemaAuditContext>;
  readonly lifecycle: Lifecycle;
  readonly defaultSource: AuditSource;
  readonly limits: { maxDocumentBytes: number };
  /** The writer key, when the service signs. */
  readonly signer: Signer | undefined;
  /** The keys the service verifies with (default: the signer's own key). */
  readonly trust: TrustRoot | undefined;
  readonly auditAnchors: readonly AuditAnchor[];
  /** The clock's time; `CONSTRAINT_VIOLATION` when it returns no valid Date. */
  now(): Date;
  /** The service is open and the actor well formed; returns the checked actor. */
  begin(actorInput: Actor): Actor;
  /** Throws `ACCESS_DENIED` unless the actor holds the permission (on the ref or scope when given). */
  authorize(actor: Actor, permission: Permission, ref?: ConfigRef | { scope: Scope }): void;
  /** The audit `source` of a call's options (the service's default when they name none). */
  callSource(options: CallOptions | undefined, what: string): AuditSource;
  /**
   * Everything `load` returns with an unscoped `permission`; otherwise the items of the scopes the
   * actor holds it on (none of them: `ACCESS_DENIED`).
   */
  visibleTo<T>(
    actor: Actor,
    permission: Permission,
    load: () => Promise<T[]>,
    scopeOf: (item: T) => Scope,
  ): Promise<T[]>;
  event(
    actor: Actor | string,
    action: string,
    fields: Omit<AuditInput, 'at' | 'actor' | 'action' | 'source'>,
    source: AuditSource,
  ): AuditInput;
  /** `input` signed with the writer key (unchanged without one): every event is signed here or in `event`. */
  signAudit(input: AuditInput): AuditInput;
  /** Creates the environments of the options that are missing (once; retried after a failure). */
  ready(): Promise<void>;
  /**
   * The environments, read from the governance storage, or the list read at most `maxAgeMs` ago
   * (default 0: always read). The service's own environment writes (and imports) drop the kept list.
   */
  environmentMap(maxAgeMs?: number): Promise<Map<string, Environment>>;
  /** The version, read consistently; `NOT_FOUND` naming the store when it does not exist. */
  readVersion(ref: ConfigRef, version: number): Promise<ConfigVersion>;
  /** The error of a version that was written but whose audit event could not be stored. */
  writtenButNotAudited(written: ConfigVersion, error: unknown): ConfigError;
}

/** Validates the options (the bad one is named) and builds the context; nothing is read or written. */
export function createServiceContext(options: ConfigServiceOptions): ServiceContext {
  if (!isPlainObject(options)) throw errors.constraint('config service options are required');
  const { store, rbac } = options;
  if (!store || typeof store.append !== 'function' || typeof store.getHead !== 'function') {
    throw errors.constraint('config service option store must be a ConfigStore');
  }
  if (
    !options.governance ||
    typeof options.governance.appendAudit !== 'function' ||
    typeof options.governance.updateRequest !== 'function'
  ) {
    throw errors.constraint('config service option governance must be a GovernanceStore');
  }
  const environments = new EnvironmentCache();
  const governance = environments.watching(options.governance);
  if (!rbac || typeof rbac.check !== 'function' || typeof rbac.rolesOf !== 'function') {
    throw errors.constraint('config service option rbac must be an Rbac (createRbac or loadRbacFile)');
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw errors.constraint('config service option clock must be a function returning a Date');
  }
  if (options.schemas !== undefined && !(options.schemas instanceof SchemaRegistry)) {
    throw errors.constraint('config service option schemas must be a SchemaRegistry');
  }
  const defaultSource = checkSource(options.source, 'api');
  const maxDocumentBytes = options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  if (!Number.isSafeInteger(maxDocumentBytes) || maxDocumentBytes < 1) {
    throw errors.constraint('config service option maxDocumentBytes must be a positive integer');
  }
  const limits = { maxDocumentBytes };
  const { signer, trust } = trustOptions(options);
  const auditAnchors = options.auditAnchors ?? [];
  if (
    !Array.isArray(auditAnchors) ||
    auditAnchors.some((a) => typeof a?.read !== 'function' || typeof a.write !== 'function')
  )
    throw errors.constraint('config service option auditAnchors must be a list of AuditAnchor');
  const seed = (options.environments ?? []).map((e, i) => checkEnvironmentInput(e, `option environments[${i}]`));
  validateEnvironments(seed);
  const clock = options.clock ?? (() => new Date());
  const lifecycle = new Lifecycle('config service');

  function now(): Date {
    const d = clock();
    if (!(d instanceof Date) || Number.isNaN(d.getTime()))
      throw errors.constraint('the service clock returned no valid Date');
    return d;
  }

  // Schema registrations record their audit event in the same step as the schema (AsyncLocalStorage
  // carries the caller into the registry's persistence hook).
  const schemaAudit = new ScopedStorage<SchemaAuditContext>();
  const schemas =
    options.schemas ??
    new SchemaRegistry({
      persistence: governanceSchemaPersistence(governance, (id, version, schema) => {
        const ctx = schemaAudit.getStore();
        if (!ctx) return undefined;
        ctx.recorded = true;
        // The same event as every other (impersonation named, a server request's origin kept, signed).
        return event(
          ctx.actor,
          'schema.register',
          { message: `schema ${id} v${version}`, changes: [{ op: 'add', path: '', value: schema }] },
          ctx.source,
        );
      }),
    });

  function begin(actorInput: Actor): Actor {
    lifecycle.assertOpen();
    return checkActor(actorInput);
  }

  function authorize(actor: Actor, permission: Permission, ref?: ConfigRef | { scope: Scope }): void {
    const key = ref && 'id' in ref ? refKey(ref) : undefined;
    rbac.check(actor, permission, ref ? { scope: ref.scope, ref: key } : {});
  }

  function event(
    actor: Actor | string,
    action: string,
    fields: Omit<AuditInput, 'at' | 'actor' | 'action' | 'source'>,
    source: AuditSource,
  ): AuditInput {
    const input: AuditInput = {
      at: now().toISOString(),
      actor: typeof actor === 'string' ? actor : actor.id,
      action,
      source,
      ...fields,
    };
    // The event's actor is the id acted under; the principal that impersonated it is named too.
    if (typeof actor !== 'string' && actor.impersonatedBy !== undefined) {
      input.message = `${input.message} [impersonated by ${actor.impersonatedBy}]`;
    }
    // A server's request: where it came from (checked with the actor, so never refused here).
    if (typeof actor !== 'string' && actor.origin !== undefined) input.origin = actor.origin;
    // Signed last, over the fields exactly as they will be stored.
    return signAudit(input);
  }

  function signAudit(input: AuditInput): AuditInput {
    return signAuditInput(input, signer);
  }

  let seeding: Promise<void> | undefined;
  function ready(): Promise<void> {
    if (seed.length === 0) return Promise.resolve();
    seeding ??= governance
      .updateEnvironments((current) => {
        const missing = seed.filter((e) => !current.some((c) => c.name === e.name));
        if (missing.length === 0) return undefined;
        validateEnvironments([...current, ...missing]);
        return {
          value: missing,
          audit: event(
            'system',
            'environment.seed',
            {
              message: `environments from the service options: ${missing.map((e) => e.name).join(', ')}`,
              changes: missing.map((e) => ({
                op: 'add' as const,
                path: `/${e.name}`,
                value: e as unknown as JsonObject,
              })),
            },
            defaultSource,
          ),
        };
      })
      .then(
        () => undefined,
        (error: unknown) => {
          seeding = undefined;
          throw error;
        },
      );
    return seeding;
  }

  async function environmentMap(maxAgeMs = 0): Promise<Map<string, Environment>> {
    await ready();
    return environments.get(maxAgeMs, async () => validateEnvironments(await governance.listEnvironments()));
  }

  async function readVersion(ref: ConfigRef, version: number): Promise<ConfigVersion> {
    const doc = await store.getVersion(ref, version, { consistent: true });
    if (!doc) {
      // Name what the store is to the user (the configuration store), not its implementation ("failover").
      const where = store.capabilities.tiered ? 'the configuration store' : `the ${store.name} store`;
      throw errors.notFound(`${refKey(ref)} v${version} does not exist in ${where}`, {
        ref: refKey(ref),
        version,
        backend: store.name,
      });
    }
    return doc;
  }

  function writtenButNotAudited(written: ConfigVersion, error: unknown): ConfigError {
    const key = refKey(written.ref);
    return new BackendUnavailableError(
      `${key} v${written.version} was written, but its audit event could not be recorded: ${(error as Error)?.message ?? String(error)}`,
      [{ backend: governance.name, error }],
      { ref: key, version: written.version },
    );
  }

  function callSource(opts: CallOptions | undefined, what: string): AuditSource {
    return checkSource(optionsObject(opts, what).source, defaultSource);
  }

  async function visibleTo<T>(
    actor: Actor,
    permission: Permission,
    load: () => Promise<T[]>,
    scopeOf: (item: T) => Scope,
  ): Promise<T[]> {
    if (rbac.can(actor, permission)) return load();
    // Only scoped bindings: what the actor may see.
    const visible = (await load()).filter((item) => rbac.can(actor, permission, scopeOf(item)));
    if (visible.length === 0) authorize(actor, permission);
    return visible;
  }

  return {
    store,
    governance,
    rbac,
    schemas,
    schemaAudit,
    lifecycle,
    defaultSource,
    limits,
    signer,
    trust,
    auditAnchors,
    now,
    begin,
    authorize,
    callSource,
    visibleTo,
    event,
    signAudit,
    ready,
    environmentMap,
    readVersion,
    writtenButNotAudited,
  };
}

/**
 * An AsyncLocalStorage enabled only while a `run` is under way. On Node before 24, an enabled
 * storage installs promise hooks that every promise of the process pays for until it is disabled:
 * a schema registration must not slow every later write down.
 */
class ScopedStorage<T> extends AsyncLocalStorage<T> {
  #running = 0;

  override run<R, A extends unknown[]>(store: T, callback: (...args: A) => R, ...args: A): R {
    this.#running++;
    let result: R;
    try {
      result = super.run(store, callback, ...args);
    } catch (error) {
      this.#done();
      throw error;
    }
    if (result instanceof Promise) {
      result.then(
        () => this.#done(),
        () => this.#done(),
      );
    } else this.#done();
    return result;
  }

  #done(): void {
    if (--this.#running === 0) this.disable();
  }
}

/** GovernanceStore methods that may change the environments: a kept list is dropped around them. */
const ENVIRONMENT_WRITES: ReadonlySet<PropertyKey> = new Set(['updateEnvironments', 'importSnapshot']);

/**
 * The environments last read, and when. A read started before the service changed the environments
 * never becomes the kept list (generations), and concurrent callers share one read.
 */
class EnvironmentCache {
  #kept: { map: Map<string, Environment>; at: number } | undefined;
  #reading: { promise: Promise<Map<string, Environment>>; generation: number } | undefined;
  #generation = 0;

  get(maxAgeMs: number, read: () => Promise<Map<string, Environment>>): Promise<Map<string, Environment>> {
    const kept = this.#kept;
    if (maxAgeMs > 0 && kept && performance.now() - kept.at <= maxAgeMs) return Promise.resolve(kept.map);
    if (maxAgeMs > 0 && this.#reading?.generation === this.#generation) return this.#reading.promise;
    const generation = this.#generation;
    const at = performance.now();
    const promise = read();
    const reading = { promise, generation };
    this.#reading = reading;
    const settle = () => {
      if (this.#reading === reading) this.#reading = undefined;
    };
    promise.then((map) => {
      settle();
      if (generation === this.#generation && (!this.#kept || this.#kept.at <= at)) this.#kept = { map, at };
    }, settle);
    return promise;
  }

  /** Drops the kept list (and what is being read). */
  invalidate(): void {
    this.#generation++;
    this.#kept = undefined;
  }

  /** `governance`, whose environment writes drop the kept list before and after they run. */
  watching(governance: GovernanceStore): GovernanceStore {
    const bound = new Map<PropertyKey, unknown>();
    return new Proxy(governance, {
      get: (target, property) => {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== 'function') return value;
        let fn = bound.get(property);
        if (fn === undefined || (fn as { original?: unknown }).original !== value) {
          const f = value as (...args: unknown[]) => unknown;
          const wrapped = ENVIRONMENT_WRITES.has(property)
            ? (...args: unknown[]) => {
                this.invalidate();
                const done = () => this.invalidate();
                try {
                  const out = f.apply(target, args);
                  if (out instanceof Promise) return out.finally(done);
                  done();
                  return out;
                } catch (error) {
                  done();
                  throw error;
                }
              }
            : f.bind(target);
          fn = Object.assign(wrapped, { original: value });
          bound.set(property, fn);
        }
        return fn;
      },
    });
  }
}

/** The signer and trust root of the options; the trust root defaults to the signer's own key. */
function trustOptions(options: ConfigServiceOptions): { signer: Signer | undefined; trust: TrustRoot | undefined } {
  const { signer, trust } = options;
  if (signer !== undefined && (typeof signer?.sign !== 'function' || typeof signer.keyId !== 'string'))
    throw errors.constraint('config service option signer must be a Signer (createSigner)');
  if (trust !== undefined && (typeof trust?.check !== 'function' || !Array.isArray(trust.keys)))
    throw errors.constraint('config service option trust must be a TrustRoot (createTrustRoot)');
  if (trust !== undefined || signer === undefined) return { signer, trust };
  return {
    signer,
    trust: signer.publicKey !== undefined ? createTrustRoot([{ publicKey: signer.publicKey }]) : undefined,
  };
}
