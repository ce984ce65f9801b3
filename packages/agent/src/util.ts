/** Small helpers shared by the agent's modules. */
import { type ConfigError, isConfigError } from '@summit-config/core';
import { errors, messageOf } from '@summit-config/core/internal';

/**
 * A pino-compatible logger (`info(obj, msg)`). The agent never writes to the console itself: the
 * CLI passes a logger that writes JSON lines to stderr; a library user passes theirs or none.
 */
export interface AgentLogger {
  debug?(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  warn?(obj: object, msg?: string): void;
  error?(obj: object, msg?: string): void;
}

/** Every failure as a ConfigError (an unexpected one becomes `CONSTRAINT_VIOLATION` with the cause). */
export function toConfigError(error: unknown): ConfigError {
  return isConfigError(error) ? error : errors.constraint(messageOf(error), { cause: error });
}

/** Resolves with `promise`, or with `undefined` after `ms` (the timer is unref'ed). Never rejects. */
export async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.catch(() => undefined),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
        timer.unref();
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
