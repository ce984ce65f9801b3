import { createMemoryStore } from '@summit-config/backends/memory';
import { parseRef } from '@summit-config/core';
import { doc, runStoreContract } from '@summit-config/test-support/contract/store-contract';
import { describe, expect, it } from 'vitest';

runStoreContract('memory', {
  create: () => createMemoryStore(),
  capabilities: { watch: true, durable: false, appliedState: true, consistentReads: true, bulkReads: true },
});

runStoreContract('memory (small documents)', {
  create: () => createMemoryStore({ maxDocumentBytes: 4096 }),
  maxDocumentBytes: 4096,
  capabilities: { watch: true, durable: false },
});

describe('memory store', () => {
  it('names the bad option at construction', () => {
    expect(() => createMemoryStore({ maxDocuments: 0 })).toThrow(/maxDocuments/);
    expect(() => createMemoryStore({ maxDocumentBytes: -1 })).toThrow(/maxDocumentBytes/);
  });

  it('evicts the least recently used documents beyond maxDocuments, never heads', async () => {
    const store = createMemoryStore({ maxDocuments: 3 });
    const ref = parseRef('global/lru');
    for (let v = 1; v <= 5; v++) await store.append(doc(ref, v));
    expect(await store.listVersions(ref)).toEqual([3, 4, 5]);
    expect(await store.getVersion(ref, 1)).toBeUndefined();
    expect((await store.getHead(ref))?.version).toBe(5);
    await store.close();
  });

  it('counts a read as a use: the document read last is not the one evicted', async () => {
    const store = createMemoryStore({ maxDocuments: 3 });
    const a = parseRef('global/lru-a');
    const b = parseRef('global/lru-b');
    const c = parseRef('global/lru-c');
    const d = parseRef('global/lru-d');
    for (const ref of [a, b, c]) await store.append(doc(ref, 1));
    expect((await store.getVersion(a, 1))?.version).toBe(1);
    await store.append(doc(d, 1));
    expect(await store.getVersion(b, 1)).toBeUndefined();
    for (const ref of [a, c, d]) expect((await store.getVersion(ref, 1))?.version).toBe(1);
    await store.close();
  });

  it('supports await using', async () => {
    let closedStore: ReturnType<typeof createMemoryStore> | undefined;
    {
      await using store = createMemoryStore();
      closedStore = store;
      await store.ping();
    }
    await expect(closedStore?.ping()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
