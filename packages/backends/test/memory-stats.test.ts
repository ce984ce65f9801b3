/**
 * The memory store's read counts (`stats()`), which the agent exposes as its cache metrics: a read
 * that finds a document is a hit, one that finds nothing a miss (never held, or evicted beyond
 * `maxDocuments`), every eviction counted; counting never changes what a read returns.
 */
import { appendNext, parseRef } from '@summit-config/core';
import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../src/memory.js';

describe('memory store stats', () => {
  it('counts hits, misses and evictions of getVersion, and the documents held', async () => {
    const store = createMemoryStore({ maxDocuments: 2 });
    expect(store.stats()).toEqual({ hits: 0, misses: 0, evictions: 0, size: 0 });
    const a = parseRef('global/a');
    const b = parseRef('global/b');
    await appendNext(store, { ref: a, config: { v: 1 }, createdBy: 't' });
    await appendNext(store, { ref: a, config: { v: 2 }, createdBy: 't' });
    expect(store.stats()).toEqual({ hits: 0, misses: 0, evictions: 0, size: 2 });

    expect((await store.getVersion(a))?.config).toEqual({ v: 2 }); // the head: a hit
    expect((await store.getVersion(a, 1))?.config).toEqual({ v: 1 }); // a hit, and now the most recent
    expect(await store.getVersion(b)).toBeUndefined(); // never written: a miss
    expect(store.stats()).toEqual({ hits: 2, misses: 1, evictions: 0, size: 2 });

    // A third document evicts the least recently used (a@2): reading it again is a miss.
    await appendNext(store, { ref: b, config: { v: 1 }, createdBy: 't' });
    expect(store.stats()).toMatchObject({ evictions: 1, size: 2 });
    expect(await store.getVersion(a, 2)).toBeUndefined();
    expect((await store.getVersion(b))?.config).toEqual({ v: 1 });
    expect(store.stats()).toEqual({ hits: 3, misses: 2, evictions: 1, size: 2 });

    await store.close();
    expect(store.stats()).toEqual({ hits: 3, misses: 2, evictions: 1, size: 2 }); // readable after close
  });
});
