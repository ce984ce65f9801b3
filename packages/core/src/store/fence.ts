import type { WriteFence } from './config-store.js';

/**
 * The check a write fence carries for the store named `store` (`ConfigStore.name`), or `undefined`
 * when it carries none for it (the store then ignores the fence).
 */
export function fenceCheck(fence: WriteFence | undefined, store: string): unknown {
  const checks = fence?.checks;
  return checks !== undefined && Object.hasOwn(checks, store) ? checks[store] : undefined;
}
