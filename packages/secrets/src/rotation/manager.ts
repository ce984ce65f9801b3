/**
 * The rotation manager: policies, the scheduler's entry points (`dueRotations`, `runDue`), manual
 * rotation, events and the manager's life cycle. A run's state machine is in `run.ts`, its steps
 * in `steps.ts`, the schedule in `schedule.ts`, the options in `options.ts`.
 *
 *   const rotation = createRotationManager({ policies, providers: [aws], service, store, rbac,
 *     actor: { id: 'summit-agent', roles: ['rotation-agent'] }, resolver });
 *   await rotation.putPolicy(admin, { secret: { provider: 'aws', name: 'prod-db' }, intervalDays: 30 });
 *   agent.registerLeaderJob('rotation', () => rotation.runDue());      // every minute, leader only
 *
 * A run goes through the steps of `RotationStep`, each recorded before it runs, so a run
 * stopped anywhere resumes at its recorded step; a failed step is retried with backoff, then the
 * policy goes to state `failed` with the error. Secret values live in this process's memory only,
 * for the duration of a run.
 */
import { type Actor, isConfigError } from '@summit-config/core';
import { checkActor, errors, Lifecycle, ListenerSet, onAbort, throwIfAborted } from '@summit-config/core/internal';
import type { SecretProvider } from '../contract.js';
import { sanitizeCause } from '../errors.js';
import type { RotationHandler } from './generators.js';
import { notificationOf, postWebhooks } from './notify.js';
import { checkManagerOptions, type RotationLogger, type RotationManagerOptions } from './options.js';
import { checkPolicyInput, checkSecretId, secretKey } from './policy.js';
import { createRunner } from './run.js';
import { type RotationRuntime, StopSignal } from './runtime.js';
import { dueRotations, type RunDueReport, runDue, runDueArguments, scheduledRotation } from './schedule.js';
import type { RotationEvent, RotationEventType, RotationPolicy, RotationPolicyInput, SecretId } from './types.js';

export interface RotateOptions {
  /** Keep advancing (sleeping between steps that wait) until the run completes or fails. Default false. */
  wait?: boolean;
  /** Start a new run although the failed one had promoted (its previous version was never revoked). */
  force?: boolean;
  signal?: AbortSignal;
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

const HANDLER_RE = /^[A-Za-z0-9_.-]{1,128}$/;

export function createRotationManager(options: RotationManagerOptions): RotationManager {
  const settings = checkManagerOptions(options);
  const { policies, rbac, systemActor, providers, clock, logger, leaseMs } = settings;
  const handlers = new Map<string, RotationHandler>();
  const lifecycle = new Lifecycle('rotation manager');
  const stopper = new AbortController();
  const listeners = new ListenerSet<RotationEvent>();

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

  async function save(policy: RotationPolicy, expected: number): Promise<RotationPolicy> {
    if (lifecycle.closed) throw new StopSignal('closed');
    return policies.save({ ...policy, updatedAt: now().toISOString() }, expected);
  }

  const rt: RotationRuntime = {
    settings,
    lifecycle,
    values: new Map<string, string>(),
    now,
    log,
    emit,
    notify,
    save,
    providerOf,
    handlerOf,
    leaseEnd: () => new Date(now().getTime() + leaseMs).toISOString(),
  };
  const runner = createRunner(rt);

  function authorize(actorInput: Actor, permission: 'secrets:read' | 'secrets:write' | 'secrets:rotate'): Actor {
    lifecycle.assertOpen();
    const actor = checkActor(actorInput);
    rbac.check(actor, permission, {});
    return actor;
  }

  async function required(secret: SecretId): Promise<RotationPolicy> {
    const found = await policies.get(secret);
    if (!found) throw errors.notFound(`no rotation policy for ${secretKey(secret)}`);
    return found;
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

  /** `rotate` and `retry`: checks, then with the linked signal gets the policy and lets `go` move it on. */
  function onPolicy(
    actorInput: Actor,
    secretInput: SecretId,
    rotateOptions: { wait?: boolean; signal?: AbortSignal },
    go: (policy: RotationPolicy, secret: SecretId) => Promise<RotationPolicy>,
  ): Promise<RotationPolicy> {
    authorize(actorInput, 'secrets:rotate');
    const secret = checkSecretId(secretInput);
    return linked(rotateOptions.signal, async (signal) => {
      throwIfAborted(signal);
      const policy = await go(await required(secret), secret);
      return rotateOptions.wait ? runner.untilSettled(policy, signal) : runner.advance(policy, signal);
    });
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
        const policy: RotationPolicy = {
          secret: checked.secret,
          intervalDays: checked.intervalDays,
          cron: checked.cron,
          graceMs: checked.graceMs,
          generator: checked.generator,
          notify: checked.notify,
          enabled: checked.enabled,
          lastRotatedAt: existing?.lastRotatedAt,
          nextRotationAt: scheduledRotation(checked, existing, at),
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
      return onPolicy(actorInput, secretInput, rotateOptions, async (policy, secret) => {
        if (policy.state === 'failed' && policy.run?.promotedAt !== undefined && rotateOptions.force !== true) {
          throw errors.constraint(
            `the last rotation of ${secretKey(secret)} failed at step ${policy.step} after promoting version ${policy.run.newVersion}: its previous version ${policy.run.previousVersion ?? ''} is still valid. Use retry to finish it, or force to start anew (a new promote revokes that version at once)`,
          );
        }
        return policy.state !== 'rotating' ? runner.start(policy, 'manual') : policy;
      });
    },

    async retry(actorInput, secretInput, rotateOptions = {}) {
      return onPolicy(actorInput, secretInput, rotateOptions, async (policy, secret) => {
        if (policy.state === 'failed' && policy.run) {
          return save(
            {
              ...policy,
              state: 'rotating',
              step: policy.run.step,
              error: undefined,
              run: { ...policy.run, attempts: 0, nextAttemptAt: undefined },
            },
            policy.revision,
          );
        }
        if (policy.state !== 'rotating') {
          throw errors.constraint(
            `rotation policy ${secretKey(secret)} has no failed run to retry (state ${policy.state})`,
          );
        }
        return policy;
      });
    },

    async dueRotations(at) {
      return dueRotations(rt, at);
    },

    async runDue(atOrContext, runOptions = {}) {
      authorize(systemActor, 'secrets:rotate');
      // Also callable as a leader job: runDue({ signal, ... }).
      const { at, signal: callerSignal } = runDueArguments(atOrContext, runOptions);
      return linked(callerSignal, (signal) => runDue(rt, runner, at ?? now(), signal));
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
        await Promise.allSettled(runner.underway());
        listeners.clear();
        rt.values.clear();
      });
    },

    [Symbol.asyncDispose]() {
      return manager.close();
    },
  };
  return manager;
}
