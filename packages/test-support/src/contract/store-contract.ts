/**
 * The backend contract suite. Every store runs it with one call:
 *
 *   runStoreContract('consul', { create: () => createConsulStore({...}) });
 *
 * `create` must return a fresh, empty store (or one under a fresh prefix/schema) each time.
 */
import {
  appendNext,
  type ConfigRef,
  type ConfigStore,
  type ConfigVersion,
  type HeadChange,
  isConfigError,
  type JsonObject,
  parseRef,
  type StoreCapabilities,
} from '@summit-config/core';
import { createVersion } from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { opened } from './opened.js';

export interface ContractOptions {
  /** A fresh, empty store. */
  create: () => Promise<ConfigStore> | ConfigStore;
  /** The capabilities the store must declare; capability-specific cases run only where declared. */
  capabilities: Partial<StoreCapabilities>;
  /** The store's maxDocumentBytes, if it was configured below the default. */
  maxDocumentBytes?: number;
  /** Milliseconds to wait for watch deliveries. Default 5000. */
  watchTimeoutMs?: number;
  /**
   * Tampers with the stored content of `ref` version `version` behind the store's back (e.g. a raw
   * SQL UPDATE or a Consul PUT), so the suite can check that reads detect it.
   */
  tamper?: (store: ConfigStore, ref: ConfigRef, version: number) => Promise<void>;
}

const actor = 'contract-suite';

export function doc(ref: ConfigRef | string, version: number, config: JsonObject = { n: version }): ConfigVersion {
  return createVersion({ ref, config, createdBy: actor, message: `v${version}` }, version);
}

