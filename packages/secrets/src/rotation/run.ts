/**
 * One rotation run: the recorded state machine that advances it step by step. Each step is
 * recorded in the policy store before it runs (the transition that ends one step records the next,
 * with what the step produced), so a run stopped anywhere (crash, `close()`, abort) resumes at its
 * recorded step. A step that fails is retried with capped exponential backoff; after
 * `retry.maxAttempts`, or at once for a failure retrying cannot fix (access denied, invalid input,
 * a missing secret), the policy goes to state `failed` with the error: visible, notified, never
 * skipped silently.
 *
 * Runs are fenced: every write compare-and-sets the policy's `revision`, and a run is leased to one
 * runner (`leaseMs`), so two agents, or an agent and a CLI, never run the same step twice at once.
 */
import { randomUUID } from 'node:crypto';
import { isConfigError } from '@summit-config/core';
import { delay, throwIfAborted } from '@summit-config/core/internal';
import { isSecretError, sanitizeCause } from '../errors.js';
import { RotationPolicyConflictError } from './policies.js';
import { nextRotation, secretKey } from './policy.js';
import { type RotationRuntime, type RunContext, type StepOutcome, StopSignal } from './runtime.js';
import { runStep, sensitive } from './steps.js';
import type { RotationErrorInfo, RotationEvent, RotationPolicy, RotationRun, RotationStep } from './types.js';

/** What the manager does with runs. */
export interface RotationRunner {
  /** Records a new run at its first step (`started` event, notified). */
  start(policy: RotationPolicy, reason: 'scheduled' | 'manual'): Promise<RotationPolicy>;
  /**
   * Advances the run as far as it goes now; returns the policy as last recorded. One advance per
   * secret at a time in this process: a second caller shares the first's.
   */
  advance(policy: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy>;
  /** Advances until the run is no longer `rotating` (sleeping while it waits). */
  untilSettled(policy: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy>;
  /** The advances under way in this process (they settle, never reject). */
  underway(): Promise<unknown>[];
}

/** Whether another runner holds a live lease on the run at `at` (ms). */
export function leasedByOther(run: RotationRun | undefined, at: number, owner: string): boolean {
  return (
    run?.owner !== undefined && run.owner !== owner && run.leaseUntil !== undefined && Date.parse(run.leaseUntil) > at
  );
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

/** Sleeps `ms` (a referenced timer: a caller that asked to wait keeps the process alive). */
const sleep = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, signal, true);

export function createRunner(rt: RotationRuntime): RotationRunner {
  const { policies, owner, hooks, maxAttempts, baseMs, maxMs, waitPollMs } = rt.settings;
  /** Advances under way in this process, per secret key. */
  const running = new Map<string, Promise<RotationPolicy | undefined>>();

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
      at: rt.now().toISOString(),
    };
  }

