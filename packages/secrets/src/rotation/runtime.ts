/**
 * What the parts of a rotation manager share: the services the manager gives its runs, steps and
 * schedule (settings, clock, log, events, the fenced save), and the state of one step in progress.
 * Internal: nothing here is exported from the package.
 */
import type { Lifecycle } from '@summit-config/core/internal';
import type { SecretProvider } from '../contract.js';
import type { RotationHandler } from './generators.js';
import type { RotationLogger, RotationSettings } from './options.js';
import type { RotationEvent, RotationPolicy, RotationRun, RotationStep, SecretId } from './types.js';

/** The services of one manager, built by `createRotationManager`. */
export interface RotationRuntime {
  readonly settings: RotationSettings;
  readonly lifecycle: Lifecycle;
  /** Generated values of runs in progress in this process (memory only): run id -> value. */
  readonly values: Map<string, string>;
  /** The clock's time; `CONSTRAINT_VIOLATION` when it returns no valid Date. */
  now(): Date;
  /** Logs through the option `logger`; a failing logger is ignored. */
  log(level: keyof RotationLogger, obj: object, msg: string): void;
  /** Tells the listeners; a listener that throws is logged. */
  emit(event: RotationEvent): void;
  /** Posts the notified events to the policy's webhooks; a failed delivery emits `notify-failed`. */
  notify(policy: RotationPolicy, event: RotationEvent): Promise<void>;
  /** Saves unless the manager closed meanwhile (a closed runner records nothing, like a dead one). */
  save(policy: RotationPolicy, expected: number): Promise<RotationPolicy>;
  providerOf(secret: SecretId): SecretProvider;
  handlerOf(policy: RotationPolicy): RotationHandler | undefined;
  /** When a lease taken now ends (ISO-8601). */
  leaseEnd(): string;
}

/** One step in progress. */
export interface RunContext {
  policy: RotationPolicy;
  run: RotationRun;
  provider: SecretProvider;
  handler: RotationHandler | undefined;
  signal: AbortSignal;
  /** Values known in this call, redacted from error messages. */
  redact: string[];
}

/** Result of one step. */
export interface StepOutcome {
  /** The step to record next, `done` to finish, or `wait` to stop here for now. */
  next: RotationStep | 'done' | 'wait';
  patch?: Partial<RotationRun>;
  events?: RotationEvent[];
}

/** Thrown by a save after `close()`: the runner stops as a crashed one would. */
export class StopSignal extends Error {}
