import { ConfigError } from '../errors/config-error.js';

/**
 * Runs `onAbort` once when `signal` aborts (at once if it already has). Returns a function that
 * removes the listener; call it when the guarded operation ends so listeners never pile up.
 */
export function onAbort(signal: AbortSignal | undefined, onAbortFn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    onAbortFn();
    return () => {};
  }
  const handler = () => onAbortFn();
  signal.addEventListener('abort', handler, { once: true });
  return () => signal.removeEventListener('abort', handler);
}

/** Throws the signal's reason (or a `TIMEOUT`-coded error for a timeout) when already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new ConfigError('TIMEOUT', reason.message, { cause: reason });
  }
  return reason ?? new Error('aborted');
}

/**
 * Resolves after `ms`, or rejects with the abort reason. The timer is unref'ed unless `keepAlive`
 * (a caller that asked to wait keeps the process alive).
 */
export function delay(ms: number, signal?: AbortSignal, keepAlive = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      off();
      resolve();
    }, ms);
    if (!keepAlive) timer.unref?.();
    const off = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    });
  });
}

/** Capped exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt: number, baseMs = 100, capMs = 10_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * ceiling);
}
