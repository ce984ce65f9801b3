/**
 * Bounded concurrency: at most `width` calls of `fn` at once over `items`, in order of start. The
 * first rejection rejects the whole (the other workers finish their current item and stop); an
 * aborted `signal` stops workers before their next item with the signal's reason.
 */
import { throwIfAborted } from './abort.js';

export async function forEachConcurrently<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      throwIfAborted(signal);
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(width, items.length)) }, worker));
}

/** `forEachConcurrently` collecting each item's result, in the items' order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  await forEachConcurrently(
    items,
    width,
    async (item, i) => {
      out[i] = await fn(item, i);
    },
    signal,
  );
  return out;
}
