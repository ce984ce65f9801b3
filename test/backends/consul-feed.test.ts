/**
 * The scope change feed of the Consul store (consul-feed.ts), against the real Consul: what a
 * wake-up costs whatever the number of refs, documents inline, and the properties that must hold
 * when watchers fall behind, writers race, or the feed is lost or forged: every watcher ends on
 * every head, never goes backwards, and never takes a document that does not verify.
 */
import { type ConsulStore, createConsulStore } from '@summit-config/backends/consul';
import { type ConfigStore, createConfigClient, type HeadChange, parseRef, refKey } from '@summit-config/core';
import { computeChecksum } from '@summit-config/core/internal';
import { consulStores } from '@summit-config/test-support/consul';
import { collect, doc } from '@summit-config/test-support/contract/store-contract';
import { services } from '@summit-config/test-support/services';
import { slowly, until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const { consulAddr } = services();
const { open: fresh, newPrefix } = consulStores();

async function rawGet(key: string): Promise<{ value: string; index: number } | undefined> {
  const res = await fetch(`${consulAddr}/v1/kv/${key}`);
  if (res.status === 404) return undefined;
  const [entry] = (await res.json()) as Array<{ Value: string; ModifyIndex: number }>;
  return entry && { value: Buffer.from(entry.Value, 'base64').toString(), index: entry.ModifyIndex };
}
async function rawPut(key: string, value: string): Promise<void> {
  const res = await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'PUT', body: value });
  if (!res.ok) throw new Error(`PUT ${key}: ${res.status}`);
}

async function seed(store: ConfigStore, scope: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `svc/r${String(i).padStart(5, '0')}`);
  for (let i = 0; i < ids.length; i += 64) {
    await Promise.all(ids.slice(i, i + 64).map((id) => store.append(doc(`${scope}/${id}`, 1))));
  }
  return ids;
}

/**
 * What every watcher must have recorded once writes stop: per ref, versions strictly ascending and
 * the last one the store's head; every document it was handed verifies and is the version named.
 */
async function expectConverged(store: ConfigStore, events: readonly HeadChange[], scope: string): Promise<void> {
  const heads = await store.listHeads({ scope: scope as never });
  const byKey = new Map<string, HeadChange[]>();
  for (const e of events) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  for (const head of heads) {
    const seen = byKey.get(refKey(head.ref)) ?? [];
    const versions = seen.map((e) => e.version);
    expect(versions, refKey(head.ref)).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size, refKey(head.ref)).toBe(versions.length);
    expect(seen.at(-1)?.version, refKey(head.ref)).toBe(head.version);
    expect(seen.at(-1)?.checksum, refKey(head.ref)).toBe(head.checksum);
  }
  for (const e of events) {
    if (!e.document) continue;
    expect(e.document.version).toBe(e.version);
    expect(e.document.checksum).toBe(e.checksum);
    expect(computeChecksum(e.document)).toBe(e.checksum);
  }
}

