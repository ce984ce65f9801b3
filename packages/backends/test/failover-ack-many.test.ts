/** Issue 17: the failover chain routes `ackMany` like `ack`: one call per tier that implements it. */
import { createFailoverStore } from '@summit-config/backends';
import { createMemoryStore } from '@summit-config/backends/memory';
import { type AppliedAck, type ConfigStore, parseRef } from '@summit-config/core';
import { switchable } from '@summit-config/test-support/switchable-store';
import { describe, expect, it } from 'vitest';

/** A memory store declared durable, counting its acknowledgement calls (ackMany kept). */
function durableMemory(name: string) {
  const inner = createMemoryStore({ name, role: 'mirror' });
  const calls = { ack: 0, ackMany: 0 };
  const capabilities = Object.freeze({ ...inner.capabilities, durable: true });
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'capabilities') return capabilities;
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'ack' || prop === 'ackMany') {
        return (arg: unknown) => {
          calls[prop]++;
          return (value as (a: unknown) => Promise<void>).call(target, arg);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as ConfigStore;
  return { store, calls };
}

const acks = (n: number, instance = 'i-1'): AppliedAck[] =>
  Array.from({ length: n }, (_, i) => ({
    ref: parseRef(`app:billing/k${i}`),
    environment: 'production',
    instance,
    version: 1,
    checksum: 'a'.repeat(64),
    status: 'applied' as const,
    at: new Date().toISOString(),
  }));

describe('failover ackMany', () => {
  it('sends one ackMany to each durable tier that has it, one ack each to a tier that has not', async () => {
    const a = durableMemory('a');
    const b = switchable(createMemoryStore({ name: 'b-inner', role: 'record' }), 'b');
    const chain = createFailoverStore({
      tiers: [a.store, b, createMemoryStore({ name: 'cache' })],
      probeIntervalMs: 20,
      failureThreshold: 1,
    });
    try {
      await chain.ackMany?.(acks(300));
      expect(a.calls).toEqual({ ack: 0, ackMany: 1 });
      expect(await a.store.listAcks?.(parseRef('app:billing/k299'))).toMatchObject([{ instance: 'i-1' }]);
      expect(await b.listAcks?.(parseRef('app:billing/k299'))).toMatchObject([{ instance: 'i-1' }]);
      expect(await chain.listAcks?.(parseRef('app:billing/k0'))).toMatchObject([{ instance: 'i-1' }]);
      // One tier down: the other records them.
      b.down = true;
      await chain.ackMany?.(acks(5, 'i-2'));
      expect(await a.store.listAcks?.(parseRef('app:billing/k4'))).toHaveLength(2);
    } finally {
      await chain.close();
    }
  });

  it('is BACKEND_UNAVAILABLE when no tier records them, and refuses a bad ref before sending', async () => {
    const b = switchable(createMemoryStore({ name: 'b-inner' }), 'b', { durable: true });
    const chain = createFailoverStore({ tiers: [b] });
    try {
      await expect(
        chain.ackMany?.([{ ...(acks(1)[0] as AppliedAck), ref: { scope: 'bad', id: '' } as never }]),
      ).rejects.toMatchObject({ code: 'INVALID_CONFIG_REF' });
      b.down = true;
      await expect(chain.ackMany?.(acks(3))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    } finally {
      await chain.close();
    }
  });
});
