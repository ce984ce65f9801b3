/**
 * The rollout rules stored in `ConfigVersion.rollout`, their validation, and the pure JSON transforms
 * the agent uses to step, promote and abort a progressive rollout. The full format, with examples, is
 * in `docs/rollouts.md`.
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

import { errors, SchemaValidationError, type ValidationIssue } from '../errors/config-error.js';
import { assertJson, isPlainObject, type JsonObject, type JsonValue } from '../model/json.js';
import { TOTAL_BPS } from './bucketing.js';
import { checkKeys, child, IssueList, isRecord, NAME, parseTime } from './issues.js';
import { checkTargeting, type Targeting } from './targeting.js';

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

const ROLLOUT_KEYS = new Set(['version', 'description', 'enabled', 'seed', 'stickiness', 'rules', 'flags']);
const BASE_KEYS = ['id', 'strategy', 'description', 'enabled', 'when', 'window'];
const RULE_KEYS: Record<RolloutStrategy, ReadonlySet<string>> = {
  immediate: new Set([...BASE_KEYS, 'patch']),
  percentage: new Set([
    ...BASE_KEYS,
    'patch',
    'bps',
    'schedule',
    'step',
    'state',
    'seed',
    'stickiness',
    'stepIntervalMinutes',
    'healthGate',
  ]),
  canary: new Set([
    ...BASE_KEYS,
    'patch',
    'bps',
    'schedule',
    'step',
    'state',
    'seed',
    'stickiness',
    'stepIntervalMinutes',
    'healthGate',
  ]),
  ab: new Set([...BASE_KEYS, 'variants', 'seed', 'stickiness']),
  flag: new Set([...BASE_KEYS, 'flag', 'patches']),
  window: new Set(['id', 'strategy', 'description', 'enabled', 'when', 'windows']),
};
const WINDOW_KEYS = new Set(['start', 'end']);
const SCHEDULED_KEYS = new Set(['name', 'start', 'end', 'patch']);
const VARIANT_KEYS = new Set(['name', 'weight', 'patch']);
const FLAG_KEYS = new Set([
  'description',
  'enabled',
  'type',
  'variants',
  'defaultVariant',
  'offVariant',
  'seed',
  'stickiness',
  'rules',
]);
const FLAG_RULE_KEYS = new Set([
  'id',
  'description',
  'enabled',
  'when',
  'window',
  'variant',
  'bps',
  'split',
  'seed',
  'stickiness',
]);
const SPLIT_KEYS = new Set(['variant', 'weight']);
const STRATEGY_SET: ReadonlySet<string> = new Set(STRATEGIES);
const FLAG_TYPES: ReadonlySet<string> = new Set(['boolean', 'string', 'number', 'object']);

function isBps(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= TOTAL_BPS;
}

function checkBps(value: unknown, pointer: string, issues: IssueList, what = 'bps'): boolean {
  if (isBps(value)) return true;
  issues.add(
    pointer,
    `${what} must be an integer number of basis points between 0 and ${TOTAL_BPS}, got ${JSON.stringify(value)}`,
    'bps',
  );
  return false;
}

function checkOptionalString(value: unknown, pointer: string, issues: IssueList, what: string): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    issues.add(pointer, `${what} must be a non-empty string`, 'type');
  }
}

function checkOptionalBoolean(value: unknown, pointer: string, issues: IssueList, what: string): void {
  if (value !== undefined && typeof value !== 'boolean') issues.add(pointer, `${what} must be a boolean`, 'type');
}

function checkPatch(value: unknown, pointer: string, issues: IssueList): void {
  if (!isPlainObject(value)) {
    issues.add(pointer, 'patch must be a JSON object', 'type');
    return;
  }
  try {
    assertJson(value, pointer);
  } catch (error) {
    issues.add(pointer, (error as Error).message, 'type');
  }
}

/** An interval in epoch milliseconds, or undefined when the bounds are invalid (issues added). */
function checkInterval(
  raw: Record<string, unknown>,
  pointer: string,
  issues: IssueList,
): { start: number; end: number } | undefined {
  let ok = true;
  let start = Number.NEGATIVE_INFINITY;
  let end = Number.POSITIVE_INFINITY;
  if (raw.start === undefined && raw.end === undefined) {
    issues.add(pointer, 'a time window needs a start, an end, or both', 'required');
    return undefined;
  }
  if (raw.start !== undefined) {
    start = typeof raw.start === 'string' ? parseTime(raw.start) : Number.NaN;
    if (Number.isNaN(start)) {
      issues.add(
        child(pointer, 'start'),
        `start must be an ISO-8601 date-time, got ${JSON.stringify(raw.start)}`,
        'format',
      );
      ok = false;
    }
  }
  if (raw.end !== undefined) {
    end = typeof raw.end === 'string' ? parseTime(raw.end) : Number.NaN;
    if (Number.isNaN(end)) {
      issues.add(child(pointer, 'end'), `end must be an ISO-8601 date-time, got ${JSON.stringify(raw.end)}`, 'format');
      ok = false;
    }
  }
  if (ok && start >= end) {
    issues.add(pointer, `window start ${String(raw.start)} is not before its end ${String(raw.end)}`, 'window');
    ok = false;
  }
  return ok ? { start, end } : undefined;
}

