/**
 * The rotation manager: policies, the scheduler's entry points (`dueRotations`, `runDue`), manual
 * rotation, and the resumable state machine that rotates one secret.
 *
 *   const rotation = createRotationManager({ policies, providers: [aws], service, store, rbac,
 *     actor: { id: 'summit-agent', roles: ['rotation-agent'] }, resolver });
 *   await rotation.putPolicy(admin, { secret: { provider: 'aws', name: 'prod-db' }, intervalDays: 30 });
 *   agent.registerLeaderJob('rotation', () => rotation.runDue());      // every minute, leader only
 *
 * A run goes through the steps of {@link RotationStep}. Each step is recorded in the policy store
 * before it runs (the transition that ends one step records the next, with what the step
 * produced), so a run stopped anywhere (crash, `close()`, abort) resumes at its recorded step, and
 * the steps with side effects detect what an interrupted attempt already did (a pending version
 * this run wrote is adopted, a promote that happened is recognised, a config already bumped is not
 * bumped again). A step that fails is retried with capped exponential backoff; after
 * `retry.maxAttempts`, or at once for a failure retrying cannot fix (access denied, invalid input,
 * a missing secret), the policy goes to state `failed` with the error: visible, notified, never
 * skipped silently. Secret values live in this process's memory only, for the duration of a run.
 *
 * Runs are fenced: every write compare-and-sets the policy's `revision`, and a run is leased to one
 * runner (`leaseMs`), so two agents, or an agent and a CLI, never run the same step twice at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type Actor,
  type AppliedAck,
  abortReason,
  type ConfigService,
  type ConfigStore,
  type ConfigVersion,
  checkActor,
  errors,
  isConfigError,
  isPlainObject,
  isTombstone,
  type JsonObject,
  Lifecycle,
  ListenerSet,
  onAbort,
  parseRef,
  type Rbac,
  refKey,
  throwIfAborted,
} from '@summit-config/core';
import type { SecretProvider } from '../contract.js';
import { isSecretError, sanitizeCause } from '../errors.js';
import { findSecretRefs } from '../reference.js';
import { generatePassword, type HandlerContext, type RotationHandler } from './generators.js';
import { notificationOf, postWebhooks, type WebhookOptions } from './notify.js';
import { RotationPolicyConflictError, type RotationPolicyStore } from './policies.js';
import { checkPolicyInput, checkSecretId, nextRotation, secretKey } from './policy.js';
import type {
  BumpedConfig,
  LaggingInstance,
  RotationErrorInfo,
  RotationEvent,
  RotationEventType,
  RotationPolicy,
  RotationPolicyInput,
  RotationRun,
  RotationStep,
  SecretId,
} from './types.js';

/** A pino-compatible logger. The manager never writes to the console and never logs a secret value. */
export interface RotationLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/** What the manager's `verify` hook receives (after the read-back, before promote). */
export interface VerifyContext {
  readonly secret: SecretId;
  readonly runId: string;
  /** The pending version id and its value. */
  readonly version: string;
  readonly value: string;
  readonly policy: RotationPolicy;
  readonly signal: AbortSignal;
}

/**
 * Fault-injection points for tests: both run outside the step's error handling. A hook that throws
 * stops the runner where it is, as a crash would: nothing more is recorded, and the run resumes
 * at its recorded step later (after the lease expires, for another runner).
 */
export interface RotationHooks {
  /** The step is recorded and about to run. */
  beforeStep?(step: RotationStep, policy: RotationPolicy): void | Promise<void>;
  /** The step ran and its result (the next step) is recorded. */
  afterStep?(step: RotationStep, policy: RotationPolicy): void | Promise<void>;
}

export interface RotationRetryOptions {
  /** Attempts per step before the run fails. Default 5. */
  maxAttempts?: number;
  /** Delay after the first failure, in ms; doubles per attempt. Default 1 000. */
  baseMs?: number;
  /** Longest delay between attempts, in ms. Default 300 000. */
  maxMs?: number;
}

export interface RotationManagerOptions {
  /** Where policies and run records live (`createMemoryRotationPolicies`, `createSqlRotationPolicies`). Borrowed. */
  policies: RotationPolicyStore;
  /** The providers, each under its `name` (an array) or the given keys (a record). Borrowed. */
  providers: readonly SecretProvider[] | Readonly<Record<string, SecretProvider>>;
  /** The change service configs are bumped through. Borrowed. */
  service: ConfigService;
  /** The store the service writes to: scanned for references, and read for acknowledgements. Borrowed. */
  store: ConfigStore;
  /** The change service's access checker: policy and rotation calls are checked against it. */
  rbac: Rbac;
  /**
   * The actor scheduled runs act as, and that bumps configs: it needs `secrets:rotate` and
   * `config:write` (on every scope holding references).
   */
  actor: Actor;
  /** In-process caches to drop after a promote and a revoke (a `SecretResolver`). */
  resolver?: { invalidate(provider: string, name?: string): number };
  /** Custom generators by name (`generator: { type: 'handler', name }`). More with `registerHandler`. */
  handlers?: Readonly<Record<string, RotationHandler>>;
  /** An extra check of every pending value before promote (e.g. a login); throw to refuse it. */
  verify?: (ctx: VerifyContext) => void | Promise<void>;
  /** The time source. Default `() => new Date()`. */
  clock?: () => Date;
  retry?: RotationRetryOptions;
  /** How long a runner holds a run it works on, in ms (renewed at every step). Default 300 000. */
  leaseMs?: number;
  /**
   * After the grace period, how long to keep waiting for lagging instances before the run fails,
   * in ms. Default: wait as long as it takes (the policy shows whom it waits for).
   */
  maxAckWaitMs?: number;
  /**
   * Whether an acknowledgement comes from a live instance (only those are waited for). Default: all
   * of them (Consul drops an instance's acknowledgements with its session).
   */
  isLive?: (ack: AppliedAck) => boolean | Promise<boolean>;
  /** Webhook delivery (timeout, headers). */
  webhooks?: WebhookOptions;
  logger?: RotationLogger;
  /** This runner's name in leases. Default `<hostname>-<pid>-<random>`. */
  owner?: string;
  /** How many due policies `runDue` advances at once. Default 4. */
  concurrency?: number;
  /** While `rotate(..., { wait: true })` waits for acknowledgements, how often it looks, in ms. Default 1 000. */
  waitPollMs?: number;
  hooks?: RotationHooks;
}

