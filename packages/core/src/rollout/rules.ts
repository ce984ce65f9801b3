/**
 * The rollout rules stored in `ConfigVersion.rollout`: their types. `validate.ts` checks a document
 * against them and `progress.ts` holds the pure JSON transforms the agent uses to step, promote and
 * abort a progressive rollout. The full format, with examples, is in `docs/rollouts.md`.
 *
 * ```jsonc
 * {
 *   "version": 1,                      // format version (optional, only 1 exists)
 *   "enabled": true,                   // false: no rule applies, reason DISABLED
 *   "seed": "checkout",                // optional prefix of every default bucketing seed
 *   "stickiness": "userId",            // optional default attribute to bucket on (default: the unit id)
 *   "rules": [                         // ordered; the FIRST rule that assigns the unit an overlay wins
 *     { "id": "staff", "strategy": "immediate", "patch": { "debug": true },
 *       "when": { "groups": ["staff"] } },
 *     { "id": "pool", "strategy": "canary", "patch": { "pool": { "max": 50 } },
 *       "schedule": [1000, 2500, 5000, 10000], "step": 1, "state": "running",
 *       "when": { "constraints": [{ "attribute": "country", "operator": "in", "values": ["FR", "DE"] }] } },
 *     { "id": "colour", "strategy": "ab", "variants": [
 *       { "name": "blue", "weight": 5000, "patch": { "colour": "blue" } },
 *       { "name": "green", "weight": 5000, "patch": { "colour": "green" } } ] },
 *     { "id": "sale", "strategy": "window", "windows": [
 *       { "name": "black-friday", "start": "2025-11-28T00:00:00Z", "end": "2025-12-01T00:00:00Z",
 *         "patch": { "discount": 20 } } ] },
 *     { "id": "new-ui", "strategy": "flag", "flag": "new-ui", "patches": { "on": { "ui": "v2" } } }
 *   ],
 *   "flags": {                         // named flags, evaluated on their own (OpenFeature) or by "flag" rules
 *     "new-ui": { "variants": { "on": true, "off": false }, "defaultVariant": "off",
 *       "rules": [ { "id": "beta", "when": { "groups": ["beta"] }, "variant": "on" },
 *                  { "id": "ramp", "variant": "on", "bps": 1000 } ] },
 *     "dark-mode": true                // shorthand for a static boolean flag
 *   }
 * }
 * ```
 * Every rule may carry `when` (targeting) and `window` (`{ start?, end? }`, UTC, start inclusive, end
 * exclusive) gates and `enabled: false`. Shares and weights are basis points (10 000 = 100 %).
 */

import type { JsonObject, JsonValue } from '../model/json.js';
import type { Targeting } from './targeting.js';

/** The strategies a rule can use. */
export const STRATEGIES = ['immediate', 'percentage', 'canary', 'ab', 'flag', 'window'] as const;
export type RolloutStrategy = (typeof STRATEGIES)[number];

/** A UTC interval: active when `start <= now < end`. Either bound may be omitted (open), not both. */
export interface TimeWindow {
  /** ISO-8601 date-time; a date-time without a zone is UTC. */
  start?: string;
  end?: string;
}

interface RuleBase {
  /** Unique within the rollout: `[A-Za-z0-9_.-]{1,64}`. Reported as `ruleId`. */
  id: string;
  description?: string;
  /** Default true. A disabled rule is skipped. */
  enabled?: boolean;
  /** Only units matching this targeting. */
  when?: Targeting;
  /** Only while the clock is inside this window. */
  window?: TimeWindow;
}

/** Everyone (who passes `when` / `window`) gets `patch`. */
export interface ImmediateRule extends RuleBase {
  strategy: 'immediate';
  patch: JsonObject;
}

/** States of a progressive rollout. `paused` serves like `running`; the agent just does not step it. */
export const PROGRESS_STATES = ['running', 'paused', 'promoted', 'aborted'] as const;
export type ProgressState = (typeof PROGRESS_STATES)[number];

/** The agent's health check for a canary: a webhook answering 2xx, or a Prometheus query within bounds. */
export type HealthGate =
  | { kind: 'webhook'; url: string; timeoutMs?: number }
  | { kind: 'prometheus'; query: string; url?: string; min?: number; max?: number };

