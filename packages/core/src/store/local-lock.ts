/**
 * The in-process runner lock of a migration history that one process owns (memory, PGlite): a FIFO
 * mutex with timeout and abort. PostgreSQL histories use a session advisory lock instead.
 */
import { ConfigError, errors } from '../errors/config-error.js';
import { abortReason, onAbort } from '../util/abort.js';
import type { AcquireOptions, MigrationLock } from './migration-history.js';

/** A FIFO mutex for one process, with timeout and abort. */
export interface LocalLock {
  acquire(options?: AcquireOptions): Promise<MigrationLock>;
}

export function createLocalLock(what = 'migration lock'): LocalLock {
  let held = false;
  const waiters: Array<() => void> = [];
  const handOver = () => {
    const next = waiters.shift();
    if (next) next();
    else held = false;
  };
  const lockFor = (): MigrationLock => {
    let released = false;
    return {
      async check() {
        if (released) throw errors.constraint(`${what} was released`);
      },
      async release() {
        if (released) return;
        released = true;
        handOver();
      },
    };
  };
  return {
    acquire(options = {}) {
      const timeoutMs = options.timeoutMs ?? 30_000;
      if (options.signal?.aborted) return Promise.reject(abortReason(options.signal));
      if (!held) {
        held = true;
        return Promise.resolve(lockFor());
      }
      return new Promise<MigrationLock>((resolve, reject) => {
        const grant = () => {
          clearTimeout(timer);
          off();
          resolve(lockFor());
        };
        const give = (error: unknown) => {
          const i = waiters.indexOf(grant);
          if (i >= 0) waiters.splice(i, 1);
          clearTimeout(timer);
          off();
          reject(error);
        };
        const timer = setTimeout(
          () => give(new ConfigError('TIMEOUT', `${what}: still held by another runner after ${timeoutMs} ms`)),
          timeoutMs,
        );
        timer.unref?.();
        const off = onAbort(options.signal, () => give(abortReason(options.signal as AbortSignal)));
        waiters.push(grant);
      });
    },
  };
}
