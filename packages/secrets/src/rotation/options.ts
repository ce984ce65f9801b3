/**
 * What a rotation manager is configured with: the public option types, and their validation into
 * the settings the manager's parts share. Every bad option throws `CONSTRAINT_VIOLATION` naming it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Actor, AppliedAck, ConfigService, ConfigStore, Rbac } from '@summit-config/core';
import { checkActor, errors, isPlainObject } from '@summit-config/core/internal';
import type { SecretProvider } from '../contract.js';
import type { RotationHandler } from './generators.js';
import type { WebhookOptions } from './notify.js';
import type { RotationPolicyStore } from './policies.js';
import type { RotationPolicy, RotationStep, SecretId } from './types.js';

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

/** The options checked, with their defaults applied. */
export interface RotationSettings {
  /** The options as given (for the borrowed callbacks: `resolver`, `verify`, `isLive`, `webhooks`). */
  readonly options: RotationManagerOptions;
  readonly policies: RotationPolicyStore;
  readonly service: ConfigService;
  readonly store: ConfigStore;
  readonly rbac: Rbac;
  /** The actor scheduled runs act as (option `actor`, checked). */
  readonly systemActor: Actor;
  readonly providers: ReadonlyMap<string, SecretProvider>;
  readonly maxAttempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly leaseMs: number;
  readonly maxAckWaitMs: number | undefined;
  readonly concurrency: number;
  readonly waitPollMs: number;
  readonly owner: string;
  readonly clock: () => Date;
  readonly logger: RotationLogger | undefined;
  readonly hooks: RotationHooks;
}

function positive(value: unknown, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw errors.constraint(`rotation manager option ${name} must be an integer >= ${min}`);
  }
  return value;
}

function checkProviders(input: RotationManagerOptions['providers']): Map<string, SecretProvider> {
  const providers = new Map<string, SecretProvider>();
  const addProvider = (p: SecretProvider, name: string) => {
    if (!p || typeof p.write !== 'function' || typeof p.promote !== 'function') {
      throw errors.constraint(`rotation manager option providers: "${name}" is not a SecretProvider`);
    }
    if (providers.has(name)) throw errors.constraint(`rotation manager option providers: "${name}" given twice`);
    providers.set(name, p);
  };
  if (Array.isArray(input)) for (const p of input) addProvider(p, p?.name);
  else if (isPlainObject(input)) {
    for (const [name, p] of Object.entries(input as Record<string, SecretProvider>)) addProvider(p, name);
  } else throw errors.constraint('rotation manager option providers must be an array or a record of SecretProviders');
  return providers;
}

/** Checks the options in a fixed order (the first bad one throws) and applies the defaults. */
export function checkManagerOptions(options: RotationManagerOptions): RotationSettings {
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
  const providers = checkProviders(options.providers);
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
  return {
    options,
    policies,
    service,
    store,
    rbac,
    systemActor,
    providers,
    maxAttempts,
    baseMs,
    maxMs,
    leaseMs,
    maxAckWaitMs,
    concurrency,
    waitPollMs,
    owner,
    clock: options.clock ?? (() => new Date()),
    logger: options.logger,
    hooks: options.hooks ?? {},
  };
}
