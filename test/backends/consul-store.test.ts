/**
 * The Consul store's own cases (the contract suite runs in consul.test.ts), against the real Consul
 * started by scripts/services.sh.
 */
import { createConsulStore } from '@summit-config/backends/consul';
import { type ConfigVersion, type HeadChange, isConfigError, parseRef } from '@summit-config/core';
import { computeChecksum, createVersion } from '@summit-config/core/internal';
import { consulStores } from '@summit-config/test-support/consul';
import { collect, doc } from '@summit-config/test-support/contract/store-contract';
import { errorCode as codeOf } from '@summit-config/test-support/errors';
import { services } from '@summit-config/test-support/services';
import { describe, expect, it } from 'vitest';

const { consulAddr } = services();
const { open: fresh } = consulStores();

const raw = {
  async get(key: string): Promise<{ Value: string | null; Session?: string; ModifyIndex: number } | undefined> {
    const res = await fetch(`${consulAddr}/v1/kv/${key}`);
    if (res.status === 404) return undefined;
    const [entry] = (await res.json()) as Array<{ Value: string | null; Session?: string; ModifyIndex: number }>;
    return entry && { ...entry, Value: entry.Value === null ? null : Buffer.from(entry.Value, 'base64').toString() };
  },
  async put(key: string, value: string): Promise<void> {
    const res = await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'PUT', body: value });
    if (!res.ok) throw new Error(`PUT ${key}: ${res.status}`);
  },
  async del(key: string): Promise<void> {
    await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'DELETE' });
  },
};

describe('consul store options', () => {
  it('names the bad option at construction, before any request', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ prefix: 'no-slash' }, /prefix/],
      [{ prefix: '/abs/' }, /prefix/],
      [{ prefix: 'a/../' }, /prefix/],
      [{ address: 'ftp://x' }, /address/],
      [{ address: 'http://[bad' }, /address/],
      [{ timeoutMs: 0 }, /timeoutMs/],
      [{ historyLimit: 0 }, /historyLimit/],
      [{ historyLimit: 1.5 }, /historyLimit/],
      [{ maxDocumentBytes: 600 * 1024 }, /maxDocumentBytes/],
      [{ watchWaitMs: 10 }, /watchWaitMs/],
      [{ watchRateLimit: { perSecond: 0 } }, /watchRateLimit.perSecond/],
      [{ watchRateLimit: { burst: 0 } }, /watchRateLimit.burst/],
      [{ retryBaseMs: 500, retryMaxMs: 100 }, /retryMaxMs/],
      [{ ackSessionTtlMs: 1000 }, /ackSessionTtlMs/],
      [{ token: 'a\nb' }, /token/],
      [{ name: 'bad name' }, /name/],
    ];
    for (const [options, pattern] of bad) {
      expect(() => createConsulStore({ address: consulAddr, ...options }), JSON.stringify(options)).toThrow(pattern);
      expect(() => createConsulStore({ address: consulAddr, ...options })).toThrow(
        expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
      );
    }
    const store = createConsulStore({ address: '127.0.0.1:18500' });
    expect(store.address).toBe('http://127.0.0.1:18500');
    expect(store.prefix).toBe('summit/');
    expect(store.capabilities.historyLimit).toBe(20);
  });
});

