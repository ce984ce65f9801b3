/**
 * Checks shared by the validation of rollout rules and flags: basis points, optional strings and
 * booleans, patches, time windows and the `when` / `window` gates, bucketing options, weighted lists,
 * unique names and rule lists. Each adds an issue (located by its JSON pointer) for every problem it
 * finds; none throws.
 */
import { assertJson, isPlainObject } from '../model/json.js';
import { TOTAL_BPS } from './bucketing.js';
import { checkKeys, child, type IssueList, isRecord, NAME, parseTime } from './issues.js';
import { checkTargeting } from './targeting.js';

const WINDOW_KEYS = new Set(['start', 'end']);

function isBps(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= TOTAL_BPS;
}

export function checkBps(value: unknown, pointer: string, issues: IssueList, what = 'bps'): boolean {
  if (isBps(value)) return true;
  issues.add(
    pointer,
    `${what} must be an integer number of basis points between 0 and ${TOTAL_BPS}, got ${JSON.stringify(value)}`,
    'bps',
  );
  return false;
}

export function checkOptionalString(value: unknown, pointer: string, issues: IssueList, what: string): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    issues.add(pointer, `${what} must be a non-empty string`, 'type');
  }
}

function checkOptionalBoolean(value: unknown, pointer: string, issues: IssueList, what: string): void {
  if (value !== undefined && typeof value !== 'boolean') issues.add(pointer, `${what} must be a boolean`, 'type');
}

/** `description` and `enabled`, which a rollout, its rules, its flags and their rules may all carry. */
export function checkDescribed(raw: Record<string, unknown>, pointer: string, issues: IssueList): void {
  checkOptionalString(raw.description, child(pointer, 'description'), issues, 'description');
  checkOptionalBoolean(raw.enabled, child(pointer, 'enabled'), issues, 'enabled');
}

export function checkPatch(value: unknown, pointer: string, issues: IssueList): void {
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
export function checkInterval(
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

/** The `when` (targeting) and, unless `window` is false, `window` gates of a rule or flag rule. */
export function checkGates(raw: Record<string, unknown>, pointer: string, issues: IssueList, window = true): void {
  if (raw.when !== undefined) checkTargeting(raw.when, child(pointer, 'when'), issues);
  if (window && raw.window !== undefined) checkWindow(raw.window, child(pointer, 'window'), issues);
}

/** `seed` and `stickiness`, the bucketing options. */
export function checkStickiness(rule: Record<string, unknown>, pointer: string, issues: IssueList): void {
  checkOptionalString(rule.seed, child(pointer, 'seed'), issues, 'seed');
  checkOptionalString(rule.stickiness, child(pointer, 'stickiness'), issues, 'stickiness');
}

/** A non-empty list of named items whose `weight`s (basis points) sum to 10 000. */
export function checkWeights(
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
    checkUniqueName(item[nameKey], child(p, nameKey), issues, names, nameKey);
    if (checkBps(item.weight, child(p, 'weight'), issues, 'weight')) sum += item.weight as number;
    else weightsOk = false;
    each?.(item, p);
  });
  if (weightsOk && sum !== TOTAL_BPS) {
    issues.add(pointer, `weights sum to ${sum} bps; they must sum to ${TOTAL_BPS}`, 'weights');
  }
}

/** A name matching `NAME` and not in `seen` (then added to it); `label` names it in the issues. */
export function checkUniqueName(
  value: unknown,
  pointer: string,
  issues: IssueList,
  seen: Set<string>,
  label: string,
): void {
  if (typeof value !== 'string' || !NAME.test(value))
    issues.add(pointer, `${label} must match ${NAME.source}`, 'pattern');
  else if (seen.has(value)) issues.add(pointer, `${label} "${value}" appears twice`, 'uniqueItems');
  else seen.add(value);
}

/** The `rules` array of a rollout or a flag, when present: `each` checks one rule, given the ids so far. */
export function checkRuleList(
  rules: unknown,
  pointer: string,
  issues: IssueList,
  each: (rule: unknown, pointer: string, ids: Set<string>) => void,
): void {
  if (rules === undefined) return;
  const rp = child(pointer, 'rules');
  if (!Array.isArray(rules)) issues.add(rp, 'rules must be an array', 'type');
  else {
    const ids = new Set<string>();
    rules.forEach((rule, i) => {
      each(rule, child(rp, i), ids);
    });
  }
}