/** Collects watch events and resolves when a predicate over them holds. */
export function collect(store: ConfigStore, options: Parameters<ConfigStore['watch']>[1] = {}) {
  const events: HeadChange[] = [];
  const errors: unknown[] = [];
  let waiters: Array<() => void> = [];
  const stop = store.watch(
    (e) => {
      events.push(e);
      for (const w of waiters) w();
    },
    { ...options, onError: (e) => errors.push(e) },
  );
  return {
    events,
    errors,
    stop,
    async until(predicate: (events: HeadChange[]) => boolean, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(
            `watch condition not met in ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => [e.key, e.version]))}`,
          );
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 50));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
        waiters = [];
      }
    },
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected rejection with ${code}`).toBeDefined();
  expect(isConfigError(error) ? error.code : error).toBe(code);
  return error;
}

export function runStoreContract(name: string, options: ContractOptions): void {
  const watchTimeout = options.watchTimeoutMs ?? 5000;

  describe(`store contract: ${name}`, () => {
    const fresh = opened<ConfigStore>(options.create);

    it('declares its capabilities and a name', async () => {
      const store = await fresh();
      expect(typeof store.name).toBe('string');
      for (const key of ['watch', 'durable', 'consistentReads', 'appliedState']) {
        expect(typeof (store.capabilities as unknown as Record<string, unknown>)[key]).toBe('boolean');
      }
      expect(Object.isFrozen(store.capabilities)).toBe(true);
      expect(store.capabilities).toMatchObject(options.capabilities);
      await store.ping();
    });

    it('returns undefined for a ref never written', async () => {
      const store = await fresh();
      const ref = parseRef('app:billing/nothing/here');
      expect(await store.getHead(ref)).toBeUndefined();
      expect(await store.getVersion(ref)).toBeUndefined();
      expect(await store.getVersion(ref, 3)).toBeUndefined();
      expect(await store.listVersions(ref)).toEqual([]);
    });

    it('round-trips append, read and list', async () => {
      const store = await fresh();
      const ref = parseRef('app:billing/database');
      const v1 = createVersion(
        {
          ref,
          config: { host: 'db', port: 5432, tags: ['a', 'b'], nested: { deep: { x: null } }, unicode: 'zażółć ✓' },
          overrides: { production: { host: 'db.prod' } },
          rollout: { rules: [{ id: 'all', strategy: 'immediate', patch: { host: 'db.next' } }] },
          metadata: { ticket: 'OPS-1' },
          createdBy: 'alice',
          message: 'first',
        },
        1,
      );
      const written = await store.append(v1);
      expect(written.checksum).toBe(v1.checksum);
      const head = await store.getHead(ref);
      expect(head).toMatchObject({ version: 1, checksum: v1.checksum });
      const read = await store.getVersion(ref, 1);
      expect(read).toEqual(v1);
      expect(await store.getVersion(ref)).toEqual(v1);
      expect(await store.getHead(ref, { consistent: true })).toMatchObject({ version: 1 });

      await store.append(doc('global/features/checkout', 1));
      await store.append(doc('global/features/search', 1));
      await store.append(doc('app:search/features/x', 1));
      const all = await store.listHeads();
      expect(all.map((h) => `${h.ref.scope}/${h.ref.id}`)).toEqual([
        'app:billing/database',
        'app:search/features/x',
        'global/features/checkout',
        'global/features/search',
      ]);
      const globals = await store.listHeads({ scope: 'global' });
      expect(globals).toHaveLength(2);
      const prefixed = await store.listHeads({ scope: 'global', prefix: 'features/ch' });
      expect(prefixed.map((h) => h.ref.id)).toEqual(['features/checkout']);
    });

    it('numbers versions 1, 2, 3 without gaps and keeps history', async () => {
      const store = await fresh();
      const ref = parseRef('global/limits');
      for (let v = 1; v <= 3; v++) {
        const written = await appendNext(store, { ref, config: { v }, createdBy: actor });
        expect(written.version).toBe(v);
      }
      expect(await store.listVersions(ref)).toEqual([1, 2, 3]);
      expect((await store.getVersion(ref, 2))?.config).toEqual({ v: 2 });
      expect((await store.getHead(ref))?.version).toBe(3);
    });

    it('rejects an append whose expected head does not match, writing nothing', async () => {
      const store = await fresh();
      const ref = parseRef('global/cas');
      await store.append(doc(ref, 1));
      await expectCode(store.append(doc(ref, 1, { other: true })), 'VERSION_CONFLICT');
      await expectCode(store.append(doc(ref, 3)), 'VERSION_CONFLICT');
      await expectCode(
        appendNext(store, { ref, config: {}, createdBy: actor }, { expectedVersion: 0 }),
        'VERSION_CONFLICT',
      );
      expect(await store.listVersions(ref)).toEqual([1]);
      expect((await store.getVersion(ref, 1))?.config).toEqual({ n: 1 });
    });

    it('lets exactly one of 20 concurrent appenders with the same expected head win', async () => {
      const store = await fresh();
      const ref = parseRef('app:race/target');
      await store.append(doc(ref, 1));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.append(doc(ref, 2, { writer: i }))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(19);
      for (const r of lost) expect(isConfigError(r.reason, 'VERSION_CONFLICT')).toBe(true);
      expect(await store.listVersions(ref)).toEqual([1, 2]);
      const head = await store.getVersion(ref);
      expect(head?.config).toEqual((won[0] as PromiseFulfilledResult<ConfigVersion>).value.config);
    });

    it('verifies checksums: a forged document is refused', async () => {
      const store = await fresh();
      const good = doc('global/forged', 1);
      const forged = { ...good, config: { n: 999 } } as ConfigVersion;
      await expectCode(store.append(forged), 'CHECKSUM_MISMATCH');
      expect(await store.getHead(parseRef('global/forged'))).toBeUndefined();
    });

    if (options.tamper) {
      const tamper = options.tamper;
      it('detects content edited behind its back and never serves it', async () => {
        const store = await fresh();
        const ref = parseRef('global/tampered');
        await store.append(doc(ref, 1));
        await tamper(store, ref, 1);
        await expectCode(store.getVersion(ref, 1), 'CHECKSUM_MISMATCH');
      });
    }

    it('rejects malformed refs with INVALID_CONFIG_REF before touching the store', async () => {
      const store = await fresh();
      const bad = [
        { scope: 'global', id: '' },
        { scope: 'global', id: '../etc/passwd' },
        { scope: 'global', id: 'a//b' },
        { scope: 'global', id: 'a/./b' },
        { scope: 'global', id: "x'; DROP TABLE config_versions; --" },
        { scope: 'global', id: 'x'.repeat(257) },
        { scope: 'tenant:x', id: 'db' },
        { scope: 'app:', id: 'db' },
        { scope: 'app:bad name', id: 'db' },
        { scope: 'global', id: 'emoji/✓' },
      ];
      for (const ref of bad) {
        await expectCode(store.getHead(ref as ConfigRef), 'INVALID_CONFIG_REF');
        await expectCode(store.getVersion(ref as ConfigRef, 1), 'INVALID_CONFIG_REF');
        await expectCode(store.listVersions(ref as ConfigRef), 'INVALID_CONFIG_REF');
        const forged = { ...doc('global/ok', 1), ref } as unknown as ConfigVersion;
        await expectCode(store.append(forged), 'INVALID_CONFIG_REF');
      }
      expect(await store.listHeads()).toEqual([]);
    });

    it('rejects non-object and non-JSON documents with CONSTRAINT_VIOLATION, writing nothing', async () => {
      const store = await fresh();
      const base = doc('global/shape', 1);
      const bad: unknown[] = [
        { ...base, config: [1, 2] },
        { ...base, config: 'text' },
        { ...base, config: null },
        { ...base, config: { n: Number.NaN } },
        { ...base, config: { when: new Date() } },
        { ...base, overrides: { production: 5 } },
        { ...base, overrides: { 'bad env!': {} } },
        { ...base, version: 0 },
        { ...base, version: 1.5 },
      ];
      for (const d of bad) await expectCode(store.append(d as ConfigVersion), 'CONSTRAINT_VIOLATION');
      expect(() => createVersion({ ref: 'global/x', config: { f: (() => 1) as never }, createdBy: actor }, 1)).toThrow(
        expect.objectContaining({ code: 'CONSTRAINT_VIOLATION' }),
      );
      expect(await store.listHeads()).toEqual([]);
    });

    it('rejects documents over maxDocumentBytes with DOCUMENT_TOO_LARGE, writing nothing', async () => {
      const store = await fresh();
      const limit = options.maxDocumentBytes ?? 256 * 1024;
      const ref = parseRef('global/huge');
      expect(() =>
        createVersion({ ref, config: { blob: 'x'.repeat(limit) }, createdBy: actor }, 1, { maxDocumentBytes: limit }),
      ).toThrow(expect.objectContaining({ code: 'DOCUMENT_TOO_LARGE' }));
      // A document built under a larger limit is still refused by the store itself.
      const big = createVersion({ ref, config: { blob: 'x'.repeat(limit) }, createdBy: actor }, 1, {
        maxDocumentBytes: limit * 4,
      });
      await expectCode(store.append(big), 'DOCUMENT_TOO_LARGE');
      expect(await store.getHead(ref)).toBeUndefined();
    });

    it('stores injection strings in values and messages verbatim', async () => {
      const store = await fresh();
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the point
      const nasty = "'; DROP TABLE config_versions; -- $1 \\x00 ${x} <script>`rm -rf /`</script> \u2028";
      const d = createVersion(
        { ref: 'global/injection', config: { [nasty]: nasty, list: [nasty] }, createdBy: nasty, message: nasty },
        1,
      );
      await store.append(d);
      const read = await store.getVersion(parseRef('global/injection'), 1);
      expect(read).toEqual(d);
    });

    it('delivers head changes in order and stops after unwatch', async () => {
      const store = await fresh();
      const ref = parseRef('app:watch/feature');
      const w = collect(store);
      // Give push-based stores time to establish their watch before the first write.
      await new Promise((r) => setTimeout(r, 100));
      for (let v = 1; v <= 5; v++) {
        await store.append(doc(ref, v));
        await w.until((events) => events.some((e) => e.key === 'app:watch/feature' && e.version === v), watchTimeout);
      }
      const versions = w.events.filter((e) => e.key === 'app:watch/feature').map((e) => e.version);
      expect(versions).toEqual([1, 2, 3, 4, 5]);
      expect(w.events.every((e) => e.initial === false)).toBe(true);
      w.stop();
      w.stop(); // idempotent
      const before = w.events.length;
      await store.append(doc(ref, 6));
      await new Promise((r) => setTimeout(r, 300));
      expect(w.events.length).toBe(before);
    });

    it('emits each change once and in order per ref under a burst of writes', async () => {
      const store = await fresh();
      const refs = ['global/burst/a', 'global/burst/b', 'global/burst/c'].map((r) => parseRef(r));
      const w = collect(store, { scope: 'global' });
      await new Promise((r) => setTimeout(r, 100));
      for (let v = 1; v <= 10; v++) await Promise.all(refs.map((ref) => store.append(doc(ref, v))));
      await w.until(
        (events) => refs.every((ref) => events.some((e) => e.ref.id === ref.id && e.version === 10)),
        watchTimeout,
      );
      for (const ref of refs) {
        const seen = w.events.filter((e) => e.ref.id === ref.id).map((e) => e.version);
        // Strictly increasing: never a duplicate, never backwards. Coalescing is allowed.
        for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
        expect(seen.at(-1)).toBe(10);
      }
      w.stop();
    });

    it('filters by scope and emits the current heads first when asked', async () => {
      const store = await fresh();
      await store.append(doc('global/pre', 1));
      await store.append(doc('app:other/pre', 1));
      const w = collect(store, { scope: 'global', initial: true });
      await w.until((events) => events.some((e) => e.key === 'global/pre'), watchTimeout);
      expect(w.events[0]).toMatchObject({ key: 'global/pre', version: 1, initial: true });
      await store.append(doc('app:other/pre', 2));
      await store.append(doc('global/pre', 2));
      await w.until((events) => events.some((e) => e.key === 'global/pre' && e.version === 2), watchTimeout);
      expect(w.events.some((e) => e.ref.scope !== 'global')).toBe(false);
      w.stop();
    });

    it('stops a watch when its AbortSignal aborts', async () => {
      const store = await fresh();
      const controller = new AbortController();
      const w = collect(store, { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 100));
      await store.append(doc('global/abort', 1));
      await w.until((events) => events.length >= 1, watchTimeout);
      controller.abort();
      await store.append(doc('global/abort', 2));
      await new Promise((r) => setTimeout(r, 300));
      expect(w.events.map((e) => e.version)).toEqual([1]);
    });

    it('isolates a throwing listener from the others', async () => {
      const store = await fresh();
      const reported: unknown[] = [];
      const stopBad = store.watch(
        () => {
          throw new Error('listener bug');
        },
        { onError: (e) => reported.push(e) },
      );
      const good = collect(store);
      await new Promise((r) => setTimeout(r, 100));
      await store.append(doc('global/isolation', 1));
      await good.until((events) => events.length >= 1, watchTimeout);
      expect(reported.length).toBeGreaterThanOrEqual(1);
      stopBad();
      good.stop();
    });

    if (options.capabilities.bulkReads) {
      it('reads every head document of a scope in bulk, verified and sorted', async () => {
        const store = await fresh();
        await store.append(doc('app:bulk/b', 1));
        await store.append(doc('app:bulk/b', 2));
        await store.append(doc('app:bulk/a/x', 1));
        await store.append(doc('global/bulk', 1));
        const result = await store.getHeadDocuments?.({ scope: 'app:bulk' });
        expect(result?.docs.map((d) => `${d.ref.id}@${d.version}`)).toEqual(['a/x@1', 'b@2']);
        expect(result?.stale).toBe(false);
        expect(typeof result?.source).toBe('string');
        expect((await store.getHeadDocuments?.({ scope: 'app:empty' }))?.docs).toEqual([]);
        if (options.tamper) {
          await options.tamper(store, parseRef('app:bulk/b'), 2);
          await expectCode(store.getHeadDocuments?.({ scope: 'app:bulk' }) ?? Promise.resolve(), 'CHECKSUM_MISMATCH');
        }
      });
    }

    if (options.capabilities.appliedState) {
      it('records and lists applied-state acknowledgements', async () => {
        const store = await fresh();
        const ref = parseRef('app:billing/acks');
        const d = await store.append(doc(ref, 1));
        const at = new Date().toISOString();
        await store.ack?.({
          ref,
          environment: 'production',
          instance: 'i-1',
          version: 1,
          checksum: d.checksum,
          status: 'applied',
          at,
        });
        await store.ack?.({
          ref,
          environment: 'production',
          instance: 'i-2',
          version: 1,
          checksum: d.checksum,
          status: 'rejected',
          reason: 'schema',
          at,
        });
        const acks = (await store.listAcks?.(ref)) ?? [];
        expect(acks.map((a) => [a.instance, a.status]).sort()).toEqual([
          ['i-1', 'applied'],
          ['i-2', 'rejected'],
        ]);
      });
    }

    if (options.capabilities.appliedState) {
      it('records many acknowledgements at once (ackMany, where implemented)', async () => {
        const store = await fresh();
        if (!store.ackMany) return;
        const refs = Array.from({ length: 70 }, (_, i) => parseRef(`app:billing/many-${i}`));
        const docs = await Promise.all(refs.map((ref) => store.append(doc(ref, 1))));
        const at = new Date().toISOString();
        const ack = (i: number, status: 'applied' | 'rejected', instance = 'i-1') => ({
          ref: refs[i] as ConfigRef,
          environment: 'production',
          instance,
          version: 1,
          checksum: (docs[i] as ConfigVersion).checksum,
          status,
          ...(status === 'rejected' ? { reason: 'schema' } : {}),
          at,
        });
        await store.ackMany([]);
        // More than one Consul transaction's worth; the later acknowledgement of a key wins.
        await store.ackMany([
          ...refs.map((_, i) => ack(i, 'rejected')),
          ...refs.map((_, i) => ack(i, 'applied')),
          ack(3, 'rejected', 'i-2'),
        ]);
        for (const [i, ref] of refs.entries()) {
          const acks = (await store.listAcks?.(ref)) ?? [];
          expect(acks.map((a) => [a.instance, a.status, a.version]).sort()).toEqual(
            i === 3
              ? [
                  ['i-1', 'applied', 1],
                  ['i-2', 'rejected', 1],
                ]
              : [['i-1', 'applied', 1]],
          );
        }
        // A malformed batch records none of it.
        const bad = { ...ack(5, 'applied', 'i-9'), ref: { scope: 'nope', id: '' } as unknown as ConfigRef };
        await expect(store.ackMany([ack(4, 'applied', 'i-9'), bad])).rejects.toMatchObject({
          code: expect.stringMatching(/^(INVALID_CONFIG_REF|CONSTRAINT_VIOLATION)$/),
        });
        expect(((await store.listAcks?.(refs[4] as ConfigRef)) ?? []).map((a) => a.instance)).toEqual(['i-1']);
      });
    }

    it('is closed for good after close(): idempotent, later calls reject with CLOSED', async () => {
      const store = await fresh();
      await store.append(doc('global/closing', 1));
      const first = store.close();
      const second = store.close();
      await Promise.all([first, second]);
      await store.close();
      const ref = parseRef('global/closing');
      await expectCode(store.getHead(ref), 'CLOSED');
      await expectCode(store.getVersion(ref, 1), 'CLOSED');
      await expectCode(store.listHeads(), 'CLOSED');
      await expectCode(store.append(doc(ref, 2)), 'CLOSED');
      await expectCode(store.ping(), 'CLOSED');
      expect(() => store.watch(() => {})).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    });
  });
}
