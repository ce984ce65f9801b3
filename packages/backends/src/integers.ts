/**
 * The integer checks the stores, sessions and locks share: of an option (with its default and
 * range, the option named in the error), of a list limit, and of a version number.
 */
import { errors } from '@summit-config/core/internal';

/** Whether `value` is a safe integer from `min` to `max`. */
export function isIntegerIn(value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

/**
 * `value`, or `fallback` when it is undefined, checked to be an integer from `min` to `max`;
 * otherwise `CONSTRAINT_VIOLATION` "<what> option <name> must be an integer from <min> to <max>, got <value>".
 */
export function intOption(
  what: string,
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = value ?? fallback;
  if (!isIntegerIn(v, min, max)) {
    throw errors.constraint(`${what} option ${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  }
  return v;
}

/** A list member's `limit` (default 1000): an integer >= 1, else "<member> limit must be >= 1". */
export function listLimit(limit: number | undefined, member: string): number {
  const n = limit ?? 1000;
  if (!isIntegerIn(n, 1)) throw errors.constraint(`${member} limit must be >= 1`);
  return n;
}
