import { PGlite } from '@electric-sql/pglite';
import { createPgliteStore, type PostgresStore } from '@summit-config/backends/pglite';
import { LATEST_MIGRATION } from '@summit-config/backends/postgres';
import { type ConfigRef, type ConfigStore, isConfigError, parseRef, refKey } from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { collect, doc, runStoreContract } from '@summit-config/test-support/contract/store-contract';
import { freshSchema, q } from '@summit-config/test-support/sql';
import { tamperSql } from '@summit-config/test-support/stores';
import { tempDirs } from '@summit-config/test-support/temp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tempDir = tempDirs({ prefix: 'summit-pglite-', after: 'all' });

/** The PGlite instance behind each store the contract creates, so `tamper` can edit behind its back. */
const instances = new WeakMap<ConfigStore, PGlite>();

async function tamperPglite(store: ConfigStore, ref: ConfigRef, version: number): Promise<void> {
  const db = instances.get(store);
  if (!db) throw new Error('no PGlite instance recorded for this store');
  const result = await db.query(tamperSql((store as PostgresStore).schema), [refKey(ref), version]);
  if (result.affectedRows !== 1) throw new Error('tamper touched no row');
}

/**
 * A store on its own in-memory PGlite, passed in so the test can reach it; closing the store also
 * closes the instance (as when the store opens the database itself).
 */
async function ownInMemory(): Promise<ConfigStore> {
  const db = await PGlite.create();
  const store = createPgliteStore({ pglite: db });
  let closing: Promise<void> | undefined;
  const owning: ConfigStore = {
    ...store,
    close: () => {
      closing ??= store.close().then(() => db.close());
      return closing;
    },
    [Symbol.asyncDispose]: () => owning.close(),
  };
  instances.set(owning, db);
  return owning;
}

runStoreContract('pglite (in-memory)', {
  create: ownInMemory,
  capabilities: {
    watch: true,
    durable: false,
    appliedState: true,
    consistentReads: true,
    historyLimit: undefined,
    bulkReads: true,
  },
  tamper: tamperPglite,
});

describe('pglite on a data directory', () => {
  let shared: PGlite | undefined;
  beforeAll(async () => {
    shared = await PGlite.create(await tempDir());
  });
  afterAll(async () => {
    await shared?.close();
  });

  runStoreContract('pglite (dataDir, a fresh schema per store)', {
    create: () => {
      const store = createPgliteStore({ pglite: shared as PGlite, schema: freshSchema('lite') });
      instances.set(store, shared as PGlite);
      return store;
    },
    capabilities: { watch: true, durable: true, appliedState: true },
    tamper: tamperPglite,
  });
});