describe('consul store: bad input is refused before any request', () => {
  // Nothing listens on port 1: any request would fail with BACKEND_UNAVAILABLE, so a typed
  // validation error proves that nothing was sent.
  const offline = () => createConsulStore({ address: 'http://127.0.0.1:1', timeoutMs: 2000 });

  it('malformed refs', async () => {
    const store = offline();
    const badIds = ['', 'a/../b', 'a b'].map((id) => ({ scope: 'global', id }));
    const bad = [...badIds, { scope: 'app:', id: 'x' }, { scope: 'nope', id: 'x' }, 'global', null];
    for (const ref of bad) {
      expect(await codeOf(store.getHead(ref as never))).toBe('INVALID_CONFIG_REF');
      expect(await codeOf(store.getVersion(ref as never, 1))).toBe('INVALID_CONFIG_REF');
      expect(await codeOf(store.listVersions(ref as never))).toBe('INVALID_CONFIG_REF');
      expect(await codeOf(store.listAcks?.(ref as never) as Promise<unknown>)).toBe('INVALID_CONFIG_REF');
      expect(await codeOf(store.append({ ...doc('global/ok', 1), ref } as never))).toBe('INVALID_CONFIG_REF');
    }
    expect(() => store.watch(() => {}, { scope: 'bad scope' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_CONFIG_REF' }),
    );
    // The store is reachable for nothing, and says so for a valid call.
    expect(await codeOf(store.getHead(parseRef('global/ok')))).toBe('BACKEND_UNAVAILABLE');
    await store.close();
  });

  it('oversize documents: maxDocumentBytes, the value cap and the transaction cap', async () => {
    const ref = parseRef('global/big');
    const big = (bytes: number) =>
      createVersion({ ref, config: { blob: 'x'.repeat(bytes) }, createdBy: 't' }, 1, { maxDocumentBytes: 1 << 22 });
    const store = offline();
    expect(await codeOf(store.append(big(300 * 1024)))).toBe('DOCUMENT_TOO_LARGE'); // over 256 KiB default
    // Raised limit: the document passes maxDocumentBytes but its base64 transaction exceeds 512 KiB.
    const raised = createConsulStore({ address: 'http://127.0.0.1:1', maxDocumentBytes: 500 * 1024 });
    expect(await codeOf(raised.append(big(400 * 1024)))).toBe('DOCUMENT_TOO_LARGE');
    // A server configured with a smaller kv_max_value_size.
    const small = createConsulStore({ address: 'http://127.0.0.1:1', maxValueBytes: 64 * 1024 });
    expect(small.capabilities.historyLimit).toBe(20);
    expect(await codeOf(small.append(big(100 * 1024)))).toBe('DOCUMENT_TOO_LARGE');
    // Non-JSON and forged documents.
    expect(await codeOf(store.append({ ...doc('global/x', 1), config: { n: Number.NaN } }))).toBe(
      'CONSTRAINT_VIOLATION',
    );
    expect(await codeOf(store.append({ ...doc('global/x', 1), config: { n: 2 } }))).toBe('CHECKSUM_MISMATCH');
    await Promise.all([store.close(), raised.close(), small.close()]);
  });

  it('a transaction Consul itself refuses as too large is DOCUMENT_TOO_LARGE, and nothing is written', async () => {
    // The store believes the server takes 1 MiB transactions; the real one takes 512 KiB.
    const store = fresh({ maxDocumentBytes: 500 * 1024, maxTxnBytes: 1 << 20 });
    const ref = parseRef('global/big');
    const d = createVersion({ ref, config: { blob: 'x'.repeat(400 * 1024) }, createdBy: 't' }, 1, {
      maxDocumentBytes: 1 << 22,
    });
    expect(await codeOf(store.append(d))).toBe('DOCUMENT_TOO_LARGE');
    expect(await store.getHead(ref)).toBeUndefined();
    expect(await store.listVersions(ref)).toEqual([]);
  });
});

describe('consul store: layout and reads', () => {
  it('writes the documented layout: heads, docs/<id>/v/<N>', async () => {
    const store = fresh();
    const ref = parseRef('app:billing/db/v/primary');
    const d = await store.append(doc(ref, 1));
    const head = await raw.get(`${store.prefix}heads/app:billing/db/v/primary`);
    expect(JSON.parse(head?.Value ?? '')).toEqual({ version: 1, checksum: d.checksum });
    const stored = await raw.get(`${store.prefix}docs/app:billing/db/v/primary/v/1`);
    expect(JSON.parse(stored?.Value ?? '')).toEqual(JSON.parse(JSON.stringify(d)));
  });

  it('keeps ids that contain "/v/" and prefixes of each other apart', async () => {
    const store = fresh();
    const a = parseRef('global/db');
    const b = parseRef('global/db/v/2');
    const c = parseRef('global/db/v');
    await store.append(doc(a, 1));
    await store.append(doc(a, 2));
    await store.append(doc(b, 1));
    await store.append(doc(c, 1));
    expect(await store.listVersions(a)).toEqual([1, 2]);
    expect(await store.listVersions(b)).toEqual([1]);
    expect(await store.listVersions(c)).toEqual([1]);
    expect((await store.getVersion(a, 2))?.ref).toEqual(a);
    expect((await store.getVersion(b))?.ref).toEqual(b);
    expect((await store.listHeads({ scope: 'global', prefix: 'db' })).map((h) => h.ref.id)).toEqual([
      'db',
      'db/v',
      'db/v/2',
    ]);
    expect(await store.listHeads({ prefix: 'zzz' })).toEqual([]);
  });

  it('reads consistently on request and answers a prefix that does not exist with an empty list', async () => {
    const store = fresh();
    expect(await store.listHeads({ scope: 'app:none' }, { consistent: true })).toEqual([]);
    await store.append(doc('global/c', 1));
    expect(await store.getHead(parseRef('global/c'), { consistent: true })).toMatchObject({ version: 1 });
    expect((await store.getVersion(parseRef('global/c'), 1, { consistent: true }))?.version).toBe(1);
  });

  it('keeps the last historyLimit versions per ref and deletes older documents', async () => {
    const store = fresh({ historyLimit: 3 });
    const ref = parseRef('global/history');
    for (let v = 1; v <= 7; v++) await store.append(doc(ref, v));
    await store.flushHistory();
    expect(await store.listVersions(ref)).toEqual([5, 6, 7]);
    expect(await store.getVersion(ref, 1)).toBeUndefined();
    expect((await store.getVersion(ref))?.version).toBe(7);
    expect(store.capabilities.historyLimit).toBe(3);
  });

  it('repairs a version in place (reconciliation) and moves the head only if it pointed there', async () => {
    const store = fresh();
    const ref = parseRef('global/repair');
    await store.append(doc(ref, 1));
    await store.append(doc(ref, 2));
    const other1 = doc(ref, 1, { repaired: 1 });
    await store.replace?.(other1, { reason: 'test' });
    expect((await store.getVersion(ref, 1))?.config).toEqual({ repaired: 1 });
    expect((await store.getHead(ref))?.version).toBe(2);
    const other2 = doc(ref, 2, { repaired: 2 });
    await store.replace?.(other2, { reason: 'test' });
    expect(await store.getHead(ref)).toMatchObject({ version: 2, checksum: other2.checksum });
    expect((await store.getVersion(ref))?.config).toEqual({ repaired: 2 });
    expect(await codeOf(store.replace?.(doc(ref, 3), { reason: 'test' }) as Promise<void>)).toBe(
      'CONSTRAINT_VIOLATION',
    );
  });
});

describe('consul store: appends', () => {
  it('falls back to a consistent read when its remembered head is stale, and conflicts only when it must', async () => {
    const a = fresh();
    const b = fresh({ prefix: a.prefix });
    const ref = parseRef('global/remembered');
    await a.append(doc(ref, 1));
    await a.append(doc(ref, 2)); // a remembers v2's ModifyIndex
    await b.append(doc(ref, 3)); // behind a's back
    expect(await codeOf(a.append(doc(ref, 3, { from: 'a' })))).toBe('VERSION_CONFLICT');
    expect((await a.append(doc(ref, 4))).version).toBe(4);
    // The head rewritten with the same content: its ModifyIndex moved, the version did not.
    const head = await raw.get(`${a.prefix}heads/global/remembered`);
    await raw.put(`${a.prefix}heads/global/remembered`, head?.Value ?? '');
    expect((await a.append(doc(ref, 5))).version).toBe(5);
    expect(await a.listVersions(ref)).toEqual([1, 2, 3, 4, 5]);
    expect((await a.getVersion(ref, 3))?.config).toEqual({ n: 3 });
  });

  it('commits concurrent appends of different refs together, each atomically, and retries the innocent', async () => {
    const store = fresh();
    const other = fresh({ prefix: store.prefix });
    const contested = parseRef('global/group/contested');
    await store.append(doc(contested, 1));
    await other.append(doc(contested, 2)); // store still remembers v1
    const refs = Array.from({ length: 40 }, (_, i) => parseRef(`global/group/r${i}`));
    await Promise.all(refs.map((ref) => store.append(doc(ref, 1))));
    // All remembered: every append below is submitted in the same tick; the first few go alone
    // (transactions in flight are capped), the rest share transactions.
    const results = await Promise.allSettled([
      ...refs.slice(0, 10).map((ref) => store.append(doc(ref, 2))),
      store.append(doc(contested, 2, { loser: true })),
      ...refs.slice(10).map((ref) => store.append(doc(ref, 2))),
    ]);
    const contestedResult = results[10] as PromiseRejectedResult;
    expect(contestedResult.status).toBe('rejected');
    expect(isConfigError(contestedResult.reason, 'VERSION_CONFLICT')).toBe(true);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(40);
    const stats = store.appendStats();
    expect(stats.transactions).toBeLessThan(stats.groups); // some transactions carried several appends
    expect(stats.retried).toBeGreaterThan(0); // the contested append's siblings were sent again
    const heads = await store.listHeads({ scope: 'global', prefix: 'group/r' });
    expect(heads).toHaveLength(40);
    for (const ref of refs) {
      const d = await store.getVersion(ref);
      expect(d?.version).toBe(2);
      expect(await store.listVersions(ref)).toEqual([1, 2]);
    }
    expect((await store.getVersion(contested))?.config).toEqual({ n: 2 });
  });
});

describe('consul store: tampering is detected, never served', () => {
  function forged(d: ConfigVersion, config: Record<string, number>): ConfigVersion {
    const body = { ref: d.ref, version: d.version, config, overrides: d.overrides, rollout: d.rollout };
    return { ...d, config, checksum: computeChecksum(body) };
  }

  it('a document rewritten with a raw PUT (content changed)', async () => {
    const store = fresh();
    const ref = parseRef('global/t1');
    const d = await store.append(doc(ref, 1));
    await raw.put(`${store.prefix}docs/global/t1/v/1`, JSON.stringify({ ...d, config: { n: 666 } }));
    expect(await codeOf(store.getVersion(ref, 1))).toBe('CHECKSUM_MISMATCH');
    expect(await codeOf(store.getVersion(ref))).toBe('CHECKSUM_MISMATCH');
  });

  it('a document replaced by a self-consistent forgery (checksum recomputed): the head disagrees', async () => {
    const store = fresh();
    const ref = parseRef('global/t2');
    const d = await store.append(doc(ref, 1));
    await raw.put(`${store.prefix}docs/global/t2/v/1`, JSON.stringify(forged(d, { n: 777 })));
    expect(await codeOf(store.getVersion(ref))).toBe('CHECKSUM_MISMATCH');
    expect(await codeOf(store.getVersion(ref, 1))).toBe('CHECKSUM_MISMATCH');
  });

  it('a head rewritten to another checksum, or to garbage', async () => {
    const store = fresh();
    const ref = parseRef('global/t3');
    await store.append(doc(ref, 1));
    const headKey = `${store.prefix}heads/global/t3`;
    await raw.put(headKey, JSON.stringify({ version: 1, checksum: 'a'.repeat(64) }));
    expect(await codeOf(store.getVersion(ref))).toBe('CHECKSUM_MISMATCH');
    expect(await codeOf(store.getVersion(ref, 1))).toBe('CHECKSUM_MISMATCH');
    await raw.put(headKey, 'not json');
    expect(await codeOf(store.getHead(ref))).toBe('CHECKSUM_MISMATCH');
    expect(await codeOf(store.listHeads())).toBe('CHECKSUM_MISMATCH');
    await raw.put(headKey, JSON.stringify({ version: 1, checksum: 'short' }));
    expect(await codeOf(store.getHead(ref))).toBe('CHECKSUM_MISMATCH');
  });

  it("another ref's valid document copied under this key", async () => {
    const store = fresh();
    const a = parseRef('global/ta');
    const b = parseRef('global/tb');
    await store.append(doc(a, 1));
    const db = await store.append(doc(b, 1));
    await raw.put(`${store.prefix}docs/global/ta/v/1`, JSON.stringify(db));
    expect(await codeOf(store.getVersion(a, 1))).toBe('CHECKSUM_MISMATCH');
  });

  it('a head pointing at a document that was deleted, or a document beyond the head', async () => {
    const store = fresh();
    const ref = parseRef('global/t4');
    await store.append(doc(ref, 1));
    await store.append(doc(ref, 2));
    await raw.del(`${store.prefix}docs/global/t4/v/2`);
    expect(await codeOf(store.getVersion(ref))).toBe('CHECKSUM_MISMATCH');
    expect(await store.getVersion(ref, 2)).toBeUndefined();
    await raw.put(`${store.prefix}docs/global/t4/v/3`, JSON.stringify(doc(ref, 3)));
    expect(await codeOf(store.getVersion(ref, 3))).toBe('CHECKSUM_MISMATCH');
  });

  it('a watch reports a malformed head through onError and keeps delivering', async () => {
    const store = fresh();
    const w = collect(store, { scope: 'global' });
    await new Promise((r) => setTimeout(r, 100));
    await store.append(doc('global/w', 1));
    await w.until((e) => e.some((c) => c.key === 'global/w'));
    await raw.put(`${store.prefix}heads/global/w`, '{"version":"x"}');
    // A feed that is not one makes the watch list the tree, where it finds the bad head; the next
    // append replaces the feed (a new feed id: the watch lists the tree again) and is delivered.
    await raw.put(`${store.prefix}feed/global`, 'not a feed');
    await store.append(doc('global/w2', 1));
    await w.until((e) => e.some((c) => c.key === 'global/w2'));
    expect(w.errors.some((e) => isConfigError(e, 'CHECKSUM_MISMATCH'))).toBe(true);
    w.stop();
  });
});

describe('consul store: one blocking query per watched scope', () => {
  it('shares one watch between listeners of a scope, starts with the first and stops after the last', async () => {
    const store = fresh();
    expect(store.activeWatches).toBe(0);
    const a = collect(store, { scope: 'global' });
    const b = collect(store, { scope: 'global' });
    const c = collect(store, { scope: 'global' });
    expect(store.activeWatches).toBe(1);
    const all = collect(store);
    const app = collect(store, { scope: 'app:x' });
    expect(store.activeWatches).toBe(3);
    await new Promise((r) => setTimeout(r, 100));
    await store.append(doc('global/shared', 1));
    await store.append(doc('app:x/shared', 1));
    for (const w of [a, b, c]) await w.until((e) => e.some((x) => x.key === 'global/shared'));
    await all.until((e) => e.length === 2);
    await app.until((e) => e.length === 1);
    expect(app.events[0]?.key).toBe('app:x/shared');
    a.stop();
    b.stop();
    expect(store.activeWatches).toBe(3);
    c.stop();
    expect(store.activeWatches).toBe(2);
    all.stop();
    app.stop();
    expect(store.activeWatches).toBe(0);
  });

  it('gives a listener that joins a running watch the current heads first when asked', async () => {
    const store = fresh();
    await store.append(doc('global/late', 1));
    const first = collect(store, { scope: 'global' });
    await new Promise((r) => setTimeout(r, 100));
    await store.append(doc('global/late', 2));
    await first.until((e) => e.some((x) => x.version === 2));
    const late = collect(store, { scope: 'global', initial: true });
    await late.until((e) => e.length >= 1);
    expect(late.events[0]).toMatchObject({ key: 'global/late', version: 2, initial: true });
    await store.append(doc('global/late', 3));
    await late.until((e) => e.some((x) => x.version === 3 && !x.initial));
    expect(late.events.map((e) => e.version)).toEqual([2, 3]);
    expect(store.activeWatches).toBe(1);
    first.stop();
    late.stop();
  });

  it('never emits a lower version than it already emitted for a ref (without a reset)', async () => {
    const store = fresh();
    const ref = parseRef('global/monotonic');
    const w = collect(store, { scope: 'global' });
    await new Promise((r) => setTimeout(r, 100));
    const v1 = await store.append(doc(ref, 1));
    await store.append(doc(ref, 2));
    await store.append(doc(ref, 3));
    await w.until((e) => e.some((x) => x.key === 'global/monotonic' && x.version === 3));
    // The head forced back to v1 behind the store's back, then a marker write on another ref.
    await raw.put(`${store.prefix}heads/global/monotonic`, JSON.stringify({ version: 1, checksum: v1.checksum }));
    await store.append(doc('global/marker', 1));
    await w.until((e) => e.some((x) => x.key === 'global/marker'));
    await raw.put(
      `${store.prefix}heads/global/monotonic`,
      JSON.stringify({ version: 3, checksum: doc(ref, 3).checksum }),
    );
    await store.append(doc(ref, 4));
    await w.until((e) => e.some((x) => x.key === 'global/monotonic' && x.version === 4));
    // A wake-up may coalesce appends (1, 2, 3 in quick succession can arrive as 1, 3): the property is
    // that versions only go up, v3 (awaited) and v4 included, and the forced-back v1 is never emitted.
    const versions = w.events.filter((e) => e.key === 'global/monotonic').map((e) => e.version);
    expect(versions.every((v, i) => i === 0 || v > (versions[i - 1] as number))).toBe(true);
    expect(versions.slice(-2)).toEqual([3, 4]);
    w.stop();
  });

  it('coalesces nothing it should not: every appended version of a ref arrives in order', async () => {
    const store = fresh();
    const writer = fresh({ prefix: store.prefix });
    const events: HeadChange[] = [];
    const stop = store.watch((e) => events.push(e), { scope: 'app:seq' });
    await new Promise((r) => setTimeout(r, 100));
    const ref = parseRef('app:seq/counter');
    for (let v = 1; v <= 30; v++) await writer.append(doc(ref, v));
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.version === 30) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const versions = events.map((e) => e.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
    expect(versions.at(-1)).toBe(30);
    stop();
  });
});

describe('consul store: applied-state acknowledgements under a session', () => {
  const ack = (ref: string, instance: string, checksum: string) => ({
    ref: parseRef(ref),
    environment: 'production',
    instance,
    version: 1,
    checksum,
    status: 'applied' as const,
    at: new Date().toISOString(),
  });

  it('holds acks with its session and they vanish when the store closes', async () => {
    const store = fresh();
    const reader = fresh({ prefix: store.prefix });
    const d = await store.append(doc('app:acks/db', 1));
    await store.ack?.(ack('app:acks/db', 'host-1:42', d.checksum));
    const key = `${store.prefix}applied/app:acks/db/production/host-1:42`;
    const entry = await raw.get(key);
    expect(entry?.Session).toMatch(/^[0-9a-f-]{36}$/);
    expect((await reader.listAcks?.(parseRef('app:acks/db')))?.map((a) => a.instance)).toEqual(['host-1:42']);
    await store.close();
    expect(await raw.get(key)).toBeUndefined();
    expect(await reader.listAcks?.(parseRef('app:acks/db'))).toEqual([]);
  });

  it('re-creates its session when it was destroyed behind its back, and re-publishes its acks', async () => {
    const store = fresh();
    const d = await store.append(doc('global/relost', 1));
    await store.ack?.(ack('global/relost', 'i-1', d.checksum));
    const key = `${store.prefix}applied/global/relost/production/`;
    const session = (await raw.get(`${key}i-1`))?.Session;
    const destroyed = await fetch(`${consulAddr}/v1/session/destroy/${session}`, { method: 'PUT' });
    expect(destroyed.ok).toBe(true);
    expect(await raw.get(`${key}i-1`)).toBeUndefined(); // behavior "delete": the ack vanished with it
    await store.ack?.(ack('global/relost', 'i-2', d.checksum));
    const deadline = Date.now() + 10_000;
    let instances: string[] = [];
    while (Date.now() < deadline) {
      instances = ((await store.listAcks?.(parseRef('global/relost'))) ?? []).map((a) => a.instance).sort();
      if (instances.length === 2) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(instances).toEqual(['i-1', 'i-2']);
    const renewed = (await raw.get(`${key}i-1`))?.Session;
    expect(renewed).toBeDefined();
    expect(renewed).not.toBe(session);
  });

  it("takes over an instance's ack key from a previous process's live session", async () => {
    const first = fresh();
    const second = fresh({ prefix: first.prefix });
    const d = await first.append(doc('global/acks', 1));
    await first.ack?.(ack('global/acks', 'pod-a', d.checksum));
    await second.ack?.({ ...ack('global/acks', 'pod-a', d.checksum), status: 'rejected', reason: 'schema' });
    const acks = (await second.listAcks?.(parseRef('global/acks'))) ?? [];
    expect(acks.map((a) => [a.instance, a.status, a.reason])).toEqual([['pod-a', 'rejected', 'schema']]);
  });

  it('keeps acks of a ref apart from acks of a longer id, and validates them', async () => {
    const store = fresh();
    const d = await store.append(doc('global/a', 1));
    const e = await store.append(doc('global/a/production', 1));
    await store.ack?.(ack('global/a', 'i1', d.checksum));
    await store.ack?.(ack('global/a/production', 'i2', e.checksum));
    expect((await store.listAcks?.(parseRef('global/a')))?.map((x) => x.instance)).toEqual(['i1']);
    expect((await store.listAcks?.(parseRef('global/a/production')))?.map((x) => x.instance)).toEqual(['i2']);
    expect(await codeOf(store.ack?.({ ...ack('global/a', 'bad/instance', d.checksum) }) as Promise<void>)).toBe(
      'CONSTRAINT_VIOLATION',
    );
    expect(await codeOf(store.ack?.({ ...ack('global/a', 'i1', 'nope') }) as Promise<void>)).toBe(
      'CONSTRAINT_VIOLATION',
    );
  });
});
