/**
 * Validation of rollout documents at write time: `rolloutIssues` lists every problem of a document
 * (each with its JSON pointer), `validateRollout` throws them as one `SCHEMA_VALIDATION` error. The
 * rules are checked here, the flags in `validate-flags.ts`.
 */
import { SchemaValidationError, type ValidationIssue } from '../errors/config-error.js';
import {
  checkBps,
  checkDescribed,
  checkGates,
  checkInterval,
  checkOptionalString,
  checkPatch,
  checkRuleList,
  checkStickiness,
  checkUniqueName,
  checkWeights,
} from './checks.js';
import { checkKeys, checkOneOf, child, IssueList, isRecord, NAME } from './issues.js';
import { PROGRESS_STATES, type RolloutSpec, type RolloutStrategy, STRATEGIES } from './rules.js';
import { checkFlag } from './validate-flags.js';

const ROLLOUT_KEYS = new Set(['version', 'description', 'enabled', 'seed', 'stickiness', 'rules', 'flags']);
const BASE_KEYS = ['id', 'strategy', 'description', 'enabled', 'when', 'window'];
const PROGRESSIVE_KEYS = new Set([
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
]);
const RULE_KEYS: Record<RolloutStrategy, ReadonlySet<string>> = {
  immediate: new Set([...BASE_KEYS, 'patch']),
  percentage: PROGRESSIVE_KEYS,
  canary: PROGRESSIVE_KEYS,
  ab: new Set([...BASE_KEYS, 'variants', 'seed', 'stickiness']),
  flag: new Set([...BASE_KEYS, 'flag', 'patches']),
  window: new Set(['id', 'strategy', 'description', 'enabled', 'when', 'windows']),
};
const SCHEDULED_KEYS = new Set(['name', 'start', 'end', 'patch']);
const VARIANT_KEYS = new Set(['name', 'weight', 'patch']);

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
  if (rule.state !== undefined) checkOneOf(rule.state, PROGRESS_STATES, child(pointer, 'state'), issues, 'state');
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
    if (w.name !== undefined) checkUniqueName(w.name, child(p, 'name'), issues, names, 'name');
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
  checkUniqueName(raw.id, child(pointer, 'id'), issues, ids, 'rule id');
  const s = raw.strategy;
  if (!checkOneOf(s, STRATEGIES, child(pointer, 'strategy'), issues, 'strategy')) return;
  checkKeys(raw, RULE_KEYS[s], pointer, issues, `a ${s} rule`);
  checkDescribed(raw, pointer, issues);
  checkGates(raw, pointer, issues, s !== 'window');
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

/** A `flag` rule names a flag of the rollout, and its patches name variants of that flag. */
function checkFlagReference(
  rule: Record<string, unknown>,
  flag: string,
  pointer: string,
  issues: IssueList,
  flagVariants: ReadonlyMap<string, Set<string> | undefined>,
): void {
  if (!flagVariants.has(flag)) {
    issues.add(child(pointer, 'flag'), `flag "${flag}" is not defined in this rollout's flags`, 'reference');
    return;
  }
  const variants = flagVariants.get(flag);
  if (!variants || !isRecord(rule.patches)) return;
  for (const v of Object.keys(rule.patches)) {
    if (!variants.has(v)) {
      issues.add(child(child(pointer, 'patches'), v), `"${v}" is not a variant of flag "${flag}"`, 'reference');
    }
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
  checkDescribed(raw, pointer, issues);
  checkStickiness(raw, pointer, issues);
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
  checkRuleList(raw.rules, pointer, issues, (rule, p, ids) => {
    checkRule(rule, p, issues, ids);
    if (isRecord(rule) && rule.strategy === 'flag' && typeof rule.flag === 'string') {
      checkFlagReference(rule, rule.flag, p, issues, flagVariants);
    }
  });
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