/**
 * `percentage` and `canary`: a share of units (bucket < share) gets the candidate `patch`. The share is
 * `bps`, or `schedule[step]` when a schedule is given; `promoted` serves everyone, `aborted` no one.
 * Both evaluate the same way; `canary` names a rollout the agent steps behind a `healthGate`.
 */
export interface ProgressiveRule extends RuleBase {
  strategy: 'percentage' | 'canary';
  /** The candidate overlay. */
  patch: JsonObject;
  /** A fixed share in basis points, 0-10 000. Exclusive with `schedule`. */
  bps?: number;
  /** Steps in basis points, strictly increasing, each 1-10 000, e.g. `[1000, 2500, 5000, 10000]`. */
  schedule?: number[];
  /** Index of the current step in `schedule`. Default 0. */
  step?: number;
  /** Default `running`. */
  state?: ProgressState;
  /** Bucketing seed. Default: `<rollout seed>.<rule id>`, or the rule id. Keep it when stepping. */
  seed?: string;
  /** Attribute to bucket on. Default: the rollout's `stickiness`, else the unit id. */
  stickiness?: string;
  /** How often the agent advances a step (minutes). Informational for the engine. */
  stepIntervalMinutes?: number;
  healthGate?: HealthGate;
}

export interface AbVariant {
  /** Reported as `variant`. */
  name: string;
  /** Basis points; the weights of a rule sum to 10 000. */
  weight: number;
  /** The overlay of this variant (`{}` for a control group). */
  patch: JsonObject;
}

/** Weighted variants, each a patch over the base. Buckets are assigned to variants in list order. */
export interface AbRule extends RuleBase {
  strategy: 'ab';
  variants: AbVariant[];
  seed?: string;
  stickiness?: string;
}

/** Applies the patch of the variant the named flag evaluates to (no patch for that variant: no match). */
export interface FlagRule extends RuleBase {
  strategy: 'flag';
  flag: string;
  patches: Record<string, JsonObject>;
}

export interface ScheduledPatch {
  /** Reported as `variant`. Default: `window-<index>`. */
  name?: string;
  start?: string;
  end?: string;
  patch: JsonObject;
}

/** Time-sliced patches: the patch of the window containing now. Windows must not overlap. */
export interface WindowRule extends RuleBase {
  strategy: 'window';
  windows: ScheduledPatch[];
}

export type RolloutRule = ImmediateRule | ProgressiveRule | AbRule | FlagRule | WindowRule;

export type FlagType = 'boolean' | 'string' | 'number' | 'object';

export interface FlagSplit {
  variant: string;
  weight: number;
}

/**
 * One rule of a flag. Serves `variant` (to a `bps` share of matching units when `bps` is given), or a
 * weighted `split` of variants. Exactly one of `variant` and `split`.
 */
export interface FlagRuleSpec {
  id: string;
  description?: string;
  enabled?: boolean;
  when?: Targeting;
  window?: TimeWindow;
  variant?: string;
  bps?: number;
  split?: FlagSplit[];
  /** Default: the flag's `seed`, else `<rollout seed>.<flag key>.<rule id>` (or `<flag key>.<rule id>`). */
  seed?: string;
  stickiness?: string;
}

export interface FlagSpec {
  description?: string;
  /** Default true. A disabled flag serves `offVariant` (else `defaultVariant`) with reason DISABLED. */
  enabled?: boolean;
  /** Inferred from the variants when omitted; every variant value must have this type. */
  type?: FlagType;
  variants: Record<string, JsonValue>;
  /** Served when no rule matches (reason DEFAULT) or when there are no rules (reason STATIC). */
  defaultVariant: string;
  offVariant?: string;
  seed?: string;
  stickiness?: string;
  rules?: FlagRuleSpec[];
}

export interface RolloutSpec {
  version?: 1;
  description?: string;
  /** Default true. False: no rule applies and the outcome reason is DISABLED. */
  enabled?: boolean;
  /** Prefix of every default bucketing seed. */
  seed?: string;
  /** Default attribute to bucket on. Default: the unit id (`targetingKey`, else `userId`). */
  stickiness?: string;
  rules?: RolloutRule[];
  /** Flags by key; `true` / `false` is shorthand for a static boolean flag. */
  flags?: Record<string, FlagSpec | boolean>;
}
