/**
 * What the receiving child processes of the propagation benchmarks share (forked with IPC): wall-clock
 * `now` (performance.timeOrigin + performance.now()), `send` to the parent, and a store watch on the
 * `global` scope reported as { ready } once the initial heads arrived, then { key, version, at } per
 * change, `at` being when the callback ran.
 */
import type { ConfigStore } from '@summit-config/core';

export const now = () => performance.timeOrigin + performance.now();
export const send = (message: Record<string, unknown>) => process.send?.(message);

/** Reports `store`'s watch to the parent; closes the store and exits when the parent disconnects. */
export function reportWatch(store: ConfigStore, onError?: (error: Error) => void): void {
  let ready = false;
  store.watch(
    (change) => {
      const at = now();
      if (change.initial) {
        if (!ready) {
          ready = true;
          send({ ready: true });
        }
        return;
      }
      send({ key: change.key, version: change.version, at });
    },
    { scope: 'global', initial: true, ...(onError && { onError }) },
  );
  process.on('disconnect', () => void store.close().then(() => process.exit(0)));
}
