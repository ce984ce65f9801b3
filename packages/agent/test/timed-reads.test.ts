/**
 * `timedReads`: a store whose reads are observed in `summit_agent_store_read_duration_seconds`
 * (by operation, `ok` or `error`) and otherwise unchanged: the same values, the same rejections,
 * every other member passed through.
 */
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, parseRef } from '@summit-config/core';
import { describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../src/metrics.js';
import { timedReads } from '../src/timed-reads.js';

async function counts(metrics: ReturnType<typeof createAgentMetrics>) {
  const json = await metrics.storeReads.get();
  const out: Record<string, number> = {};
  for (const v of json.values) {
    if (v.metricName === 'summit_agent_store_read_duration_seconds_count') {
      out[`${v.labels.operation}:${v.labels.result}`] = v.value;
    }
  }
  return out;
}

describe('timedReads', () => {
  it('observes each read by operation and result, and changes no answer', async () => {
    const metrics = createAgentMetrics({ defaultMetrics: false });
    const inner = createMemoryStore();
    const store = timedReads(inner, metrics);
    const ref = parseRef('global/a');
    await appendNext(store, { ref, config: { a: 1 }, createdBy: 't' }); // a write: not timed
    expect(await counts(metrics)).toEqual({});

    expect((await store.getVersion(ref))?.config).toEqual({ a: 1 });
    expect(await store.getVersion(parseRef('global/none'))).toBeUndefined();
    expect((await store.listHeads()).map((h) => h.ref.id)).toEqual(['a']);
    expect(store.name).toBe(inner.name);
    expect(store.capabilities).toBe(inner.capabilities);
    expect(await counts(metrics)).toEqual({ 'getVersion:ok': 2, 'listHeads:ok': 1 });

    await inner.close();
    await expect(store.getVersion(ref)).rejects.toMatchObject({ code: 'CLOSED' });
    expect(await counts(metrics)).toEqual({ 'getVersion:ok': 2, 'getVersion:error': 1, 'listHeads:ok': 1 });
  });
});