export interface RotateOptions {
  /** Keep advancing (sleeping between steps that wait) until the run completes or fails. Default false. */
  wait?: boolean;
  /** Start a new run although the failed one had promoted (its previous version was never revoked). */
  force?: boolean;
  signal?: AbortSignal;
}

/** What `runDue` did for one policy. */
export interface RunDueResult {
  readonly secret: SecretId;
  /** A new run was started by this call. */
  readonly started: boolean;
  readonly state: RotationPolicy['state'] | undefined;
  readonly step: RotationStep | undefined;
  /** An error that stopped this call for this policy (the run itself records its failures). */
  readonly error?: { code: string; message: string };
}

export interface RunDueReport {
  /** ISO-8601 UTC: the `now` the due policies were chosen at. */
  readonly at: string;
  readonly results: readonly RunDueResult[];
}

export interface RotationManager extends AsyncDisposable {
  /** Creates or replaces a policy's configuration (its run state is kept). Needs `secrets:write`. */
  putPolicy(actor: Actor, input: RotationPolicyInput): Promise<RotationPolicy>;
  /** Needs `secrets:read`. */
  getPolicy(actor: Actor, secret: SecretId): Promise<RotationPolicy | undefined>;
  /** Needs `secrets:read`. */
  listPolicies(actor: Actor): Promise<RotationPolicy[]>;
  /** Deletes a policy that is not rotating. Needs `secrets:write`. Resolves false when there was none. */
  deletePolicy(actor: Actor, secret: SecretId): Promise<boolean>;
  /**
   * Rotates now (or resumes the run under way) and advances it as far as it can go without
   * waiting; with `wait`, until it completes or fails. Resolves with the policy (check `state`).
   * Needs `secrets:rotate`. `NOT_FOUND` without a policy.
   */
  rotate(actor: Actor, secret: SecretId, options?: RotateOptions): Promise<RotationPolicy>;
  /** Resumes a failed run at its failed step, with fresh attempts. Needs `secrets:rotate`. */
  retry(actor: Actor, secret: SecretId, options?: RotateOptions): Promise<RotationPolicy>;
  /** Policies with something to do at `now`: a rotation due, or a run to advance. */
  dueRotations(now?: Date): Promise<RotationPolicy[]>;
  /**
   * Starts the due rotations and advances the runs under way, as the manager's `actor` (which
   * needs `secrets:rotate`). For the agent's leader job, called as it is
   * (`registerLeaderJob('rotation', '* * * * *', rotation.runDue)` passes `{ signal }`), or with the
   * time to decide at. Never rejects for one policy's failure: each result says what happened.
   */
  runDue(
    now?: Date | { readonly now?: Date; readonly signal?: AbortSignal },
    options?: { signal?: AbortSignal },
  ): Promise<RunDueReport>;
  /** Registers a custom generator; returns its remover. `CONSTRAINT_VIOLATION` for a taken or bad name. */
  registerHandler(name: string, handler: RotationHandler): () => void;
  /**
   * Listens to one event type (or `*` for all). A listener that throws is logged and never stops the
   * others or the rotation. Returns the remover; `signal` removes it too.
   */
  on<K extends RotationEventType | '*'>(
    type: K,
    listener: (event: K extends RotationEventType ? Extract<RotationEvent, { type: K }> : RotationEvent) => void,
    options?: { signal?: AbortSignal },
  ): () => void;
  /**
   * Stops: aborts the steps under way (they resume later from their recorded step) and waits for
   * them. Idempotent; later calls reject `CLOSED`. Stores, providers and the service are borrowed.
   */
  close(): Promise<void>;
}

/** Reserved metadata keys the change service refuses in a `set` (carried over from the head otherwise). */
const RESERVED_METADATA = ['deleted', 'changeRequest', 'emergency', 'rollbackOf', 'restoredFrom', 'unsynced'];
const HANDLER_RE = /^[A-Za-z0-9_.-]{1,128}$/;
const BUMP_CONFLICT_RETRIES = 5;

/** Result of one step. */
interface StepOutcome {
  /** The step to record next, `done` to finish, or `wait` to stop here for now. */
  next: RotationStep | 'done' | 'wait';
  patch?: Partial<RotationRun>;
  events?: RotationEvent[];
}

class StopSignal extends Error {}

function positive(value: unknown, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw errors.constraint(`rotation manager option ${name} must be an integer >= ${min}`);
  }
  return value;
}

/** Failures that retrying cannot fix: the run fails at once. */
function isPermanent(error: unknown): boolean {
  if (isSecretError(error)) return !['unavailable', 'failed'].includes(error.reason);
  if (isConfigError(error)) {
    return [
      'ACCESS_DENIED',
      'CONSTRAINT_VIOLATION',
      'INVALID_CONFIG_REF',
      'SCHEMA_VALIDATION',
      'NOT_FOUND',
      'TIMEOUT',
      'ENVIRONMENT_NOT_FOUND',
      'APPROVAL_REQUIRED',
      'DOCUMENT_TOO_LARGE',
    ].includes(error.code);
  }
  return false;
}

function refOrVersionOf(metadata: unknown): { provider?: unknown; name?: unknown; version?: unknown } | undefined {
  if (!isPlainObject(metadata)) return undefined;
  const r = metadata.secretRotation;
  return isPlainObject(r) ? r : undefined;
}