function checkWindow(raw: unknown, pointer: string, issues: IssueList): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'window must be an object { start?, end? }', 'type');
    return;
  }
  checkKeys(raw, WINDOW_KEYS, pointer, issues, 'a window');
  checkInterval(raw, pointer, issues);
}

function checkStickiness(rule: Record<string, unknown>, pointer: string, issues: IssueList): void {
  checkOptionalString(rule.seed, child(pointer, 'seed'), issues, 'seed');
  checkOptionalString(rule.stickiness, child(pointer, 'stickiness'), issues, 'stickiness');
}

function checkProgressive(rule: Record<string, unknown>, pointer: string, issues: IssueList): void {
  checkPatch(rule.patch, child(pointer, 'patch'), issues);
  checkStickiness(rule, pointer, issues);
  const hasBps = rule.bps !== undefined;
  const hasSchedule = rule.schedule !== undefined;
  if (hasBps === hasSchedule) {
    issues.add(pointer, 'a percentage or canary rule needs exactly one of "bps" and "schedule"', 'required');
  }
  if (hasBps) checkBps(rule.bps, child(pointer, 'bps'), issues);
  if (hasSchedule) {
    const sp = child(pointer, 'schedule');
    const schedule = rule.schedule;
    if (!Array.isArray(schedule) || schedule.length === 0) {
      issues.add(sp, 'schedule must be a non-empty array of basis points', 'type');
    } else {
      let previous = 0;
      schedule.forEach((value, i) => {
        if (!checkBps(value, child(sp, i), issues, 'a schedule step')) return;
        if (value === 0) issues.add(child(sp, i), 'a schedule step must be above 0 bps', 'bps');
        else if (value <= previous) {
          issues.add(child(sp, i), `schedule steps must increase: ${value} bps after ${previous} bps`, 'bps');
        }
        previous = Math.max(previous, value);
      });
      if (rule.step !== undefined) {
        const step = rule.step;
        if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step >= schedule.length) {
          issues.add(
            child(pointer, 'step'),
            `step must be an index into schedule (0-${schedule.length - 1}), got ${JSON.stringify(step)}`,
            'range',
          );
        }
      }
    }
  } else if (rule.step !== undefined) {
    issues.add(child(pointer, 'step'), 'step needs a schedule', 'dependencies');
  }
  if (rule.state !== undefined && !(PROGRESS_STATES as readonly unknown[]).includes(rule.state)) {
    issues.add(
      child(pointer, 'state'),
      `unknown state ${JSON.stringify(rule.state)}; expected one of ${PROGRESS_STATES.join(', ')}`,
      'enum',
    );
  }
  if (rule.stepIntervalMinutes !== undefined) {
    const m = rule.stepIntervalMinutes;
    if (typeof m !== 'number' || !Number.isFinite(m) || m <= 0) {
      issues.add(child(pointer, 'stepIntervalMinutes'), 'stepIntervalMinutes must be a positive number', 'type');
    }
  }
  if (rule.healthGate !== undefined) checkHealthGate(rule.healthGate, child(pointer, 'healthGate'), issues);
}

