/**
 * Catching what the code under test throws, so that a test can assert on the error itself:
 * each helper fails the test when nothing was thrown.
 */
import { type ErrorCode, isConfigError } from '@summit-config/core';

/** The error `fn` throws (fails when it returns). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** The error the promise `fn` returns rejects with (fails when it resolves). */
export async function thrownAsync(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** The error `promise` rejects with (fails when it resolves). */
export function rejection(promise: Promise<unknown>): Promise<unknown> {
  return thrownAsync(() => promise);
}

/** The ConfigError code `promise` rejects with, or `resolved`; any other error is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    if (isConfigError(error)) return error.code;
    throw error;
  }
}

/**
 * The ConfigError code `promise` rejects with, `undefined` when it resolves, or a
 * `not a ConfigError: ...` text for any other error (so the expectation shows it).
 */
export async function errorCode(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isConfigError(error) ? error.code : `not a ConfigError: ${String(error)}`;
  }
}

/** Whether `fn` throws a ConfigError with `code` (fails when it returns). */
export function throwsCode(fn: () => unknown, code: ErrorCode): boolean {
  return isConfigError(thrown(fn), code);
}