export function createRotationManager(options: RotationManagerOptions): RotationManager {
  if (!isPlainObject(options)) throw errors.constraint('rotation manager options are required');
  const { policies, service, store, rbac } = options;
  if (!policies || typeof policies.save !== 'function' || typeof policies.list !== 'function') {
    throw errors.constraint('rotation manager option policies must be a RotationPolicyStore');
  }
  if (!service || typeof service.set !== 'function') {
    throw errors.constraint('rotation manager option service must be a ConfigService');
  }
  if (!store || typeof store.listHeads !== 'function' || typeof store.getVersion !== 'function') {
    throw errors.constraint('rotation manager option store must be a ConfigStore');
  }
  if (!rbac || typeof rbac.check !== 'function')
    throw errors.constraint('rotation manager option rbac must be an Rbac');
  const systemActor = checkActor(options.actor);
  if (options.resolver !== undefined && typeof options.resolver?.invalidate !== 'function') {
    throw errors.constraint('rotation manager option resolver must have invalidate(provider, name)');
  }
  for (const key of ['verify', 'clock', 'isLive'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw errors.constraint(`rotation manager option ${key} must be a function`);
    }
  }
  const providers = new Map<string, SecretProvider>();
  const addProvider = (p: SecretProvider, name: string) => {
    if (!p || typeof p.write !== 'function' || typeof p.promote !== 'function') {
      throw errors.constraint(`rotation manager option providers: "${name}" is not a SecretProvider`);
    }
    if (providers.has(name)) throw errors.constraint(`rotation manager option providers: "${name}" given twice`);
    providers.set(name, p);
  };
  if (Array.isArray(options.providers)) for (const p of options.providers) addProvider(p, p?.name);
  else if (isPlainObject(options.providers)) {
    for (const [name, p] of Object.entries(options.providers as Record<string, SecretProvider>)) addProvider(p, name);
  } else throw errors.constraint('rotation manager option providers must be an array or a record of SecretProviders');
  const retry = options.retry ?? {};
  if (!isPlainObject(retry)) throw errors.constraint('rotation manager option retry must be an object');
  const maxAttempts = positive(retry.maxAttempts, 'retry.maxAttempts', 5);
  const baseMs = positive(retry.baseMs, 'retry.baseMs', 1_000, 0);
  const maxMs = positive(retry.maxMs, 'retry.maxMs', 300_000, 0);
  const leaseMs = positive(options.leaseMs, 'leaseMs', 300_000, 0);
  const maxAckWaitMs =
    options.maxAckWaitMs === undefined ? undefined : positive(options.maxAckWaitMs, 'maxAckWaitMs', 0, 0);
  const concurrency = positive(options.concurrency, 'concurrency', 4);
  const waitPollMs = positive(options.waitPollMs, 'waitPollMs', 1_000);
  const owner = options.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200) {
    throw errors.constraint('rotation manager option owner must be a string of 1-200 characters');
  }
  const clock = options.clock ?? (() => new Date());
  const logger = options.logger;
  const hooks = options.hooks ?? {};
  const handlers = new Map<string, RotationHandler>();
  const lifecycle = new Lifecycle('rotation manager');
  const stopper = new AbortController();
  const listeners = new ListenerSet<RotationEvent>();
  /** Generated values of runs in progress in this process (memory only): run id -> value. */
  const values = new Map<string, string>();
  /** Advances under way in this process, per secret key. */
  const running = new Map<string, Promise<RotationPolicy | undefined>>();

  function registerHandler(name: string, handler: RotationHandler): () => void {
    lifecycle.assertOpen();
    if (typeof name !== 'string' || !HANDLER_RE.test(name)) {
      throw errors.constraint(`rotation handler name ${JSON.stringify(name)} must match [A-Za-z0-9_.-]{1,128}`);
    }
    if (!handler || typeof handler.generate !== 'function') {
      throw errors.constraint(`rotation handler "${name}" must have generate()`);
    }
    if (handlers.has(name)) throw errors.constraint(`a rotation handler is already registered as "${name}"`);
    handlers.set(name, handler);
    return () => {
      if (handlers.get(name) === handler) handlers.delete(name);
    };
  }
  for (const [name, handler] of Object.entries(options.handlers ?? {})) registerHandler(name, handler);

  function now(): Date {
    const d = clock();
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
      throw errors.constraint('the rotation manager clock returned no valid Date');
    }
    return d;
  }

  function log(level: keyof RotationLogger, obj: object, msg: string): void {
    try {
      logger?.[level]?.(obj, msg);
    } catch {
      // A failing logger must not break a rotation.
    }
  }

  function emit(event: RotationEvent): void {
    listeners.emit(event, (error) =>
      log('warn', { event: event.type, secret: event.secret, err: sanitizeCause(error) }, 'rotation listener threw'),
    );
  }

  async function notify(policy: RotationPolicy, event: RotationEvent): Promise<void> {
    const payload = notificationOf(event);
    if (!payload || policy.notify.length === 0) return;
    const results = await postWebhooks(policy.notify, payload, options.webhooks);
    for (const r of results) {
      if (r.ok) continue;
      log(
        'warn',
        { secret: event.secret, url: r.url, event: payload.event, error: r.error },
        'rotation webhook failed',
      );
      emit({
        type: 'notify-failed',
        secret: event.secret,
        runId: payload.runId,
        url: r.url,
        event: payload.event,
        error: r.error ?? 'failed',
        at: now().toISOString(),
      });
    }
  }

  function providerOf(secret: SecretId): SecretProvider {
    const p = providers.get(secret.provider);
    if (!p) {
      throw errors.constraint(`no secret provider is registered as "${secret.provider}" in the rotation manager`);
    }
    return p;
  }

  function handlerOf(policy: RotationPolicy): RotationHandler | undefined {
    if (policy.generator.type !== 'handler') return undefined;
    const h = handlers.get(policy.generator.name);
    if (!h) throw errors.constraint(`rotation handler "${policy.generator.name}" is not registered`);
    return h;
  }

  function authorize(actorInput: Actor, permission: 'secrets:read' | 'secrets:write' | 'secrets:rotate'): Actor {
    lifecycle.assertOpen();
    const actor = checkActor(actorInput);
    rbac.check(actor, permission, {});
    return actor;
  }

  /** Saves unless the manager closed meanwhile (a closed runner records nothing, like a dead one). */
  async function save(policy: RotationPolicy, expected: number): Promise<RotationPolicy> {
    if (lifecycle.closed) throw new StopSignal('closed');
    return policies.save({ ...policy, updatedAt: now().toISOString() }, expected);
  }

  function errorInfo(
    error: unknown,
    step: RotationStep,
    attempts: number,
    redact: readonly string[],
  ): RotationErrorInfo {
    const clean = sanitizeCause(error, redact);
    const code = isConfigError(error) ? error.code : 'SECRET_PROVIDER';
    const reason = isSecretError(error) ? error.reason : isConfigError(error) ? undefined : 'failed';
    return {
      code,
      message: clean.message,
      ...(reason === undefined ? {} : { reason }),
      step,
      attempts,
      at: now().toISOString(),
    };
  }

  // -- one run

  /** `value` and, for a JSON secret, every string in it: the texts an error message must not show. */
  function sensitive(value: string): string[] {
    const out = [value];
    try {
      const walk = (v: unknown): void => {
        if (typeof v === 'string') out.push(v);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (isPlainObject(v)) Object.values(v).forEach(walk);
      };
      walk(JSON.parse(value));
    } catch {
      // Not JSON: the value itself is all there is.
    }
    return out;
  }

  interface RunContext {
    policy: RotationPolicy;
    run: RotationRun;
    provider: SecretProvider;
    handler: RotationHandler | undefined;
    signal: AbortSignal;
    /** Values known in this call, redacted from error messages. */
    redact: string[];
  }

  function handlerContext(ctx: RunContext): HandlerContext {
    const { policy, provider, signal } = ctx;
    const name = policy.secret.name;
    return {
      secret: policy.secret,
      runId: ctx.run.id,
      options: policy.generator.type === 'handler' ? (policy.generator.options ?? {}) : {},
      provider,
      signal,
      async current() {
        try {
          const v = (await provider.read(name, 'current', { signal })).value;
          ctx.redact.push(...sensitive(v));
          return v;
        } catch (error) {
          if (isSecretError(error) && error.code === 'NOT_FOUND') return undefined;
          throw error;
        }
      },
      async read(version) {
        const v = (await provider.read(name, { version }, { signal })).value;
        ctx.redact.push(...sensitive(v));
        return v;
      },
    };
  }

  async function generate(ctx: RunContext): Promise<string> {
    const value = ctx.handler
      ? await ctx.handler.generate(handlerContext(ctx))
      : generatePassword(ctx.policy.generator.type === 'password' ? ctx.policy.generator : {});
    if (typeof value !== 'string' || value.length === 0) {
      throw errors.constraint(`rotation of ${secretKey(ctx.policy.secret)}: the generator returned no value`);
    }
    ctx.redact.push(...sensitive(value));
    values.set(ctx.run.id, value);
    return value;
  }

  /** The pending value, read back from the provider by version id. */
  async function pendingValue(ctx: RunContext): Promise<string> {
    const version = ctx.run.newVersion as string;
    const read = await ctx.provider.read(ctx.policy.secret.name, { version }, { signal: ctx.signal });
    ctx.redact.push(...sensitive(read.value));
    return read.value;
  }

  /** Every head document of the store, for the reference scan. */
  async function headDocuments(signal: AbortSignal): Promise<ConfigVersion[]> {
    if (store.capabilities.bulkReads && store.getHeadDocuments) {
      return (await store.getHeadDocuments({}, { signal })).docs;
    }
    const out: ConfigVersion[] = [];
    for (const head of await store.listHeads({}, { signal })) {
      throwIfAborted(signal);
      const doc = await store.getVersion(head.ref, head.version, { signal });
      if (doc) out.push(doc);
    }
    return out;
  }

  /** How `doc` references `secret`: `bump` (current/previous), `pinned` (a version id), or not at all. */
  function referenceKind(
    doc: ConfigVersion,
    secret: SecretId,
    ctx: RunContext,
    warn: boolean,
  ): 'bump' | 'pinned' | undefined {
    let found: ReturnType<typeof findSecretRefs>;
    try {
      found = findSecretRefs({ config: doc.config, overrides: doc.overrides, rollout: doc.rollout });
    } catch (error) {
      if (warn) {
        const message = `${refKey(doc.ref)} v${doc.version} has malformed secret references and was not scanned: ${(error as Error).message}`;
        log('warn', { secret, runId: ctx.run.id, ref: refKey(doc.ref) }, message);
        emit({ type: 'warning', secret, runId: ctx.run.id, message, at: now().toISOString() });
      }
      return undefined;
    }
    let kind: 'bump' | 'pinned' | undefined;
    for (const { ref } of found) {
      if (ref.provider !== secret.provider || ref.name !== secret.name) continue;
      if (ref.version === undefined || ref.version === 'current' || ref.version === 'previous') return 'bump';
      kind = 'pinned';
    }
    return kind;
  }

  function bumpedBy(doc: ConfigVersion | undefined, secret: SecretId, version: string): boolean {
    const r = refOrVersionOf(doc?.metadata);
    return r !== undefined && r.provider === secret.provider && r.name === secret.name && r.version === version;
  }

  /** Appends a version of one planned config (or finds the one an interrupted attempt appended). */
  async function bumpOne(ctx: RunContext, item: BumpedConfig): Promise<BumpedConfig> {
    const { secret } = ctx.policy;
    const version = ctx.run.newVersion as string;
    const ref = parseRef(item.ref);
    const head = await store.getHead(ref, { consistent: true, signal: ctx.signal });
    for (let v = item.baseVersion + 1; head && v <= head.version; v++) {
      if (bumpedBy(await store.getVersion(ref, v, { consistent: true, signal: ctx.signal }), secret, version)) {
        return { ...item, version: v };
      }
    }
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(ctx.signal);
      const doc = await store.getVersion(ref, undefined, { consistent: true, signal: ctx.signal });
      if (!doc || isTombstone(doc)) return { ...item, skipped: 'deleted' };
      if (bumpedBy(doc, secret, version)) return { ...item, version: doc.version };
      if (referenceKind(doc, secret, ctx, false) !== 'bump') {
        return { ...item, skipped: 'no longer references the secret' };
      }
      const metadata: JsonObject = {};
      for (const [k, val] of Object.entries(doc.metadata)) if (!RESERVED_METADATA.includes(k)) metadata[k] = val;
      metadata.secretRotation = { provider: secret.provider, name: secret.name, version };
      try {
        const written = await service.set(
          systemActor,
          {
            ref,
            config: doc.config,
            overrides: { ...doc.overrides },
            rollout: doc.rollout,
            metadata,
            message: `rotate ${secretKey(secret)}`,
          },
          { expectedVersion: doc.version, source: 'agent', signal: ctx.signal },
        );
        return { ...item, version: written.version };
      } catch (error) {
        if (!isConfigError(error, 'VERSION_CONFLICT') || attempt >= BUMP_CONFLICT_RETRIES) throw error;
      }
    }
  }

  /** Instances whose acknowledgement is behind a bumped version. */
  async function lagging(ctx: RunContext): Promise<LaggingInstance[]> {
    if (!store.capabilities.appliedState || !store.listAcks) return [];
    const out: LaggingInstance[] = [];
    for (const item of ctx.run.bumps ?? []) {
      if (item.version === undefined) continue;
      for (const ack of await store.listAcks(parseRef(item.ref))) {
        if (ack.status === 'applied' && ack.version >= item.version) continue;
        if (options.isLive && !(await options.isLive(ack))) continue;
        out.push({
          ref: item.ref,
          environment: ack.environment,
          instance: ack.instance,
          version: ack.version,
          status: ack.status,
          needed: item.version,
        });
      }
    }
    return out;
  }

  /** Runs one step. Throws on failure (recorded by the caller). */
  async function runStep(ctx: RunContext, step: RotationStep): Promise<StepOutcome> {
    const { policy, run, provider, handler, signal } = ctx;
    const { secret } = policy;
    const name = secret.name;
    const at = () => now().toISOString();
    switch (step) {
      case 'generate': {
        await generate(ctx);
        const versions = await provider.listVersions(name, { signal });
        const current = versions.find((v) => v.stage === 'current');
        return {
          next: 'write',
          patch: { knownVersions: versions.map((v) => v.version), previousVersion: current?.version },
        };
      }
      case 'write': {
        const known = new Set(run.knownVersions ?? []);
        const versions = await provider.listVersions(name, { signal });
        const mine = versions.find((v) => v.stage === 'pending' && v.state === 'enabled' && !known.has(v.version));
        let version: string;
        let reused = false;
        if (mine) {
          version = mine.version;
          reused = true;
        } else {
          const value = values.get(run.id) ?? (await generate(ctx));
          ctx.redact.push(...sensitive(value));
          const labels = provider.capabilities.labels ? { 'summit-rotation': run.id } : undefined;
          version = (await provider.write(name, value, { signal, labels })).version;
        }
        return {
          next: handler?.activate ? 'activate' : 'verify',
          patch: { newVersion: version },
          events: [{ type: 'written', secret, runId: run.id, version, reused, at: at() }],
        };
      }
      case 'activate': {
        const value = await pendingValue(ctx);
        await handler?.activate?.({ ...handlerContext(ctx), value, version: run.newVersion as string });
        return { next: 'verify' };
      }
      case 'verify': {
        const value = await pendingValue(ctx);
        const generated = values.get(run.id);
        if (value.length === 0 || (generated !== undefined && value !== generated)) {
          throw errors.constraint(
            `rotation of ${secretKey(secret)}: version ${run.newVersion} reads back a different value than was written`,
          );
        }
        const version = run.newVersion as string;
        await handler?.verify?.({ ...handlerContext(ctx), value, version });
        await options.verify?.({ secret, runId: run.id, version, value, policy, signal });
        return { next: 'promote' };
      }
      case 'promote': {
        const version = run.newVersion as string;
        let previous: string | undefined;
        try {
          const result = await provider.promote(name, version, { signal, expectedCurrent: run.previousVersion });
          previous = result.previous;
        } catch (error) {
          if (!isSecretError(error) || error.code !== 'VERSION_CONFLICT') throw error;
          // An interrupted attempt may have promoted already: then this is done.
          const current = (await provider.listVersions(name, { signal })).find((v) => v.stage === 'current');
          if (current?.version !== version) throw error;
          previous = run.previousVersion;
        }
        options.resolver?.invalidate(secret.provider, name);
        const promotedAt = at();
        return {
          next: 'bump',
          patch: { promotedAt, previousVersion: previous ?? run.previousVersion },
          events: [
            {
              type: 'promoted',
              secret,
              runId: run.id,
              version,
              ...((previous ?? run.previousVersion) === undefined
                ? {}
                : { previousVersion: (previous ?? run.previousVersion) as string }),
              at: promotedAt,
            },
          ],
        };
      }
      case 'bump': {
        // The plan is recorded before the first write, then each write as it lands.
        if (run.bumps === undefined) {
          const planned: BumpedConfig[] = [];
          const pinned: string[] = [];
          for (const doc of await headDocuments(signal)) {
            if (isTombstone(doc)) continue;
            const kind = referenceKind(doc, secret, ctx, true);
            if (kind === 'bump') planned.push({ ref: refKey(doc.ref), baseVersion: doc.version });
            else if (kind === 'pinned') pinned.push(refKey(doc.ref));
          }
          ctx.policy = await save(
            { ...ctx.policy, run: { ...run, bumps: planned, pinned, leaseUntil: leaseEnd() } },
            ctx.policy.revision,
          );
          ctx.run = ctx.policy.run as RotationRun;
        }
        const bumps = [...(ctx.run.bumps ?? [])];
        for (let i = 0; i < bumps.length; i++) {
          const item = bumps[i] as BumpedConfig;
          if (item.version !== undefined || item.skipped !== undefined) continue;
          bumps[i] = await bumpOne(ctx, item);
          ctx.policy = await save(
            { ...ctx.policy, run: { ...ctx.run, bumps: [...bumps], leaseUntil: leaseEnd() } },
            ctx.policy.revision,
          );
          ctx.run = ctx.policy.run as RotationRun;
        }
        const promotedAt = Date.parse(ctx.run.promotedAt as string);
        const refs = bumps
          .filter((b) => b.version !== undefined)
          .map((b) => ({ ref: b.ref, version: b.version as number }));
        return {
          next: 'grace',
          patch: { graceUntil: new Date(promotedAt + policy.graceMs).toISOString() },
          events: [{ type: 'bumped', secret, runId: run.id, refs, pinned: [...(ctx.run.pinned ?? [])], at: at() }],
        };
      }
      case 'grace': {
        const graceUntil = run.graceUntil as string;
        const t = now().getTime();
        if (t < Date.parse(graceUntil)) return { next: 'wait' };
        const behind = await lagging(ctx);
        if (behind.length > 0) {
          if (maxAckWaitMs !== undefined && t > Date.parse(graceUntil) + maxAckWaitMs) {
            throw errors.timeout(
              `rotation of ${secretKey(secret)}: ${behind.length} instance(s) did not acknowledge the new configuration within ${maxAckWaitMs} ms after the grace period (first: ${behind[0]?.instance} on ${behind[0]?.ref} at v${behind[0]?.version}, needs v${behind[0]?.needed}); the previous version was not revoked`,
            );
          }
          return {
            next: 'wait',
            patch: { waitingFor: behind },
            events: [{ type: 'waiting', secret, runId: run.id, graceUntil, lagging: behind, at: at() }],
          };
        }
        if (run.previousVersion === undefined) return { next: 'done', patch: { waitingFor: [] } };
        return { next: handler?.retire ? 'retire' : 'revoke', patch: { waitingFor: [] } };
      }
      case 'retire': {
        await handler?.retire?.({ ...handlerContext(ctx), previousVersion: run.previousVersion as string });
        return { next: 'revoke' };
      }
      case 'revoke': {
        const version = run.previousVersion as string;
        try {
          await provider.revoke(name, version, { signal });
        } catch (error) {
          // A version that no longer exists is as revoked as it gets.
          if (!(isSecretError(error) && error.code === 'NOT_FOUND' && error.secretVersion !== undefined)) throw error;
        }
        options.resolver?.invalidate(secret.provider, name);
        return { next: 'done', events: [{ type: 'revoked', secret, runId: run.id, version, at: at() }] };
      }
    }
  }

  function leaseEnd(): string {
    return new Date(now().getTime() + leaseMs).toISOString();
  }

  function leasedByOther(run: RotationRun | undefined, at: number): boolean {
    return (
      run?.owner !== undefined && run.owner !== owner && run.leaseUntil !== undefined && Date.parse(run.leaseUntil) > at
    );
  }

  async function recordFailure(ctx: RunContext, step: RotationStep, error: unknown): Promise<RotationPolicy> {
    const { policy, run } = ctx;
    const attempts = run.attempts + 1;
    const info = errorInfo(error, step, attempts, ctx.redact);
    const released = { ...run, attempts, lastError: info, owner: undefined, leaseUntil: undefined };
    if (isPermanent(error) || attempts >= maxAttempts) {
      const failed = await save(
        { ...policy, state: 'failed', step, error: info, run: { ...released, nextAttemptAt: undefined } },
        policy.revision,
      );
      values.delete(run.id);
      log('error', { secret: policy.secret, runId: run.id, step, error: info }, 'secret rotation failed');
      const event: RotationEvent = {
        type: 'failed',
        secret: policy.secret,
        runId: run.id,
        step,
        error: info,
        at: info.at,
      };
      emit(event);
      await notify(failed, event);
      return failed;
    }
    const wait = Math.min(maxMs, baseMs * 2 ** (attempts - 1));
    const nextAttemptAt = new Date(now().getTime() + wait).toISOString();
    const saved = await save({ ...policy, run: { ...released, nextAttemptAt } }, policy.revision);
    log(
      'warn',
      { secret: policy.secret, runId: run.id, step, attempts, nextAttemptAt, error: info },
      'secret rotation step failed, will retry',
    );
    emit({
      type: 'retrying',
      secret: policy.secret,
      runId: run.id,
      step,
      attempts,
      nextAttemptAt,
      error: info,
      at: info.at,
    });
    return saved;
  }

  async function finish(
    ctx: RunContext,
    patch: Partial<RotationRun> | undefined,
    stepEvents: readonly RotationEvent[],
  ): Promise<RotationPolicy> {
    const run = { ...ctx.run, ...patch };
    const { policy } = ctx;
    const promotedAt = run.promotedAt ?? now().toISOString();
    const completedAt = now().toISOString();
    const done = await save(
      {
        ...policy,
        state: 'idle',
        step: undefined,
        run: undefined,
        error: undefined,
        lastRotatedAt: promotedAt,
        nextRotationAt: nextRotation(policy, new Date(promotedAt)),
        lastRun: {
          runId: run.id,
          version: run.newVersion as string,
          previousVersion: run.previousVersion,
          startedAt: run.startedAt,
          promotedAt,
          completedAt,
          bumped: (run.bumps ?? [])
            .filter((b) => b.version !== undefined)
            .map((b) => ({ ref: b.ref, version: b.version as number })),
        },
      },
      policy.revision,
    );
    values.delete(run.id);
    for (const e of stepEvents) emit(e);
    log('info', { secret: policy.secret, runId: run.id, version: run.newVersion }, 'secret rotation completed');
    const event: RotationEvent = {
      type: 'completed',
      secret: policy.secret,
      runId: run.id,
      version: run.newVersion as string,
      ...(run.previousVersion === undefined ? {} : { previousVersion: run.previousVersion }),
      at: completedAt,
    };
    emit(event);
    await notify(done, event);
    return done;
  }

  /**
   * Advances the run of `start` as far as it goes now. Returns the policy as last recorded.
   * Throws only when stopped (close, abort, a hook's crash) or when the policy store fails. A lost
   * compare-and-set (another runner moved the run on) ends this call with the latest record.
   */
  async function advanceOnce(start: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    try {
      return await advanceLoop(start, signal);
    } catch (error) {
      if (!(error instanceof RotationPolicyConflictError) || signal.aborted) throw error;
      log('debug', { secret: start.secret }, 'another runner recorded this rotation first');
      return (await policies.get(start.secret)) ?? start;
    }
  }

  async function advanceLoop(start: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    let policy = start;
    for (;;) {
      throwIfAborted(signal);
      if (policy.state !== 'rotating' || !policy.run) return policy;
      const t = now().getTime();
      if (leasedByOther(policy.run, t)) return policy;
      if (policy.run.nextAttemptAt !== undefined && Date.parse(policy.run.nextAttemptAt) > t) return policy;
      const step = policy.run.step;
      // Take the lease before a step with side effects (grace only reads).
      const holds =
        policy.run.owner === owner && policy.run.leaseUntil !== undefined && Date.parse(policy.run.leaseUntil) > t;
      if (step !== 'grace' && !holds) {
        policy = await save(
          { ...policy, run: { ...policy.run, owner, leaseUntil: leaseEnd(), nextAttemptAt: undefined } },
          policy.revision,
        );
      }
      const ctx: RunContext = {
        policy,
        run: policy.run as RotationRun,
        provider: providerOf(policy.secret),
        handler: handlerOf(policy),
        signal,
        redact: [],
      };
      const known = values.get(ctx.run.id);
      if (known !== undefined) ctx.redact.push(...sensitive(known));
      await hooks.beforeStep?.(step, policy);
      let outcome: StepOutcome;
      try {
        outcome = await runStep(ctx, step);
      } catch (error) {
        // Stopping is not failing, and a lost compare-and-set means another runner moved on.
        if (signal.aborted || error instanceof StopSignal || lifecycle.closed) throw error;
        if (error instanceof RotationPolicyConflictError) throw error;
        return recordFailure(ctx, step, error);
      }
      throwIfAborted(signal);
      policy = ctx.policy;
      const run = ctx.run;
      if (outcome.next === 'wait') {
        const changed =
          outcome.patch !== undefined &&
          JSON.stringify(outcome.patch.waitingFor ?? []) !== JSON.stringify(run.waitingFor ?? []);
        if (changed || run.owner !== undefined) {
          policy = await save(
            { ...policy, run: { ...run, ...outcome.patch, owner: undefined, leaseUntil: undefined } },
            policy.revision,
          );
        }
        if (changed) for (const e of outcome.events ?? []) emit(e);
        return policy;
      }
      if (outcome.next === 'done') {
        policy = await finish(ctx, outcome.patch, outcome.events ?? []);
        await hooks.afterStep?.(step, policy);
        return policy;
      }
      const next = outcome.next;
      policy = await save(
        {
          ...policy,
          step: next,
          run: {
            ...run,
            ...outcome.patch,
            step: next,
            attempts: 0,
            lastError: undefined,
            nextAttemptAt: undefined,
            owner,
            leaseUntil: leaseEnd(),
          },
        },
        policy.revision,
      );
      for (const e of outcome.events ?? []) {
        emit(e);
        if (e.type === 'promoted') {
          log(
            'info',
            { secret: e.secret, runId: e.runId, version: e.version },
            'secret rotation promoted a new version',
          );
          await notify(policy, e);
        }
      }
      emit({ type: 'step', secret: policy.secret, runId: run.id, step: next, at: now().toISOString() });
      await hooks.afterStep?.(step, policy);
    }
  }

  /** One advance per secret at a time in this process; a second caller shares the first's. */
  function advance(policy: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    const key = secretKey(policy.secret);
    const busy = running.get(key);
    if (busy) return busy.then((p) => p ?? policy);
    const work = advanceOnce(policy, signal);
    const tracked = work.then(
      (p) => p,
      () => undefined,
    );
    running.set(key, tracked);
    void tracked.finally(() => {
      if (running.get(key) === tracked) running.delete(key);
    });
    return work;
  }

  async function startRun(policy: RotationPolicy, reason: 'scheduled' | 'manual'): Promise<RotationPolicy> {
    providerOf(policy.secret);
    handlerOf(policy);
    const startedAt = now().toISOString();
    const run: RotationRun = {
      id: randomUUID(),
      reason,
      startedAt,
      step: 'generate',
      attempts: 0,
      owner,
      leaseUntil: leaseEnd(),
    };
    const started = await save(
      { ...policy, state: 'rotating', step: 'generate', error: undefined, run },
      policy.revision,
    );
    log('info', { secret: policy.secret, runId: run.id, reason }, 'secret rotation started');
    const event: RotationEvent = { type: 'started', secret: policy.secret, runId: run.id, reason, at: startedAt };
    emit(event);
    emit({ type: 'step', secret: policy.secret, runId: run.id, step: 'generate', at: startedAt });
    await notify(started, event);
    return started;
  }

  /** Runs `fn` with a signal that aborts on `close()` and on the caller's `signal`; unlinks both after. */
  async function linked<T>(signal: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (!signal) return fn(stopper.signal);
    const controller = new AbortController();
    const offStop = onAbort(stopper.signal, () => controller.abort(stopper.signal.reason));
    const offCaller = onAbort(signal, () => controller.abort(signal.reason));
    try {
      return await fn(controller.signal);
    } finally {
      offStop();
      offCaller();
    }
  }

  /** Sleeps `ms` (a referenced timer: a caller that asked to wait keeps the process alive). */
  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(abortReason(signal));
        return;
      }
      const timer = setTimeout(() => {
        off();
        resolve();
      }, ms);
      const off = onAbort(signal, () => {
        clearTimeout(timer);
        reject(abortReason(signal));
      });
    });
  }

  async function required(secret: SecretId): Promise<RotationPolicy> {
    const found = await policies.get(secret);
    if (!found) throw errors.notFound(`no rotation policy for ${secretKey(secret)}`);
    return found;
  }

  /** Advances until the run is no longer `rotating` (sleeping while it waits). */
  async function untilSettled(policy: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    let p = await advance(policy, signal);
    while (p.state === 'rotating' && p.run) {
      const t = now().getTime();
      const wakes = [t + waitPollMs];
      if (p.run.nextAttemptAt) wakes.push(Date.parse(p.run.nextAttemptAt));
      if (p.run.graceUntil && Date.parse(p.run.graceUntil) > t) wakes.push(Date.parse(p.run.graceUntil));
      if (leasedByOther(p.run, t) && p.run.leaseUntil) wakes.push(Date.parse(p.run.leaseUntil));
      await sleep(Math.max(1, Math.min(...wakes) - t), signal);
      p = await advance((await policies.get(p.secret)) ?? p, signal);
    }
    return p;
  }

  function isDue(p: RotationPolicy, t: number): boolean {
    if (p.state === 'idle') return p.enabled && p.nextRotationAt !== undefined && Date.parse(p.nextRotationAt) <= t;
    if (p.state !== 'rotating' || !p.run) return false;
    if (leasedByOther(p.run, t)) return false;
    if (p.run.nextAttemptAt !== undefined && Date.parse(p.run.nextAttemptAt) > t) return false;
    if (p.run.step === 'grace' && p.run.graceUntil !== undefined && Date.parse(p.run.graceUntil) > t) return false;
    return true;
  }

  async function runDueWith(when: Date, signal: AbortSignal): Promise<RunDueReport> {
    throwIfAborted(signal);
    const due = await manager.dueRotations(when);
    const results: RunDueResult[] = [];
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const p = due[next++] as RotationPolicy;
        let started = false;
        try {
          throwIfAborted(signal);
          let current = p;
          if (current.state === 'idle') {
            current = await startRun(current, 'scheduled');
            started = true;
          }
          current = await advance(current, signal);
          results.push({ secret: p.secret, started, state: current.state, step: current.step });
        } catch (error) {
          // Stopped (close, the caller's signal): what is under way resumes later; report nothing.
          if (signal.aborted) return;
          if (error instanceof RotationPolicyConflictError) {
            // Another runner started or moved it first: nothing to report.
            const latest = await policies.get(p.secret).catch(() => undefined);
            results.push({ secret: p.secret, started: false, state: latest?.state, step: latest?.step });
            continue;
          }
          const e = sanitizeCause(error);
          const code = isConfigError(error) ? error.code : 'SECRET_PROVIDER';
          if (!(error instanceof StopSignal)) {
            log('warn', { secret: p.secret, code, error: e.message }, 'rotation could not be advanced');
          }
          const latest = await policies.get(p.secret).catch(() => undefined);
          results.push({
            secret: p.secret,
            started,
            state: latest?.state,
            step: latest?.step,
            error: { code, message: e.message },
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    throwIfAborted(signal);
    results.sort((a, b) => (secretKey(a.secret) < secretKey(b.secret) ? -1 : 1));
    return { at: when.toISOString(), results };
  }

  const manager: RotationManager = {
    async putPolicy(actorInput, input) {
      authorize(actorInput, 'secrets:write');
      const checked = checkPolicyInput(input, new Set(handlers.keys()));
      providerOf(checked.secret);
      for (let attempt = 0; ; attempt++) {
        const existing = await policies.get(checked.secret);
        const at = now();
        const iso = at.toISOString();
        const scheduleChanged =
          !existing || existing.intervalDays !== checked.intervalDays || existing.cron !== checked.cron;
        const from = existing?.lastRotatedAt ? new Date(existing.lastRotatedAt) : at;
        const next =
          checked.nextRotationAt ??
          (scheduleChanged ? nextRotation(checked, from) : existing?.nextRotationAt) ??
          nextRotation(checked, from);
        const policy: RotationPolicy = {
          secret: checked.secret,
          intervalDays: checked.intervalDays,
          cron: checked.cron,
          graceMs: checked.graceMs,
          generator: checked.generator,
          notify: checked.notify,
          enabled: checked.enabled,
          lastRotatedAt: existing?.lastRotatedAt,
          nextRotationAt: next,
          state: existing?.state ?? 'idle',
          step: existing?.step,
          run: existing?.run,
          error: existing?.error,
          lastRun: existing?.lastRun,
          revision: existing?.revision ?? 0,
          createdAt: existing?.createdAt ?? iso,
          updatedAt: iso,
        };
        try {
          return await policies.save(policy, existing?.revision ?? 0);
        } catch (error) {
          if (!isConfigError(error, 'VERSION_CONFLICT') || attempt >= 3) throw error;
        }
      }
    },

    async getPolicy(actorInput, secret) {
      authorize(actorInput, 'secrets:read');
      return policies.get(checkSecretId(secret));
    },

    async listPolicies(actorInput) {
      authorize(actorInput, 'secrets:read');
      return policies.list();
    },

    async deletePolicy(actorInput, secretInput) {
      authorize(actorInput, 'secrets:write');
      const secret = checkSecretId(secretInput);
      const found = await policies.get(secret);
      if (!found) return false;
      if (found.state === 'rotating') {
        throw errors.constraint(
          `rotation policy ${secretKey(secret)} is rotating (step ${found.step}): wait for it to end`,
        );
      }
      return policies.delete(secret, found.revision);
    },

    async rotate(actorInput, secretInput, rotateOptions = {}) {
      authorize(actorInput, 'secrets:rotate');
      const secret = checkSecretId(secretInput);
      return linked(rotateOptions.signal, async (signal) => {
        throwIfAborted(signal);
        let policy = await required(secret);
        if (policy.state === 'failed' && policy.run?.promotedAt !== undefined && rotateOptions.force !== true) {
          throw errors.constraint(
            `the last rotation of ${secretKey(secret)} failed at step ${policy.step} after promoting version ${policy.run.newVersion}: its previous version ${policy.run.previousVersion ?? ''} is still valid. Use retry to finish it, or force to start anew (a new promote revokes that version at once)`,
          );
        }
        if (policy.state !== 'rotating') policy = await startRun(policy, 'manual');
        return rotateOptions.wait ? untilSettled(policy, signal) : advance(policy, signal);
      });
    },

    async retry(actorInput, secretInput, rotateOptions = {}) {
      authorize(actorInput, 'secrets:rotate');
      const secret = checkSecretId(secretInput);
      return linked(rotateOptions.signal, async (signal) => {
        throwIfAborted(signal);
        let policy = await required(secret);
        if (policy.state === 'failed' && policy.run) {
          policy = await save(
            {
              ...policy,
              state: 'rotating',
              step: policy.run.step,
              error: undefined,
              run: { ...policy.run, attempts: 0, nextAttemptAt: undefined },
            },
            policy.revision,
          );
        } else if (policy.state !== 'rotating') {
          throw errors.constraint(
            `rotation policy ${secretKey(secret)} has no failed run to retry (state ${policy.state})`,
          );
        }
        return rotateOptions.wait ? untilSettled(policy, signal) : advance(policy, signal);
      });
    },

    async dueRotations(at) {
      lifecycle.assertOpen();
      const t = (at ?? now()).getTime();
      return (await policies.list()).filter((p) => isDue(p, t));
    },

    async runDue(atOrContext, runOptions = {}) {
      authorize(systemActor, 'secrets:rotate');
      // Also callable as a leader job: runDue({ signal, ... }).
      let at: Date | undefined;
      let callerSignal = runOptions.signal;
      if (atOrContext instanceof Date) at = atOrContext;
      else if (isPlainObject(atOrContext)) {
        const ctx = atOrContext as { now?: unknown; signal?: unknown };
        if (ctx.now !== undefined && !(ctx.now instanceof Date)) throw errors.constraint('runDue: now must be a Date');
        at = ctx.now as Date | undefined;
        if (ctx.signal instanceof AbortSignal) callerSignal ??= ctx.signal;
      } else if (atOrContext !== undefined) {
        throw errors.constraint('runDue takes a Date, or a context { now?, signal? }');
      }
      if (at !== undefined && Number.isNaN(at.getTime())) throw errors.constraint('runDue: now must be a valid Date');
      return linked(callerSignal, (signal) => runDueWith(at ?? now(), signal));
    },

    registerHandler,

    on(type, listener, onOptions = {}) {
      lifecycle.assertOpen();
      if (onOptions.signal?.aborted) return () => {};
      const remove = listeners.add((event) => {
        if (type === '*' || event.type === type) (listener as (e: RotationEvent) => void)(event);
      });
      const off = onAbort(onOptions.signal, remove);
      return () => {
        off();
        remove();
      };
    },

    close() {
      return lifecycle.close(async () => {
        stopper.abort(errors.closed('rotation manager'));
        await Promise.allSettled([...running.values()]);
        listeners.clear();
        values.clear();
      });
    },

    [Symbol.asyncDispose]() {
      return manager.close();
    },
  };
  return manager;
}
