/**
 * Calling a watch's listeners safely, the same way in every store's feed: a listener that throws
 * is reported to its `onError` (CONSTRAINT_VIOLATION) and the feed goes on; a reporter that throws
 * is ignored.
 */
import type { ConfigError, HeadChange, HeadListener } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';

/** Calls `onError` with `error`; a throwing reporter must not break the feed. */
export function tellError(onError: ((error: ConfigError) => void) | undefined, error: ConfigError): void {
  try {
    onError?.(error);
  } catch {
    // A failing error reporter must not break the feed.
  }
}

/** Calls `listener` with `change`; what it throws goes to `report` as "watch listener threw: ...". */
export function callListener(listener: HeadListener, change: HeadChange, report: (error: ConfigError) => void): void {
  try {
    listener(change);
  } catch (error) {
    report(errors.constraint(`watch listener threw: ${String(error)}`, { cause: error }));
  }
}
