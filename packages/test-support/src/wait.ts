/** Waiting in tests: liveness bounds (a deadline to fail at), never timing assertions. */
import { isConfigError } from '@summit-config/core';

export interface UntilOptions {
  /** Fail after this long. Default 10 s. */
  timeoutMs?: number;
  /** Check again after this long. Default 10 ms. */
  intervalMs?: number;
}

/**
 * Polls `check` until it holds and resolves with the milliseconds that took; fails with
 * `timed out after <timeoutMs> ms waiting for <what>`.
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  { timeoutMs = 10_000, intervalMs = 10 }: UntilOptions = {},
): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
  return Date.now() - start;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Retries `fn` while it fails with BACKEND_UNAVAILABLE (a service coming back), up to `timeoutMs`. */
export async function whenBack<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!isConfigError(error, 'BACKEND_UNAVAILABLE') || Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

/** For what crosses processes or a real server (LISTEN/NOTIFY, a client reload): 20 s, every 25 ms. */
export const slowly: UntilOptions = { timeoutMs: 20_000, intervalMs: 25 };
