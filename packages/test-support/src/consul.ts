/** The real Consul of the services script: fresh key prefixes and stores on them, cleaned up by vitest hooks. */
import { randomUUID } from 'node:crypto';
import { type ConsulStore, type ConsulStoreOptions, createConsulStore } from '@summit-config/backends/consul';
import { afterAll, afterEach } from 'vitest';
import { services } from './services.js';

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

/**
 * Call at the top of a test file: returns a maker of Consul stores on the real agent, each on a fresh
 * prefix unless `options.prefix` names one, closed after each test (prefixes deleted after all).
 */
export function consulStores(): { newPrefix: () => string; open: (options?: ConsulStoreOptions) => ConsulStore } {
  const newPrefix = prefixes();
  const open: ConsulStore[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return {
    newPrefix,
    open(options = {}) {
      const store = createConsulStore({
        address: services().consulAddr,
        prefix: options.prefix ?? newPrefix(),
        ...options,
      });
      open.push(store);
      return store;
    },
  };
}
