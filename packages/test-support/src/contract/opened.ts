/**
 * The frame every contract suite shares: `fresh()` opens one more instance of the implementation
 * under test, and each instance opened is closed after the test (or, with `after: 'all'`, after the
 * suite). Call it inside the suite's `describe`.
 */
import { afterAll, afterEach } from 'vitest';

export function opened<T extends { close(): Promise<unknown> }>(
  create: () => T | Promise<T>,
  after: 'each' | 'all' = 'each',
): () => Promise<T> {
  const open: T[] = [];
  (after === 'each' ? afterEach : afterAll)(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  return async () => {
    const instance = await create();
    open.push(instance);
    return instance;
  };
}