function checkHealthGate(raw: unknown, pointer: string, issues: IssueList): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'healthGate must be an object', 'type');
    return;
  }
  if (raw.kind === 'webhook') {
    checkKeys(raw, new Set(['kind', 'url', 'timeoutMs']), pointer, issues, 'a webhook health gate');
    if (typeof raw.url !== 'string' || !URL.canParse(raw.url)) {
      issues.add(child(pointer, 'url'), 'url must be an absolute URL', 'format');
    }
    if (raw.timeoutMs !== undefined && !(typeof raw.timeoutMs === 'number' && raw.timeoutMs > 0)) {
      issues.add(child(pointer, 'timeoutMs'), 'timeoutMs must be a positive number', 'type');
    }
  } else if (raw.kind === 'prometheus') {
    checkKeys(raw, new Set(['kind', 'query', 'url', 'min', 'max']), pointer, issues, 'a prometheus health gate');
    checkOptionalString(raw.query, child(pointer, 'query'), issues, 'query');
    if (raw.query === undefined) issues.add(child(pointer, 'query'), 'query is required', 'required');
    if (raw.url !== undefined && !(typeof raw.url === 'string' && URL.canParse(raw.url))) {
      issues.add(child(pointer, 'url'), 'url must be an absolute URL', 'format');
    }
    for (const k of ['min', 'max'] as const) {
      if (raw[k] !== undefined && !(typeof raw[k] === 'number' && Number.isFinite(raw[k]))) {
        issues.add(child(pointer, k), `${k} must be a finite number`, 'type');
      }
    }
  } else {
    issues.add(
      child(pointer, 'kind'),
      `unknown health gate kind ${JSON.stringify(raw.kind)}; expected webhook or prometheus`,
      'enum',
    );
  }
}

function checkWeights(
  list: unknown[],
  pointer: string,
  issues: IssueList,
  nameKey: 'name' | 'variant',
  keys: ReadonlySet<string>,
  what: string,
  each?: (item: Record<string, unknown>, p: string) => void,
): void {
  if (list.length === 0) {
    issues.add(pointer, `${what} must not be empty`, 'minItems');
    return;
  }
  let sum = 0;
  let weightsOk = true;
  const names = new Set<string>();
  list.forEach((item, i) => {
    const p = child(pointer, i);
    if (!isRecord(item)) {
      issues.add(p, `each of ${what} must be an object`, 'type');
      weightsOk = false;
      return;
    }
    checkKeys(item, keys, p, issues, `one of ${what}`);
    const name = item[nameKey];
    if (typeof name !== 'string' || !NAME.test(name)) {
      issues.add(child(p, nameKey), `${nameKey} must match ${NAME.source}`, 'pattern');
    } else if (names.has(name)) {
      issues.add(child(p, nameKey), `${nameKey} "${name}" appears twice`, 'uniqueItems');
    } else names.add(name);
    if (checkBps(item.weight, child(p, 'weight'), issues, 'weight')) sum += item.weight as number;
    else weightsOk = false;
    each?.(item, p);
  });
  if (weightsOk && sum !== TOTAL_BPS) {
    issues.add(pointer, `weights sum to ${sum} bps; they must sum to ${TOTAL_BPS}`, 'weights');
  }
}

