/**
 * Issue 17: acknowledgements sent together travel in few Consul transactions (64 operations each),
 * under the store's session, and a batch holding a key of another process's session still lands.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import type { AppliedAck } from '@summit-config/core';
import { parseRef } from '@summit-config/core';
import { consulStores } from '@summit-config/test-support/consul';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { describe, expect, it } from 'vitest';

const { open: fresh } = consulStores();

/** Counts the HTTP requests by method and path (without the query) while `work` runs. */
async function requestsDuring(work: () => Promise<unknown>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const onStart = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    const key = `${request.method} ${request.path.split('?')[0]?.replace(/\/v1\/kv\/.*/, '/v1/kv/*')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  subscribe('http.client.request.start', onStart);
  try {
    await work();
  } finally {
    unsubscribe('http.client.request.start', onStart);
  }
  return counts;
}

function ack(id: string, instance: string, checksum: string, version = 1): AppliedAck {
  return {
    ref: parseRef(id),
    environment: 'production',
    instance,
    version,
    checksum,
    status: 'applied',
    at: new Date().toISOString(),
  };
}

describe('consul acknowledgements sent together', () => {
  it('writes 200 acknowledgements sent at once in a few transactions, not 200 PUTs', async () => {
    const store = fresh();
    const docs = await Promise.all(Array.from({ length: 200 }, (_, i) => store.append(doc(`app:billing/k${i}`, 1))));
    const acks = docs.map((d) => ack(`app:billing/${d.ref.id}`, 'pod-a', d.checksum));
    const counts = await requestsDuring(() => Promise.all(acks.map((a) => store.ack?.(a))));
    expect(counts.get('PUT /v1/txn') ?? 0).toBeLessThanOrEqual(Math.ceil(200 / 64) + 1);
    expect(counts.get('PUT /v1/kv/*') ?? 0).toBe(0);
    for (const i of [0, 63, 64, 199]) {
      const listed = (await store.listAcks?.(parseRef(`app:billing/k${i}`))) ?? [];
      expect(listed.map((a) => [a.instance, a.version, a.status])).toEqual([['pod-a', 1, 'applied']]);
    }
  });

  it("lands a batch holding a key of another process's live session (taken over key by key)", async () => {
    const first = fresh();
    const second = fresh({ prefix: first.prefix });
    const docs = await Promise.all(Array.from({ length: 10 }, (_, i) => first.append(doc(`global/t${i}`, 1))));
    await first.ack?.(ack('global/t3', 'pod-a', (docs[3] as { checksum: string }).checksum));
    await Promise.all(
      docs.map((d) =>
        second.ack?.({ ...ack(`global/${d.ref.id}`, 'pod-a', d.checksum), status: 'rejected', reason: 'x' }),
      ),
    );
    for (const d of docs) {
      const listed = (await second.listAcks?.(d.ref)) ?? [];
      expect(listed.map((a) => [a.instance, a.status])).toEqual([['pod-a', 'rejected']]);
    }
  });
});
