/**
 * When rotations happen: a policy's next rotation time (from `intervalDays` or `cron`, see
 * `nextRotation`), which policies are due at a given time, and `runDue`, which starts the due
 * rotations and advances the runs under way, a few policies at a time.
 */
import { isConfigError } from '@summit-config/core';
import { errors, isPlainObject, throwIfAborted } from '@summit-config/core/internal';
import { sanitizeCause } from '../errors.js';
import { RotationPolicyConflictError } from './policies.js';
import { type CheckedPolicyInput, nextRotation, secretKey } from './policy.js';
import { leasedByOther, type RotationRunner } from './run.js';
import { type RotationRuntime, StopSignal } from './runtime.js';
import type { RotationPolicy, RotationStep, SecretId } from './types.js';

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

/**
 * The `nextRotationAt` of a policy being put at `at`: the one given, else (when the schedule
 * changed) the next time from the last rotation, else the one it had.
 */
export function scheduledRotation(
  checked: CheckedPolicyInput,
  existing: RotationPolicy | undefined,
  at: Date,
): string | undefined {
  const scheduleChanged = !existing || existing.intervalDays !== checked.intervalDays || existing.cron !== checked.cron;
  const from = existing?.lastRotatedAt ? new Date(existing.lastRotatedAt) : at;
  return (
    checked.nextRotationAt ??
    (scheduleChanged ? nextRotation(checked, from) : existing?.nextRotationAt) ??
    nextRotation(checked, from)
  );
}

/** Whether `p` has something to do at `t` (ms): a rotation due, or a run to advance. */
function isDue(p: RotationPolicy, t: number, owner: string): boolean {
  if (p.state === 'idle') return p.enabled && p.nextRotationAt !== undefined && Date.parse(p.nextRotationAt) <= t;
  if (p.state !== 'rotating' || !p.run) return false;
  if (leasedByOther(p.run, t, owner)) return false;
  if (p.run.nextAttemptAt !== undefined && Date.parse(p.run.nextAttemptAt) > t) return false;
  if (p.run.step === 'grace' && p.run.graceUntil !== undefined && Date.parse(p.run.graceUntil) > t) return false;
  return true;
}

/** The policies due at `at` (default: now). */
export async function dueRotations(rt: RotationRuntime, at: Date | undefined): Promise<RotationPolicy[]> {
  rt.lifecycle.assertOpen();
  const t = (at ?? rt.now()).getTime();
  return (await rt.settings.policies.list()).filter((p) => isDue(p, t, rt.settings.owner));
}

/** `runDue`'s arguments: a Date, or a leader job's context `{ now?, signal? }`, then `{ signal }`. */
export function runDueArguments(
  atOrContext: unknown,
  runOptions: { signal?: AbortSignal },
): { at: Date | undefined; signal: AbortSignal | undefined } {
  let at: Date | undefined;
  let signal = runOptions.signal;
  if (atOrContext instanceof Date) at = atOrContext;
  else if (isPlainObject(atOrContext)) {
    const ctx = atOrContext as { now?: unknown; signal?: unknown };
    if (ctx.now !== undefined && !(ctx.now instanceof Date)) throw errors.constraint('runDue: now must be a Date');
    at = ctx.now as Date | undefined;
    if (ctx.signal instanceof AbortSignal) signal ??= ctx.signal;
  } else if (atOrContext !== undefined) {
    throw errors.constraint('runDue takes a Date, or a context { now?, signal? }');
  }
  if (at !== undefined && Number.isNaN(at.getTime())) throw errors.constraint('runDue: now must be a valid Date');
  return { at, signal };
}

/** Starts the rotations due at `when` and advances the runs under way, `concurrency` at a time. */
export async function runDue(
  rt: RotationRuntime,
  runner: RotationRunner,
  when: Date,
  signal: AbortSignal,
): Promise<RunDueReport> {
  throwIfAborted(signal);
  const { policies, concurrency } = rt.settings;
  const due = await dueRotations(rt, when);
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
          current = await runner.start(current, 'scheduled');
          started = true;
        }
        current = await runner.advance(current, signal);
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
          rt.log('warn', { secret: p.secret, code, error: e.message }, 'rotation could not be advanced');
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
