/**
 * Issue 17: a client's start-up acknowledges every ref in a batch (not one request per ref), and a
 * burst of changes leaves a snapshot with the latest versions that a later start can fall back on.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, type ConfigStore, createConfigClient, parseRef } from '@summit-config/core';
import { switchable } from '@summit-config/test-support/switchable-store';
import { tempDirs } from '@summit-config/test-support/temp';
import { until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const by = 'test';
const tempDir = tempDirs();
const soon = { timeoutMs: 5000, intervalMs: 5 };

/** Counts the acknowledgement calls reaching `store`; `batch: false` hides its `ackMany`. */
function counting(store: ConfigStore, batch = true) {
  const calls = { ack: 0, ackMany: 0, acked: 0 };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'ackMany' && !batch) return undefined;
      const value = Reflect.get(target, prop, receiver);
      if (prop === 'ack' || prop === 'ackMany') {
        return (arg: unknown) => {
          calls[prop]++;
          calls.acked += Array.isArray(arg) ? arg.length : 1;
          return (value as (a: unknown) => Promise<void>).call(target, arg);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy as ConfigStore, calls };
}

async function seed(store: ConfigStore, refs: number): Promise<string[]> {
  const ids = Array.from({ length: refs }, (_, i) => `svc/${String(i).padStart(4, '0')}`);
  for (const id of ids) await appendNext(store, { ref: `app:billing/${id}`, config: { id, n: 1 }, createdBy: by });
  await appendNext(store, { ref: 'global/svc/0000', config: { shared: true }, createdBy: by });
  return ids;
}

describe('client start-up acknowledgements', () => {
  it('acknowledges every ref of a start in one ackMany call', async () => {
    const inner = createMemoryStore();
    const ids = await seed(inner, 600);
    const { store, calls } = counting(inner);
    const client = await createConfigClient({ store, app: 'billing', environment: 'production', instance: 'i-1' });
    await until(() => calls.acked === 601, 'every document acknowledged', soon);
    expect(calls).toEqual({ ack: 0, ackMany: 1, acked: 601 });
    for (const id of [ids[0], ids[599]]) {
      expect(await inner.listAcks?.(parseRef(`app:billing/${id}`))).toMatchObject([
        { instance: 'i-1', version: 1, status: 'applied' },
      ]);
    }
    expect(await inner.listAcks?.(parseRef('global/svc/0000'))).toMatchObject([{ status: 'applied' }]);
    // A change afterwards is one more acknowledgement.
    await appendNext(inner, { ref: `app:billing/${ids[7]}`, config: { n: 2 }, createdBy: by });
    await until(() => calls.acked === 602, 'the change acknowledged', soon);
    expect(await inner.listAcks?.(parseRef(`app:billing/${ids[7]}`))).toMatchObject([{ version: 2 }]);
    await client.close();
  });

  it('sends one ack per document to a store without ackMany', async () => {
    const inner = createMemoryStore();
    const ids = await seed(inner, 40);
    const { store, calls } = counting(inner, false);
    const client = await createConfigClient({ store, app: 'billing', environment: 'production', instance: 'i-1' });
    await until(() => calls.acked === 41, 'every document acknowledged', soon);
    expect(calls).toMatchObject({ ack: 41, ackMany: 0 });
    expect(await inner.listAcks?.(parseRef(`app:billing/${ids[39]}`))).toMatchObject([{ status: 'applied' }]);
    await client.close();
  });
});

describe('client snapshot under a burst of changes', () => {
  it('holds the latest versions after the burst and close, and a later start falls back on it', async () => {
    const dir = await tempDir('summit-snap-burst-');
    const snapshotFile = join(dir, 'billing.snapshot.json');
    const inner = createMemoryStore();
    const ids = await seed(inner, 200);
    const store = switchable(inner, 'primary', { durable: true });
    const first = await createConfigClient({ store, app: 'billing', environment: 'production', snapshotFile });
    const latest = new Map<string, number>();
    for (let c = 0; c < 150; c++) {
      const id = ids[c % 30] as string;
      const n = (latest.get(id) ?? 1) + 1;
      latest.set(id, n);
      await appendNext(store, { ref: `app:billing/${id}`, config: { id, n }, createdBy: by });
    }
    await until(
      () => [...latest].every(([id, n]) => first.get<{ n: number }>(id)?.n === n),
      'every change applied',
      soon,
    );
    await first.close(); // flushes the snapshot
    const raw = JSON.parse(await readFile(snapshotFile, 'utf8')) as {
      docs: Array<{ ref: { id: string }; version: number }>;
    };
    expect(raw.docs).toHaveLength(201);
    for (const [id, n] of latest) expect(raw.docs.find((d) => d.ref.id === id && d.version === n)).toBeDefined();

    store.down = true;
    const second = await createConfigClient({
      store,
      app: 'billing',
      environment: 'production',
      snapshotFile,
      startTimeoutMs: 500,
    });
    for (const [id, n] of latest) expect(second.get<{ n: number }>(id)?.n).toBe(n);
    expect(second.resolve(ids[100] as string)).toMatchObject({ source: 'snapshot', stale: true });
    await second.close();
  });
});
