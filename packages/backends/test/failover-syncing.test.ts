/**
 * A chain whose record and mirror both answer but have not caught up yet (both breakers `syncing`,
 * as at the start of a busy process, when the first repair pass meets other processes' writes):
 * reads and writes go to the record, which orders every write, instead of failing.
 */
import { createFailoverStore, createMemoryStore } from '@summit-config/backends';
import { appendNext, type ConfigStore, parseRef } from '@summit-config/core';
import { expect, it } from 'vitest';

const ref = parseRef('app:shop/counter');

/** A store whose epoch cannot be read (a non-outage error): its recovery cannot finish. */
function epochless(store: ConfigStore): ConfigStore & { broken: boolean } {
  const state = { broken: true };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'broken') return state.broken;
      if (prop === 'readEpoch' && state.broken) {
        return async () => {
          throw new Error('epoch table is being migrated');
        };
      }
      return Reflect.get(target, prop, receiver);
    },
    set(_target, prop, value) {
      if (prop !== 'broken') return false;
      state.broken = value;
      return true;
    },
  }) as ConfigStore & { broken: boolean };
}

it('reads and writes through a record that is still syncing when the mirror is syncing too', async () => {
  const record = epochless(createMemoryStore({ role: 'record', name: 'record' }));
  const mirror = createMemoryStore({ role: 'mirror', name: 'mirror' });
  const doc = await appendNext(record, { ref, config: { n: 1 }, createdBy: 't' });
  await mirror.append(doc);
  const store = createFailoverStore({
    tiers: [mirror, record, createMemoryStore({ name: 'cache' })],
    probeIntervalMs: 60_000,
    failureThreshold: 1,
  });
  try {
    expect((await store.getHead(ref))?.version).toBe(1);
    expect(store.status().tiers.map((t) => [t.name, t.state])).toEqual(
      expect.arrayContaining([
        [record.name, 'syncing'],
        [mirror.name, 'syncing'],
      ]),
    );
    const written = await appendNext(store, { ref, config: { n: 2 }, createdBy: 't' });
    expect(written.version).toBe(2);
    expect((await record.getHead(ref))?.version).toBe(2);
  } finally {
    await store.close();
  }
});

it('close() ends a recovery whose store call never returns, and closes the stores under it', async () => {
  const hung = new Promise<never>(() => {});
  const record = new Proxy(createMemoryStore({ role: 'record', name: 'record' }), {
    get: (target, prop, receiver) => (prop === 'listLagging' ? () => hung : Reflect.get(target, prop, receiver)),
  });
  const mirror = createMemoryStore({ role: 'mirror', name: 'mirror' });
  const store = createFailoverStore({ tiers: [mirror, record, createMemoryStore({ name: 'cache' })] });
  await store.ping();
  // The first repair pass waits on listLagging for ever: the mirror cannot finish catching up.
  expect(store.status().tiers.find((t) => t.name === 'mirror')?.state).toBe('syncing');
  const outcome = await Promise.race([
    store.close().then(() => 'closed'),
    new Promise((r) => setTimeout(r, 20_000, 'still closing')),
  ]);
  expect(outcome).toBe('closed');
  await expect(mirror.getHead(ref)).rejects.toMatchObject({ code: 'CLOSED' });
}, 30_000);
