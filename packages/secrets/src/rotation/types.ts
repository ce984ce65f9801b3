/**
 * The types of secret rotation: policies (what to rotate, when, how), the run record of a rotation
 * in progress (the resumable state machine's recorded step and what each step produced), and the
 * typed events. None of them ever holds a secret value: a run records version ids, refs and
 * sanitised errors only.
 */

import type {
  GeneratorSpec,
  LaggingInstance,
  RotationErrorInfo,
  RotationStep,
  SecretId,
} from '@summit-config/core/internal';

// The stored types belong to the rotation policy storage contract (core's store/rotation-policies.ts).
export type {
  BumpedConfig,
  GeneratorSpec,
  HandlerGeneratorSpec,
  LaggingInstance,
  PasswordGeneratorSpec,
  RotationErrorInfo,
  RotationPolicy,
  RotationRun,
  RotationState,
  RotationStep,
  RotationSummary,
  SecretId,
} from '@summit-config/core/internal';

/** What `putPolicy` takes. Exactly one of `intervalDays` and `cron`; at most one of `gracePeriodDays` and `graceMs`. */
export interface RotationPolicyInput {
  readonly secret: SecretId;
  /** Rotate every this many days (a positive integer) after the last rotation. */
  readonly intervalDays?: number;
  /** Or on this 5-field cron schedule (minute hour day-of-month month day-of-week, UTC). */
  readonly cron?: string;
  /** How long the previous version stays valid after the new one is promoted, in days. Default 7. */
  readonly gracePeriodDays?: number;
  /** The same in milliseconds (tests, short-lived credentials). */
  readonly graceMs?: number;
  /** How to make the new value. Default `{ type: 'password' }`. */
  readonly generator?: GeneratorSpec;
  /** Webhook URLs (http or https) notified of started, promoted, completed and failed rotations. At most 20. */
  readonly notify?: readonly string[];
  /** Disabled policies are never due (a rotation can still be started by hand). Default true. */
  readonly enabled?: boolean;
  /** When the first scheduled rotation is due (ISO-8601). Default: one interval (or the next cron time) from now. */
  readonly nextRotationAt?: string;
}

export const ROTATION_STEPS: readonly RotationStep[] = [
  'generate',
  'write',
  'activate',
  'verify',
  'promote',
  'bump',
  'grace',
  'retire',
  'revoke',
];

/** The typed events of the manager. `secret` and `runId` are on every event; none carries a value. */
export type RotationEvent =
  | { type: 'started'; secret: SecretId; runId: string; reason: 'scheduled' | 'manual'; at: string }
  | { type: 'step'; secret: SecretId; runId: string; step: RotationStep; at: string }
  | { type: 'written'; secret: SecretId; runId: string; version: string; reused: boolean; at: string }
  | { type: 'promoted'; secret: SecretId; runId: string; version: string; previousVersion?: string; at: string }
  | {
      type: 'bumped';
      secret: SecretId;
      runId: string;
      refs: ReadonlyArray<{ ref: string; version: number }>;
      pinned: readonly string[];
      at: string;
    }
  | {
      type: 'waiting';
      secret: SecretId;
      runId: string;
      graceUntil: string;
      lagging: readonly LaggingInstance[];
      at: string;
    }
  | { type: 'revoked'; secret: SecretId; runId: string; version: string; at: string }
  | {
      type: 'completed';
      secret: SecretId;
      runId: string;
      version: string;
      previousVersion?: string;
      at: string;
    }
  | {
      type: 'retrying';
      secret: SecretId;
      runId: string;
      step: RotationStep;
      attempts: number;
      nextAttemptAt: string;
      error: RotationErrorInfo;
      at: string;
    }
  | { type: 'failed'; secret: SecretId; runId: string; step: RotationStep; error: RotationErrorInfo; at: string }
  | {
      type: 'notify-failed';
      secret: SecretId;
      runId: string;
      url: string;
      event: string;
      error: string;
      at: string;
    }
  | { type: 'warning'; secret: SecretId; runId?: string; message: string; at: string };

export type RotationEventType = RotationEvent['type'];