describe('consul change feed', () => {
  it('a wake-up carries the feed, not the tree: bytes per change stay flat from 50 to 2 000 refs', async () => {
    const perChange: Record<number, number> = {};
    for (const count of [50, 2000]) {
      const prefix = newPrefix();
      const writer = fresh({ prefix });
      const ids = await seed(writer, 'app:feed', count);
      const watcher = fresh({ prefix });
      const w = collect(watcher, { scope: 'app:feed', initial: true });
      await w.until((e) => e.length === count, 20_000);
      const before = { ...watcher.watchStats()['app:feed'] } as NonNullable<
        ReturnType<ConsulStore['watchStats']>[string]
      >;
      const CHANGES = 20;
      for (let c = 0; c < CHANGES; c++) {
        const ref = parseRef(`app:feed/${ids[(c * 7) % count]}`);
        const head = await writer.getHead(ref);
        await writer.append(doc(ref, (head?.version ?? 0) + 1, { n: c, pad: 'x'.repeat(200) }));
        await w.until((e) => e.some((x) => !x.initial && x.key === refKey(ref) && x.version === head!.version + 1));
      }
      const after = watcher.watchStats()['app:feed'];
      if (!after) throw new Error('no watch stats');
      perChange[count] = (after.bytes - before.bytes) / CHANGES;
      expect(after.listings, 'the tree is listed once, at the start').toBe(1);
      expect(after.fed - before.fed).toBe(CHANGES);
      expect(after.inlined - before.inlined, 'every document arrived with its change').toBe(CHANGES);
      const changes = w.events.filter((e) => !e.initial);
      expect(changes.every((e) => e.document !== undefined)).toBe(true);
      // The feed itself stays within 4 KiB: contiguous entries, the newest whole, older documents dropped first.
      const raw = (await rawGet(`${prefix}feed/app:feed`))?.value ?? '';
      expect(Buffer.byteLength(raw)).toBeLessThanOrEqual(4 * 1024);
      const feed = JSON.parse(raw) as { seq: number; entries: Array<{ seq: number; doc?: string }> };
      const seqs = feed.entries.map((e) => e.seq);
      expect(seqs.at(-1)).toBe(feed.seq);
      expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
      expect(feed.entries.at(-1)?.doc).toBeDefined();
      const firstWithDoc = feed.entries.findIndex((e) => e.doc !== undefined);
      expect(feed.entries.slice(firstWithDoc).every((e) => e.doc !== undefined)).toBe(true);
      await expectConverged(writer, w.events, 'app:feed');
      w.stop();
    }
    expect(perChange[50]).toBeLessThanOrEqual(16 * 1024);
    expect(perChange[2000]).toBeLessThanOrEqual(16 * 1024);
  }, 120_000);

  it('a watcher that falls behind the entries kept lists the tree and ends on every head', async () => {
    const prefix = newPrefix();
    const writers = [fresh({ prefix }), fresh({ prefix }), fresh({ prefix })];
    const ids = await seed(writers[0] as ConsulStore, 'global', 30);
    // Two requests a second: the 150 changes below outrun it by far.
    const slow = fresh({ prefix, watchRateLimit: { perSecond: 2, burst: 1 } });
    const w = collect(slow, { scope: 'global', initial: true });
    await w.until((e) => e.length === ids.length, 10_000);
    await Promise.all(
      writers.map(async (writer, k) => {
        for (let round = 0; round < 5; round++) {
          for (let i = k; i < ids.length; i += writers.length) {
            const ref = parseRef(`global/${ids[i]}`);
            const head = await writer.getHead(ref, { consistent: true });
            await writer.append(doc(ref, (head?.version ?? 0) + 1));
          }
        }
      }),
    );
    const final = await writers[0]?.listHeads({ scope: 'global' });
    await w.until(
      (e) => (final ?? []).every((h) => e.some((x) => x.key === refKey(h.ref) && x.version === h.version)),
      20_000,
    );
    expect(slow.watchStats().global?.listings).toBeGreaterThan(1);
    await expectConverged(writers[0] as ConsulStore, w.events, 'global');
    expect(w.errors).toEqual([]);
  }, 60_000);

  it('stores in different processes race on one feed: every append lands, the feed stays contiguous', async () => {
    const prefix = newPrefix();
    const watcher = fresh({ prefix });
    const w = collect(watcher, { scope: 'app:race', initial: true });
    await new Promise((r) => setTimeout(r, 200));
    // Four stores, each with its own view of the feed (as four processes would have).
    const writers = Array.from({ length: 4 }, () => createConsulStore({ address: consulAddr, prefix }));
    try {
      await Promise.all(
        writers.map(async (writer, k) => {
          for (let i = 0; i < 25; i++) {
            await Promise.all([0, 1].map((j) => writer.append(doc(`app:race/w${k}/r${i}-${j}`, 1))));
          }
        }),
      );
      const heads = await watcher.listHeads({ scope: 'app:race' });
      expect(heads).toHaveLength(200);
      await w.until((e) => heads.every((h) => e.some((x) => x.key === refKey(h.ref))), 20_000);
      await expectConverged(watcher, w.events, 'app:race');
      const feed = JSON.parse((await rawGet(`${prefix}feed/app:race`))?.value ?? '{}');
      expect(feed.seq, 'one feed entry per append, none lost to a race').toBe(200);
      const seqs = (feed.entries as Array<{ seq: number }>).map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => 200 - seqs.length + 1 + i));
    } finally {
      await Promise.all(writers.map((s) => s.close()));
    }
  }, 60_000);

  it("a quiet scope's feed keeps only its recent changes; a watcher that kept up never lists again", async () => {
    const prefix = newPrefix();
    const writer = fresh({ prefix });
    const watcher = fresh({ prefix });
    const w = collect(watcher, { scope: 'global', initial: true });
    for (let v = 1; v <= 5; v++) await writer.append(doc('global/q', v));
    await w.until((e) => e.some((x) => x.key === 'global/q' && x.version === 5));
    await new Promise((r) => setTimeout(r, 5200)); // past the 5 s the feed keeps
    await writer.append(doc('global/q', 6));
    await w.until((e) => e.some((x) => x.key === 'global/q' && x.version === 6));
    const feed = JSON.parse((await rawGet(`${prefix}feed/global`))?.value ?? '{}');
    expect(feed.entries.map((e: { seq: number }) => e.seq)).toEqual([6]);
    expect(watcher.watchStats().global?.listings).toBe(1);
    await expectConverged(writer, w.events, 'global');
  }, 30_000);

  it('a head moved without the feed (a raw write) is delivered at the periodic listing', async () => {
    const prefix = newPrefix();
    const writer = fresh({ prefix });
    const watcher = fresh({ prefix, watchResyncMs: 1000, watchWaitMs: 1000 });
    const w = collect(watcher, { scope: 'global', initial: true });
    await writer.append(doc('global/raw', 1));
    await w.until((e) => e.some((x) => x.key === 'global/raw'));
    const v2 = doc('global/raw', 2);
    await rawPut(`${prefix}docs/global/raw/v/2`, JSON.stringify(v2));
    await rawPut(`${prefix}heads/global/raw`, JSON.stringify({ version: 2, checksum: v2.checksum }));
    await w.until((e) => e.some((x) => x.key === 'global/raw' && x.version === 2), 10_000);
    expect(watcher.watchStats().global?.listings).toBeGreaterThan(1);
    await expectConverged(writer, w.events, 'global');
    expect(() => createConsulStore({ address: consulAddr, watchResyncMs: -1 })).toThrow(/watchResyncMs/);
  }, 30_000);

  it('a feed deleted or overwritten behind the store is made anew and the watch carries on', async () => {
    const prefix = newPrefix();
    const writer = fresh({ prefix });
    const watcher = fresh({ prefix });
    const w = collect(watcher, { scope: 'global', initial: true });
    await writer.append(doc('global/a', 1));
    await w.until((e) => e.some((x) => x.key === 'global/a'));
    await fetch(`${consulAddr}/v1/kv/${prefix}feed/global`, { method: 'DELETE' });
    await writer.append(doc('global/a', 2));
    await w.until((e) => e.some((x) => x.key === 'global/a' && x.version === 2), 10_000);
    await rawPut(`${prefix}feed/global`, '{"feed":"","seq":-1}');
    await writer.append(doc('global/a', 3));
    await writer.append(doc('global/b', 1));
    await w.until((e) => e.some((x) => x.key === 'global/b'), 10_000);
    await expectConverged(writer, w.events, 'global');
    expect(watcher.watchStats().global?.listings).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('a large document comes without its document; a forged inline document is never passed on', async () => {
    const prefix = newPrefix();
    const writer = fresh({ prefix });
    const watcher = fresh({ prefix });
    const w = collect(watcher, { scope: 'global', initial: true });
    await writer.append(doc('global/big', 1, { blob: 'y'.repeat(6000) }));
    await w.until((e) => e.some((x) => x.key === 'global/big'));
    expect(w.events.find((x) => x.key === 'global/big')?.document).toBeUndefined();
    expect(await writer.getVersion(parseRef('global/big'), 1)).toBeDefined();

    // Forge v2 of global/small in the feed: the checksum it claims is its real one, the document not.
    await writer.append(doc('global/small', 1));
    await w.until((e) => e.some((x) => x.key === 'global/small'));
    const current = await rawGet(`${prefix}feed/global`);
    const feed = JSON.parse(current?.value ?? '{}');
    const honest = doc('global/small', 2, { n: 2 });
    const forged = { ...honest, config: { n: 666 } };
    feed.seq += 1;
    feed.entries.push({
      seq: feed.seq,
      id: 'small',
      version: 2,
      checksum: honest.checksum,
      doc: JSON.stringify(forged),
    });
    await rawPut(`${prefix}feed/global`, JSON.stringify(feed));
    await w.until((e) => e.some((x) => x.key === 'global/small' && x.version === 2));
    const got = w.events.find((x) => x.key === 'global/small' && x.version === 2);
    expect(got?.document).toBeUndefined();
    // A reader fetching the forged version finds nothing; the real v2 still arrives, with its document.
    expect(await watcher.getVersion(parseRef('global/small'), 2)).toBeUndefined();
    await writer.append(doc('global/small', 2, { n: 22 }));
    await w.until((e) => e.some((x) => x.key === 'global/small' && x.document?.config.n === 22));
    const events = w.events.filter((x) => x !== got);
    await expectConverged(watcher, events, 'global');
  }, 30_000);

  it('a client applies a change from the feed without fetching it', async () => {
    const prefix = newPrefix();
    const store = fresh({ prefix });
    await seed(store, 'app:shop', 20);
    let fetches = 0;
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === 'getVersion') {
          return (...args: unknown[]) => {
            fetches++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const client = await createConfigClient({ store: counting, app: 'shop', environment: 'production' });
    try {
      const seen: number[] = [];
      client.watch('svc/r00003', (c) => seen.push(c.version));
      const writer = fresh({ prefix });
      await new Promise((r) => setTimeout(r, 100));
      const f0 = fetches;
      for (let v = 2; v <= 6; v++) {
        await writer.append(doc('app:shop/svc/r00003', v, { n: v }));
        await until(() => seen.includes(v), `v${v} applied`, slowly);
      }
      expect(fetches - f0).toBe(0);
      expect(client.get('svc/r00003')).toEqual({ n: 6 });
      expect(seen).toEqual([2, 3, 4, 5, 6]);
    } finally {
      await client.close();
    }
  }, 30_000);
});