function checkWindowRule(rule: Record<string, unknown>, pointer: string, issues: IssueList): void {
  const wp = child(pointer, 'windows');
  if (!Array.isArray(rule.windows) || rule.windows.length === 0) {
    issues.add(wp, 'windows must be a non-empty array of { name?, start?, end?, patch }', 'type');
    return;
  }
  const intervals: Array<{ start: number; end: number; index: number }> = [];
  const names = new Set<string>();
  rule.windows.forEach((w, i) => {
    const p = child(wp, i);
    if (!isRecord(w)) {
      issues.add(p, 'a window must be an object { name?, start?, end?, patch }', 'type');
      return;
    }
    checkKeys(w, SCHEDULED_KEYS, p, issues, 'a scheduled window');
    if (w.name !== undefined) {
      if (typeof w.name !== 'string' || !NAME.test(w.name)) {
        issues.add(child(p, 'name'), `name must match ${NAME.source}`, 'pattern');
      } else if (names.has(w.name)) issues.add(child(p, 'name'), `name "${w.name}" appears twice`, 'uniqueItems');
      else names.add(w.name);
    }
    checkPatch(w.patch, child(p, 'patch'), issues);
    const interval = checkInterval(w, p, issues);
    if (interval) intervals.push({ ...interval, index: i });
  });
  intervals.sort((a, b) => a.start - b.start);
  for (let i = 1; i < intervals.length; i++) {
    const prev = intervals[i - 1]!;
    const cur = intervals[i]!;
    if (cur.start < prev.end) {
      issues.add(
        child(wp, cur.index),
        `window ${cur.index} overlaps window ${prev.index}; windows of one rule must not overlap`,
        'overlap',
      );
    }
  }
}

function checkRule(raw: unknown, pointer: string, issues: IssueList, ids: Set<string>): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'a rule must be an object { id, strategy, ... }', 'type');
    return;
  }
  if (typeof raw.id !== 'string' || !NAME.test(raw.id)) {
    issues.add(child(pointer, 'id'), `rule id must match ${NAME.source}`, 'pattern');
  } else if (ids.has(raw.id)) {
    issues.add(child(pointer, 'id'), `rule id "${raw.id}" appears twice`, 'uniqueItems');
  } else ids.add(raw.id);
  const strategy = raw.strategy;
  if (typeof strategy !== 'string' || !STRATEGY_SET.has(strategy)) {
    issues.add(
      child(pointer, 'strategy'),
      `unknown strategy ${JSON.stringify(strategy)}; expected one of ${STRATEGIES.join(', ')}`,
      'enum',
    );
    return;
  }
  const s = strategy as RolloutStrategy;
  checkKeys(raw, RULE_KEYS[s], pointer, issues, `a ${s} rule`);
  checkOptionalString(raw.description, child(pointer, 'description'), issues, 'description');
  checkOptionalBoolean(raw.enabled, child(pointer, 'enabled'), issues, 'enabled');
  if (raw.when !== undefined) checkTargeting(raw.when, child(pointer, 'when'), issues);
  if (raw.window !== undefined && s !== 'window') checkWindow(raw.window, child(pointer, 'window'), issues);
  switch (s) {
    case 'immediate':
      checkPatch(raw.patch, child(pointer, 'patch'), issues);
      break;
    case 'percentage':
    case 'canary':
      checkProgressive(raw, pointer, issues);
      break;
    case 'ab': {
      checkStickiness(raw, pointer, issues);
      const vp = child(pointer, 'variants');
      if (!Array.isArray(raw.variants)) issues.add(vp, 'variants must be an array of { name, weight, patch }', 'type');
      else
        checkWeights(raw.variants, vp, issues, 'name', VARIANT_KEYS, 'variants', (v, p) =>
          checkPatch(v.patch, child(p, 'patch'), issues),
        );
      break;
    }
    case 'flag': {
      if (typeof raw.flag !== 'string' || !NAME.test(raw.flag)) {
        issues.add(child(pointer, 'flag'), `flag must name a flag of this rollout`, 'required');
      }
      const pp = child(pointer, 'patches');
      if (!isRecord(raw.patches) || Object.keys(raw.patches).length === 0) {
        issues.add(pp, 'patches must map at least one variant name to a patch', 'type');
      } else {
        for (const [variant, patch] of Object.entries(raw.patches)) checkPatch(patch, child(pp, variant), issues);
      }
      break;
    }
    case 'window':
      checkWindowRule(raw, pointer, issues);
      break;
  }
}