  async function recordFailure(ctx: RunContext, step: RotationStep, error: unknown): Promise<RotationPolicy> {
    const { policy, run } = ctx;
    const attempts = run.attempts + 1;
    const info = errorInfo(error, step, attempts, ctx.redact);
    const released = { ...run, attempts, lastError: info, owner: undefined, leaseUntil: undefined };
    if (isPermanent(error) || attempts >= maxAttempts) {
      const failed = await rt.save(
        { ...policy, state: 'failed', step, error: info, run: { ...released, nextAttemptAt: undefined } },
        policy.revision,
      );
      rt.values.delete(run.id);
      rt.log('error', { secret: policy.secret, runId: run.id, step, error: info }, 'secret rotation failed');
      const event: RotationEvent = {
        type: 'failed',
        secret: policy.secret,
        runId: run.id,
        step,
        error: info,
        at: info.at,
      };
      rt.emit(event);
      await rt.notify(failed, event);
      return failed;
    }
    const wait = Math.min(maxMs, baseMs * 2 ** (attempts - 1));
    const nextAttemptAt = new Date(rt.now().getTime() + wait).toISOString();
    const saved = await rt.save({ ...policy, run: { ...released, nextAttemptAt } }, policy.revision);
    rt.log(
      'warn',
      { secret: policy.secret, runId: run.id, step, attempts, nextAttemptAt, error: info },
      'secret rotation step failed, will retry',
    );
    rt.emit({
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
    const promotedAt = run.promotedAt ?? rt.now().toISOString();
    const completedAt = rt.now().toISOString();
    const done = await rt.save(
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
    rt.values.delete(run.id);
    for (const e of stepEvents) rt.emit(e);
    rt.log('info', { secret: policy.secret, runId: run.id, version: run.newVersion }, 'secret rotation completed');
    const event: RotationEvent = {
      type: 'completed',
      secret: policy.secret,
      runId: run.id,
      version: run.newVersion as string,
      ...(run.previousVersion === undefined ? {} : { previousVersion: run.previousVersion }),
      at: completedAt,
    };
    rt.emit(event);
    await rt.notify(done, event);
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
      rt.log('debug', { secret: start.secret }, 'another runner recorded this rotation first');
      return (await policies.get(start.secret)) ?? start;
    }
  }

  async function advanceLoop(start: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    let policy = start;
    for (;;) {
      throwIfAborted(signal);
      if (policy.state !== 'rotating' || !policy.run) return policy;
      const t = rt.now().getTime();
      if (leasedByOther(policy.run, t, owner)) return policy;
      if (policy.run.nextAttemptAt !== undefined && Date.parse(policy.run.nextAttemptAt) > t) return policy;
      const step = policy.run.step;
      // Take the lease before a step with side effects (grace only reads).
      const holds =
        policy.run.owner === owner && policy.run.leaseUntil !== undefined && Date.parse(policy.run.leaseUntil) > t;
      if (step !== 'grace' && !holds) {
        policy = await rt.save(
          { ...policy, run: { ...policy.run, owner, leaseUntil: rt.leaseEnd(), nextAttemptAt: undefined } },
          policy.revision,
        );
      }
      const ctx: RunContext = {
        policy,
        run: policy.run as RotationRun,
        provider: rt.providerOf(policy.secret),
        handler: rt.handlerOf(policy),
        signal,
        redact: [],
      };
      const known = rt.values.get(ctx.run.id);
      if (known !== undefined) ctx.redact.push(...sensitive(known));
      await hooks.beforeStep?.(step, policy);
      let outcome: StepOutcome;
      try {
        outcome = await runStep(rt, ctx, step);
      } catch (error) {
        // Stopping is not failing, and a lost compare-and-set means another runner moved on.
        if (signal.aborted || error instanceof StopSignal || rt.lifecycle.closed) throw error;
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
          policy = await rt.save(
            { ...policy, run: { ...run, ...outcome.patch, owner: undefined, leaseUntil: undefined } },
            policy.revision,
          );
        }
        if (changed) for (const e of outcome.events ?? []) rt.emit(e);
        return policy;
      }
      if (outcome.next === 'done') {
        policy = await finish(ctx, outcome.patch, outcome.events ?? []);
        await hooks.afterStep?.(step, policy);
        return policy;
      }
      const next = outcome.next;
      policy = await rt.save(
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
            leaseUntil: rt.leaseEnd(),
          },
        },
        policy.revision,
      );
      for (const e of outcome.events ?? []) {
        rt.emit(e);
        if (e.type === 'promoted') {
          rt.log(
            'info',
            { secret: e.secret, runId: e.runId, version: e.version },
            'secret rotation promoted a new version',
          );
          await rt.notify(policy, e);
        }
      }
      rt.emit({ type: 'step', secret: policy.secret, runId: run.id, step: next, at: rt.now().toISOString() });
      await hooks.afterStep?.(step, policy);
    }
  }

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

  async function start(policy: RotationPolicy, reason: 'scheduled' | 'manual'): Promise<RotationPolicy> {
    rt.providerOf(policy.secret);
    rt.handlerOf(policy);
    const startedAt = rt.now().toISOString();
    const run: RotationRun = {
      id: randomUUID(),
      reason,
      startedAt,
      step: 'generate',
      attempts: 0,
      owner,
      leaseUntil: rt.leaseEnd(),
    };
    const started = await rt.save(
      { ...policy, state: 'rotating', step: 'generate', error: undefined, run },
      policy.revision,
    );
    rt.log('info', { secret: policy.secret, runId: run.id, reason }, 'secret rotation started');
    const event: RotationEvent = { type: 'started', secret: policy.secret, runId: run.id, reason, at: startedAt };
    rt.emit(event);
    rt.emit({ type: 'step', secret: policy.secret, runId: run.id, step: 'generate', at: startedAt });
    await rt.notify(started, event);
    return started;
  }

  async function untilSettled(policy: RotationPolicy, signal: AbortSignal): Promise<RotationPolicy> {
    let p = await advance(policy, signal);
    while (p.state === 'rotating' && p.run) {
      const t = rt.now().getTime();
      const wakes = [t + waitPollMs];
      if (p.run.nextAttemptAt) wakes.push(Date.parse(p.run.nextAttemptAt));
      if (p.run.graceUntil && Date.parse(p.run.graceUntil) > t) wakes.push(Date.parse(p.run.graceUntil));
      if (leasedByOther(p.run, t, owner) && p.run.leaseUntil) wakes.push(Date.parse(p.run.leaseUntil));
      await sleep(Math.max(1, Math.min(...wakes) - t), signal);
      p = await advance((await policies.get(p.secret)) ?? p, signal);
    }
    return p;
  }

  return { start, advance, untilSettled, underway: () => [...running.values()] };
}
