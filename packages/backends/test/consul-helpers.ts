/** Test helpers for the Consul suites: unique key prefixes, deleted when the file's tests end. */
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { services } from '../../../test/helpers/services.js';

/** Returns a function that makes a fresh `t-<random>/` prefix; every prefix is deleted after all tests. */
export function prefixes(): () => string {
  const made: string[] = [];
  afterAll(async () => {
    const { consulAddr } = services();
    await Promise.all(
      made.map((p) => fetch(`${consulAddr}/v1/kv/${p}?recurse`, { method: 'DELETE' }).catch(() => undefined)),
    );
  });
  return () => {
    const prefix = `t-${randomUUID().slice(0, 8)}/`;
    made.push(prefix);
    return prefix;
  };
}
