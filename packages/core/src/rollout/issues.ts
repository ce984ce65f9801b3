import type { ValidationIssue } from '../errors/config-error.js';
import { escapePointer } from '../model/json.js';

/** Collects validation issues while a JSON document is walked; every issue is located by a JSON pointer. */
export class IssueList {
  readonly issues: ValidationIssue[] = [];

  add(pointer: string, message: string, keyword?: string): void {
    this.issues.push(keyword === undefined ? { pointer, message } : { pointer, message, keyword });
  }

  get size(): number {
    return this.issues.length;
  }
}

export function child(pointer: string, key: string | number): string {
  return `${pointer}/${typeof key === 'number' ? key : escapePointer(key)}`;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Reports every member of `value` that is not in `allowed` (catches typos such as `"weigth"`). */
export function checkKeys(
  value: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  pointer: string,
  issues: IssueList,
  what: string,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      issues.add(
        child(pointer, key),
        `unknown member "${key}" in ${what}; expected one of ${[...allowed].join(', ')}`,
        'additionalProperties',
      );
    }
  }
}

/**
 * Reports `value` unless it is one of `allowed` (an `enum` issue naming them); returns whether it is.
 * `what` names the member in the message, e.g. `unknown strategy "x"; expected one of ...`.
 */
export function checkOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  pointer: string,
  issues: IssueList,
  what: string,
): value is T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return true;
  issues.add(pointer, `unknown ${what} ${JSON.stringify(value)}; expected one of ${allowed.join(', ')}`, 'enum');
  return false;
}

/** An id for rules, variants and flags: 1-64 characters of `[A-Za-z0-9_.-]`. */
export const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Parses an ISO-8601 date or date-time (or epoch milliseconds, or a `Date`) into epoch milliseconds,
 * or NaN. A date-time without a zone is read as UTC (never as the process's local time), so every
 * process agrees whatever its `TZ`.
 */
export function parseTime(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? value : Number.NaN;
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string') return Number.NaN;
  const m = ISO_DATE_TIME.exec(value);
  if (!m) return Number.NaN;
  const hasTime = value.length > 10;
  return Date.parse(hasTime && m[1] === undefined ? `${value}Z` : value);
}