describe('pglite store', () => {
  it('names the bad option at construction', () => {
    expect(() => createPgliteStore({ dataDir: '' })).toThrow(/dataDir/);
    expect(() => createPgliteStore({ schema: 'x'.repeat(64) })).toThrow(/schema/);
    expect(() => createPgliteStore({ resyncIntervalMs: 0 })).toThrow(/resyncIntervalMs/);
    expect(() => createPgliteStore({ reconnectBaseMs: 500, reconnectMaxMs: 100 })).toThrow(/reconnectMaxMs/);
  });

  it('persists across close and reopen of a data directory', async () => {
    const dataDir = await tempDir();
    const ref = parseRef('app:billing/database');
    const first = createPgliteStore({ dataDir });
    expect(first.capabilities.durable).toBe(true);
    const v1 = await first.append(doc(ref, 1, { host: 'a' }));
    const v2 = await first.append(
      createVersion({ ref, config: { host: 'b', big: 2 ** 53 + 2, one: 1.0 }, createdBy: 'alice', message: 'm' }, 2),
    );
    await first.ack?.({
      ref,
      environment: 'production',
      instance: 'i-1',
      version: 2,
      checksum: v2.checksum,
      status: 'applied',
      at: v2.createdAt,
    });
    await first.close();

    const second = createPgliteStore({ dataDir });
    try {
      expect((await second.migrate()).applied).toEqual([]);
      expect(await second.getVersion(ref, 1)).toEqual(v1);
      expect(await second.getVersion(ref)).toEqual(v2);
      expect(await second.listVersions(ref)).toEqual([1, 2]);
      expect((await second.listAcks?.(ref))?.map((a) => a.instance)).toEqual(['i-1']);
      const w = collect(second, { initial: true });
      await w.until((events) => events.some((e) => e.initial && e.key === refKey(ref) && e.version === 2));
      await second.append(doc(ref, 3));
      await w.until((events) => events.some((e) => e.version === 3 && !e.initial));
      w.stop();
    } finally {
      await second.close();
    }
  });

  it('opens an in-memory database of its own when no dataDir is given, and closes it', async () => {
    const store = createPgliteStore();
    expect(store.capabilities.durable).toBe(false);
    expect(store.name).toBe('pglite');
    await store.append(doc('global/mem', 1));
    expect((await store.getHead(parseRef('global/mem')))?.version).toBe(1);
    await store.close();
    await store.close();
    await expect(store.getHead(parseRef('global/mem'))).rejects.toMatchObject({ code: 'CLOSED' });
  });

  describe('on one shared instance', () => {
    let db: PGlite | undefined;
    beforeAll(async () => {
      db = await PGlite.create();
    });
    afterAll(async () => {
      await db?.close();
    });

    it('migrates once when two stores start on the same schema at the same moment', async () => {
      const schema = freshSchema('twin');
      const a = createPgliteStore({ pglite: db, schema });
      const b = createPgliteStore({ pglite: db, schema });
      const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
      const all = Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1);
      expect([...ra.applied, ...rb.applied].sort((x, y) => x - y)).toEqual(all);
      expect([ra.applied.length, rb.applied.length].sort((x, y) => x - y)).toEqual([0, LATEST_MIGRATION]);
      const rows = await (db as PGlite).query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${q(schema)}.summit_migrations`,
      );
      expect(rows.rows[0]?.n).toBe(LATEST_MIGRATION);
      await Promise.all([a.close(), b.close()]);
      expect((db as PGlite).closed).toBe(false);
    });

    it('delivers a change written by a second store through LISTEN/NOTIFY inside the instance', async () => {
      const schema = freshSchema('notify');
      const watcher = createPgliteStore({ pglite: db, schema });
      const writer = createPgliteStore({ pglite: db, schema });
      const w = collect(watcher);
      await new Promise((r) => setTimeout(r, 200));
      for (let v = 1; v <= 3; v++) await writer.append(doc('app:x/feature', v));
      await w.until((events) => events.some((e) => e.version === 3));
      expect(w.events.map((e) => e.version)).toEqual([1, 2, 3]);
      w.stop();
      await Promise.all([watcher.close(), writer.close()]);
    });

    it('serialises concurrent appends: exactly one of 20 wins, versions stay gap-free', async () => {
      const store = createPgliteStore({ pglite: db, schema: freshSchema('race') });
      const ref = parseRef('global/race');
      await store.append(doc(ref, 1));
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.append(doc(ref, 2, { i }))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(isConfigError(r.reason, 'VERSION_CONFLICT')).toBe(true);
      }
      expect(await store.listVersions(ref)).toEqual([1, 2]);
      await store.close();
    });

    it('round-trips numbers and strings exactly', async () => {
      const store = createPgliteStore({ pglite: db, schema: freshSchema('nums') });
      const config = {
        one: 1.0,
        big: 2 ** 53 + 2,
        huge: 1e21,
        tiny: 5e-324,
        max: Number.MAX_VALUE,
        third: 1 / 3,
        nul: 'a\u0000b',
        lone: '\ud800',
        quote: "'; DROP TABLE config_versions; --",
      };
      const d = createVersion({ ref: 'global/exact', config, createdBy: 'test' }, 1);
      await store.append(d);
      expect(await store.getVersion(parseRef('global/exact'), 1)).toEqual(d);
      await store.close();
    });
  });
});