function jsonType(value: JsonValue): FlagType | 'null' {
  if (value === null) return 'null';
  if (typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number')
    return typeof value as FlagType;
  return 'object';
}

function checkFlag(key: string, raw: unknown, pointer: string, issues: IssueList): Set<string> | undefined {
  if (!NAME.test(key)) issues.add(pointer, `flag key must match ${NAME.source}`, 'pattern');
  if (typeof raw === 'boolean') return new Set(['on', 'off']);
  if (!isRecord(raw)) {
    issues.add(pointer, 'a flag must be a boolean or an object { variants, defaultVariant, rules? }', 'type');
    return undefined;
  }
  checkKeys(raw, FLAG_KEYS, pointer, issues, 'a flag');
  checkOptionalString(raw.description, child(pointer, 'description'), issues, 'description');
  checkOptionalBoolean(raw.enabled, child(pointer, 'enabled'), issues, 'enabled');
  checkOptionalString(raw.seed, child(pointer, 'seed'), issues, 'seed');
  checkOptionalString(raw.stickiness, child(pointer, 'stickiness'), issues, 'stickiness');
  if (raw.type !== undefined && (typeof raw.type !== 'string' || !FLAG_TYPES.has(raw.type))) {
    issues.add(
      child(pointer, 'type'),
      `unknown flag type ${JSON.stringify(raw.type)}; expected boolean, string, number or object`,
      'enum',
    );
  }
  const vp = child(pointer, 'variants');
  if (!isRecord(raw.variants) || Object.keys(raw.variants).length === 0) {
    issues.add(vp, 'variants must map at least one variant name to a value', 'type');
    return undefined;
  }
  const variants = new Set<string>();
  let firstType: string | undefined = typeof raw.type === 'string' ? raw.type : undefined;
  for (const [name, value] of Object.entries(raw.variants)) {
    const p = child(vp, name);
    if (!NAME.test(name)) issues.add(p, `variant name must match ${NAME.source}`, 'pattern');
    variants.add(name);
    try {
      assertJson(value, p);
    } catch (error) {
      issues.add(p, (error as Error).message, 'type');
      continue;
    }
    const t = jsonType(value as JsonValue);
    if (t === 'null') {
      issues.add(p, 'a variant value must not be null', 'type');
      continue;
    }
    firstType ??= t;
    if (t !== firstType) issues.add(p, `variant "${name}" is a ${t}, but the flag's values are ${firstType}`, 'type');
  }
  for (const k of ['defaultVariant', 'offVariant'] as const) {
    const v = raw[k];
    if (v === undefined && k === 'offVariant') continue;
    if (typeof v !== 'string' || !variants.has(v)) {
      issues.add(child(pointer, k), `${k} must name one of the variants (${[...variants].join(', ')})`, 'required');
    }
  }
  if (raw.rules !== undefined) {
    const rp = child(pointer, 'rules');
    if (!Array.isArray(raw.rules)) issues.add(rp, 'rules must be an array', 'type');
    else {
      const ids = new Set<string>();
      raw.rules.forEach((rule, i) => {
        checkFlagRule(rule, child(rp, i), issues, ids, variants);
      });
    }
  }
  return variants;
}

function checkFlagRule(
  raw: unknown,
  pointer: string,
  issues: IssueList,
  ids: Set<string>,
  variants: Set<string>,
): void {
  if (!isRecord(raw)) {
    issues.add(pointer, 'a flag rule must be an object { id, variant | split, when?, ... }', 'type');
    return;
  }
  checkKeys(raw, FLAG_RULE_KEYS, pointer, issues, 'a flag rule');
  if (typeof raw.id !== 'string' || !NAME.test(raw.id)) {
    issues.add(child(pointer, 'id'), `rule id must match ${NAME.source}`, 'pattern');
  } else if (ids.has(raw.id)) {
    issues.add(child(pointer, 'id'), `rule id "${raw.id}" appears twice`, 'uniqueItems');
  } else ids.add(raw.id);
  checkOptionalString(raw.description, child(pointer, 'description'), issues, 'description');
  checkOptionalBoolean(raw.enabled, child(pointer, 'enabled'), issues, 'enabled');
  checkStickiness(raw, pointer, issues);
  if (raw.when !== undefined) checkTargeting(raw.when, child(pointer, 'when'), issues);
  if (raw.window !== undefined) checkWindow(raw.window, child(pointer, 'window'), issues);
  const hasVariant = raw.variant !== undefined;
  const hasSplit = raw.split !== undefined;
  if (hasVariant === hasSplit) {
    issues.add(pointer, 'a flag rule needs exactly one of "variant" and "split"', 'required');
  }
  if (hasVariant && (typeof raw.variant !== 'string' || !variants.has(raw.variant))) {
    issues.add(
      child(pointer, 'variant'),
      `variant ${JSON.stringify(raw.variant)} is not one of the flag's variants`,
      'enum',
    );
  }
  if (raw.bps !== undefined) {
    if (!hasVariant) issues.add(child(pointer, 'bps'), 'bps applies to a rule with "variant"', 'dependencies');
    checkBps(raw.bps, child(pointer, 'bps'), issues);
  }
  if (hasSplit) {
    const sp = child(pointer, 'split');
    if (!Array.isArray(raw.split)) issues.add(sp, 'split must be an array of { variant, weight }', 'type');
    else
      checkWeights(raw.split, sp, issues, 'variant', SPLIT_KEYS, 'split', (item, p) => {
        if (typeof item.variant === 'string' && !variants.has(item.variant)) {
          issues.add(child(p, 'variant'), `variant "${item.variant}" is not one of the flag's variants`, 'enum');
        }
      });
  }
}

/** Collects every issue of a rollout document without throwing. Pointers are relative to the rollout. */
export function rolloutIssues(raw: unknown, pointer = ''): ValidationIssue[] {
  const issues = new IssueList();
  if (!isRecord(raw)) {
    issues.add(pointer, 'a rollout must be a JSON object', 'type');
    return issues.issues;
  }
  checkKeys(raw, ROLLOUT_KEYS, pointer, issues, 'a rollout');
  if (raw.version !== undefined && raw.version !== 1) {
    issues.add(
      child(pointer, 'version'),
      `unknown rollout format version ${JSON.stringify(raw.version)}; expected 1`,
      'enum',
    );
  }
  checkOptionalString(raw.description, child(pointer, 'description'), issues, 'description');
  checkOptionalBoolean(raw.enabled, child(pointer, 'enabled'), issues, 'enabled');
  checkOptionalString(raw.seed, child(pointer, 'seed'), issues, 'seed');
  checkOptionalString(raw.stickiness, child(pointer, 'stickiness'), issues, 'stickiness');
  const flagVariants = new Map<string, Set<string> | undefined>();
  if (raw.flags !== undefined) {
    const fp = child(pointer, 'flags');
    if (!isRecord(raw.flags)) issues.add(fp, 'flags must be an object of flags by key', 'type');
    else {
      for (const [key, flag] of Object.entries(raw.flags)) {
        flagVariants.set(key, checkFlag(key, flag, child(fp, key), issues));
      }
    }
  }
  if (raw.rules !== undefined) {
    const rp = child(pointer, 'rules');
    if (!Array.isArray(raw.rules)) issues.add(rp, 'rules must be an array', 'type');
    else {
      const ids = new Set<string>();
      raw.rules.forEach((rule, i) => {
        const p = child(rp, i);
        checkRule(rule, p, issues, ids);
        if (isRecord(rule) && rule.strategy === 'flag' && typeof rule.flag === 'string') {
          if (!flagVariants.has(rule.flag)) {
            issues.add(child(p, 'flag'), `flag "${rule.flag}" is not defined in this rollout's flags`, 'reference');
          } else {
            const variants = flagVariants.get(rule.flag);
            if (variants && isRecord(rule.patches)) {
              for (const v of Object.keys(rule.patches)) {
                if (!variants.has(v)) {
                  issues.add(
                    child(child(p, 'patches'), v),
                    `"${v}" is not a variant of flag "${rule.flag}"`,
                    'reference',
                  );
                }
              }
            }
          }
        }
      });
    }
  }
  return issues.issues;
}

export interface ValidateRolloutOptions {
  /** Prefix for the pointers in issues, e.g. `/rollout` when validating a whole version. Default `""`. */
  pointer?: string;
  /** Included in the error, e.g. `app:billing/checkout`. */
  ref?: string;
}

/**
 * Validates rollout rules at write time. Returns the input typed as a {@link RolloutSpec}; throws a
 * `SchemaValidationError` (code `SCHEMA_VALIDATION`) whose `issues` list every problem with a JSON
 * pointer (bad weights, bad basis points, overlapping windows, unknown operators or strategies, ...).
 */
export function validateRollout(raw: unknown, options: ValidateRolloutOptions = {}): RolloutSpec {
  const issues = rolloutIssues(raw, options.pointer ?? '');
  if (issues.length > 0) {
    const shown = issues
      .slice(0, 5)
      .map((i) => `${i.pointer || '/'}: ${i.message}`)
      .join('; ');
    const more = issues.length > 5 ? ` (and ${issues.length - 5} more)` : '';
    throw new SchemaValidationError(`invalid rollout: ${shown}${more}`, issues, { ref: options.ref });
  }
  return raw as RolloutSpec;
}

/** The share (basis points) a progressive rule currently serves: 10 000 once promoted, 0 once aborted. */
export function currentShare(rule: ProgressiveRule): number {
  const state = rule.state ?? 'running';
  if (state === 'promoted') return TOTAL_BPS;
  if (state === 'aborted') return 0;
  if (rule.schedule !== undefined) return rule.schedule[rule.step ?? 0] ?? 0;
  return rule.bps ?? 0;
}

function progressiveRule(spec: RolloutSpec, ruleId: string): { copy: RolloutSpec; rule: ProgressiveRule } {
  const copy = structuredClone(validateRollout(spec));
  const rule = copy.rules?.find((r) => r.id === ruleId);
  if (!rule) throw errors.notFound(`rollout has no rule "${ruleId}"`);
  if (rule.strategy !== 'percentage' && rule.strategy !== 'canary') {
    throw errors.constraint(`rule "${ruleId}" is a ${rule.strategy} rule, not a percentage or canary rule`);
  }
  return { copy, rule };
}

/**
 * Returns a copy of `spec` with the progressive rule `ruleId` moved to its next schedule step (the
 * seed is kept, so every unit already in stays in). Throws `CONSTRAINT_VIOLATION` when the rule has no
 * schedule, is at its last step, or is promoted or aborted; `NOT_FOUND` for an unknown rule.
 */
export function advanceRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  const state = rule.state ?? 'running';
  if (state === 'promoted' || state === 'aborted') throw errors.constraint(`rule "${ruleId}" is already ${state}`);
  if (rule.schedule === undefined) throw errors.constraint(`rule "${ruleId}" has no schedule to step through`);
  const step = rule.step ?? 0;
  if (step + 1 >= rule.schedule.length) throw errors.constraint(`rule "${ruleId}" is at its last step; promote it`);
  rule.step = step + 1;
  return copy;
}

/** Returns a copy of `spec` with rule `ruleId` promoted: its candidate patch serves every matching unit. */
export function promoteRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  if (rule.state === 'aborted') throw errors.constraint(`rule "${ruleId}" was aborted; start a new rollout`);
  rule.state = 'promoted';
  return copy;
}

/** Returns a copy of `spec` with rule `ruleId` aborted: no unit gets its candidate patch any more. */
export function abortRollout(spec: RolloutSpec, ruleId: string): RolloutSpec {
  const { copy, rule } = progressiveRule(spec, ruleId);
  if (rule.state === 'promoted') throw errors.constraint(`rule "${ruleId}" was promoted; roll back instead`);
  rule.state = 'aborted';
  return copy;
}
