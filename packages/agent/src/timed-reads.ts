/**
 * The served clients' reads through the store chain, timed: the configuration read path behind the
 * agent's memory (a client's start, and a new version the watch did not deliver with its document). `getVersion`,
 * `getVersionDetailed`, `getHeadDocuments` and `listHeads` are observed in
 * `summit_agent_store_read_duration_seconds{operation,result}`; every other member passes through
 * unchanged (methods bound to the store).
 */
import type { ConfigStore } from '@summit-config/core';
import type { AgentMetrics } from './metrics.js';

const TIMED: ReadonlySet<string> = new Set(['getVersion', 'getVersionDetailed', 'getHeadDocuments', 'listHeads']);

/**
 * `store` with its reads timed into `metrics.storeReads` (seconds, from the call to its settlement;
 * `result` is `ok` or `error`). A read's outcome is unchanged: its value, or its rejection.
 */
export function timedReads<S extends ConfigStore>(store: S, metrics: Pick<AgentMetrics, 'storeReads'>): S {
  const wrapped = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || !TIMED.has(prop)) return value.bind(target);
      let fn = wrapped.get(prop);
      if (!fn) {
        const read = value as (...args: unknown[]) => Promise<unknown>;
        fn = async (...args: unknown[]) => {
          const started = performance.now();
          let result = 'error';
          try {
            const out = await read.apply(target, args);
            result = 'ok';
            return out;
          } finally {
            metrics.storeReads.observe({ operation: prop, result }, (performance.now() - started) / 1000);
          }
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}
