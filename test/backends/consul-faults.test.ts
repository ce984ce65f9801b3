/**
 * Fault injection on the real Consul: SIGSTOP/SIGCONT and SIGKILL + restart of the dev agent
 * (which loses its data and restarts its index low). Every test restores the service in `finally`.
 */
import type { ConsulStoreOptions } from '@summit-config/backends/consul';
import { type ConfigVersion, isConfigError, parseRef } from '@summit-config/core';
import { consulStores } from '@summit-config/test-support/consul';
import { collect, doc } from '@summit-config/test-support/contract/store-contract';
import { serviceCtl } from '@summit-config/test-support/services';
import { whenBack } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const { newPrefix, open } = consulStores();
const fresh = (prefix: string, options: ConsulStoreOptions = {}) => open({ ...options, prefix });

describe('consul faults', () => {
  it('fails with BACKEND_UNAVAILABLE (a timeout, no hang) while Consul is frozen, and recovers', async () => {
    const prefix = newPrefix();
    const timeoutMs = 1000;
    const store = fresh(prefix, { timeoutMs, watchWaitMs: 2000, retryBaseMs: 50, retryMaxMs: 500 });
    const ref = parseRef('global/frozen');
    await store.append(doc(ref, 1));
    const w = collect(store, { scope: 'global', initial: true });
    await w.until((e) => e.length === 1);

    await serviceCtl('consul', 'pause');
    let results: PromiseSettledResult<unknown>[];
    try {
      results = await Promise.allSettled([
        store.getHead(ref),
        store.getVersion(ref, 1),
        store.getVersion(ref),
        store.listHeads(),
        store.listVersions(ref),
        store.ping(),
      ]);
      // The watch's blocking query times out too (wait + wait/16 + timeout) and is reported.
      await w.until(() => w.errors.length > 0, 15_000);
    } finally {
      await serviceCtl('consul', 'resume');
    }
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const error = (r as PromiseRejectedResult).reason;
      expect(isConfigError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);
      expect(String((error as Error).cause)).toMatch(/timed out/);
    }
    expect(w.errors.every((e) => isConfigError(e, 'BACKEND_UNAVAILABLE'))).toBe(true);

    // Recovered: calls work and the watch delivers the next change.
    const head = await whenBack(() => store.getHead(ref, { consistent: true }));
    expect(head?.version).toBe(1);
    await store.append(doc(ref, 2));
    await w.until((e) => e.some((x) => x.version === 2), 15_000);
    expect(w.events.map((e) => e.version)).toEqual([1, 2]);
    w.stop();
  }, 60_000);

  it('resyncs watchers after Consul is killed and restarts empty, and keeps delivering every later change', async () => {
    const prefix = newPrefix();
    const watcher = fresh(prefix, { watchWaitMs: 2000, timeoutMs: 2000, retryBaseMs: 50, retryMaxMs: 500 });
    const writer = fresh(prefix, { timeoutMs: 2000 });
    const ref = parseRef('global/restart');
    const w = collect(watcher, { scope: 'global' });
    await new Promise((r) => setTimeout(r, 100));
    for (let v = 1; v <= 3; v++) await writer.append(doc(ref, v));
    await w.until((e) => e.some((x) => x.version === 3));
    const beforeRestart = w.events.length;

    try {
      await serviceCtl('consul', 'kill');
    } finally {
      await serviceCtl('consul', 'start');
    }
    // Dev mode lost everything: the ref starts again at v1 with new content.
    expect(await whenBack(() => writer.getHead(ref, { consistent: true }))).toBeUndefined();
    const after: ConfigVersion[] = [];
    after.push(await whenBack(() => writer.append(doc(ref, 1, { after: 1 }))));
    after.push(await writer.append(doc(ref, 2, { after: 2 })));
    await w.until((e) => e.slice(beforeRestart).some((x) => x.checksum === after[1]?.checksum), 30_000);

    // Every later change arrives, one by one.
    for (let v = 3; v <= 6; v++) {
      const d = await writer.append(doc(ref, v, { after: v }));
      await w.until((e) => e.some((x) => x.checksum === d.checksum), 10_000);
    }
    const post = w.events.slice(beforeRestart).map((e) => e.version);
    for (let i = 1; i < post.length; i++) expect(post[i]).toBeGreaterThan(post[i - 1] as number);
    expect(post.slice(-4)).toEqual([3, 4, 5, 6]);
    expect(watcher.watchStats().global?.resets).toBeGreaterThanOrEqual(1);
    w.stop();
  }, 120_000);
});
