/** Temporary directories a test file creates, removed by a vitest hook. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

export interface TempDirs {
  /** A new directory under the system temp folder, named `<prefix><random>`. */
  (prefix?: string): Promise<string>;
  /** Removes `path` (a file or directory) with the rest; returns it. */
  track(path: string): string;
}

/**
 * Call at the top of a test file: returns a maker of temp directories, all removed after each test
 * (`after: 'each'`, the default) or once all the file's tests ran (`after: 'all'`).
 */
export function tempDirs(options: { prefix?: string; after?: 'each' | 'all' } = {}): TempDirs {
  const created: string[] = [];
  (options.after === 'all' ? afterAll : afterEach)(async () => {
    await Promise.all(created.splice(0).map((p) => rm(p, { recursive: true, force: true })));
  });
  const track = (path: string) => {
    created.push(path);
    return path;
  };
  return Object.assign(
    async (prefix = options.prefix ?? 'summit-test-') => track(await mkdtemp(join(tmpdir(), prefix))),
    { track },
  );
}
