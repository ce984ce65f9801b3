/**
 * A view of a store for readers that are not instances applying config (the CLI's resolved reads,
 * the config server's resolved route): no applied-state acknowledgements, so such a read never shows
 * up in drift reports as an instance.
 */
import type { ConfigStore } from './config-store.js';

const ACK_MEMBERS = new Set<PropertyKey>(['ack', 'ackMany', 'listAcks']);

export function withoutAcks(store: ConfigStore): ConfigStore {
  const capabilities = { ...store.capabilities, appliedState: false };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'capabilities') return capabilities;
      if (ACK_MEMBERS.has(prop)) return undefined;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
