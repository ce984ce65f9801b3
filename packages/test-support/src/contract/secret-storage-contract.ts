/**
 * The secret storage contract suite (core's `LocalSecretStorage`: where the local provider keeps
 * encrypted versions). Every implementation runs it with one call:
 *
 *   runSecretStorageContract('postgres', { kind: 'postgres', durable: true, create: () => createSqlSecretStorage({ ... }) });
 *
 * `create` must return a fresh, empty storage (or one on a fresh schema) each time; the suite closes
 * what it created after each test. The storage only ever sees ciphertext: the suite hands it bytes.
 */
import { randomBytes } from 'node:crypto';
import type { LocalSecretStorage, SealedValue, SecretSnapshot, StoragePlan } from '@summit-config/core/internal';
import { isSecretError, SecretError } from '@summit-config/secrets';
import { describe, expect, it } from 'vitest';
import { opened } from './opened.js';

export interface SecretStorageContractOptions {
  /** A fresh, empty storage. */
  create: () => Promise<LocalSecretStorage> | LocalSecretStorage;
  /** What the storage must declare: `kind` and `durable`. */
  kind: string;
  durable: boolean;
}

function sealed(): SealedValue {
  return { iv: randomBytes(12), tag: randomBytes(16), ciphertext: randomBytes(24) };
}

const bytes = (s: SealedValue | null | undefined) =>
  s && { iv: Buffer.from(s.iv), tag: Buffer.from(s.tag), ciphertext: Buffer.from(s.ciphertext) };

/** A plan that creates the secret when it does not exist, with a `current` first version. */
function createPlan(value: SealedValue, labels: Record<string, string> = {}) {
  return (snapshot: SecretSnapshot): StoragePlan<string> =>
    snapshot.exists
      ? { result: 'exists' }
      : { create: true, insert: { stage: 'current', sealed: value, labels }, result: 'created' };
}

export function runSecretStorageContract(name: string, options: SecretStorageContractOptions): void {
  describe(`secret storage contract: ${name}`, () => {
    const fresh = opened<LocalSecretStorage>(options.create);

    it('declares its kind and durability; an unknown secret is absent, not an error', async () => {
      const storage = await fresh();
      expect(storage.kind).toBe(options.kind);
      expect(storage.durable).toBe(options.durable);
      expect(await storage.list('nothing')).toBeUndefined();
      expect(await storage.get('nothing', { version: 1 })).toEqual({ secretExists: false, row: undefined });
      expect(await storage.get('nothing', { stage: 'current' })).toEqual({ secretExists: false, row: undefined });
      const seen: SecretSnapshot[] = [];
      expect(
        await storage.change('nothing', (s) => {
          seen.push(s);
          return { result: 42 };
        }),
      ).toBe(42);
      expect(seen).toEqual([{ exists: false, versions: [], nextVersion: 1 }]);
      expect(await storage.list('nothing')).toBeUndefined();
    });

    it('creates a secret with its first version and reads it back by version and by stage', async () => {
      const storage = await fresh();
      const v1 = sealed();
      expect(await storage.change('db/password', createPlan(v1, { team: 'billing' }))).toBe('created');
      const [meta] = (await storage.list('db/password')) ?? [];
      expect(meta).toMatchObject({ version: 1, stage: 'current', state: 'enabled', labels: { team: 'billing' } });
      expect(meta?.createdAt).toBeInstanceOf(Date);
      expect(meta?.updatedAt).toBeInstanceOf(Date);
      const byVersion = await storage.get('db/password', { version: 1 });
      expect(byVersion.secretExists).toBe(true);
      expect(bytes(byVersion.row?.sealed)).toEqual(bytes(v1));
      const byStage = await storage.get('db/password', { stage: 'current' });
      expect(byStage.row?.version).toBe(1);
      expect(await storage.get('db/password', { version: 2 })).toEqual({ secretExists: true, row: undefined });
      expect(await storage.get('db/password', { stage: 'pending' })).toEqual({ secretExists: true, row: undefined });
      expect(await storage.change('db/password', createPlan(sealed()))).toBe('exists');
    });

    it('moves stages in any order, numbers versions, and wipes a destroyed version', async () => {
      const storage = await fresh();
      await storage.change('s', createPlan(sealed()));
      const v2 = sealed();
      await storage.change('s', (snap) => {
        expect(snap).toMatchObject({ exists: true, nextVersion: 2 });
        return { insert: { stage: 'pending', sealed: v2, labels: {} }, result: undefined };
      });
      // Promote: the new current first, then the old one to previous (the storage finds the order).
      await storage.change('s', () => ({
        updates: [
          { version: 2, stage: 'current', state: 'enabled' },
          { version: 1, stage: 'previous', state: 'enabled' },
        ],
        result: undefined,
      }));
      expect(((await storage.list('s')) ?? []).map((v) => [v.version, v.stage, v.state])).toEqual([
        [1, 'previous', 'enabled'],
        [2, 'current', 'enabled'],
      ]);
      expect(bytes((await storage.get('s', { stage: 'current' })).row?.sealed)).toEqual(bytes(v2));
      await storage.change('s', () => ({
        updates: [{ version: 1, stage: null, state: 'destroyed', wipe: true }],
        result: undefined,
      }));
      const destroyed = await storage.get('s', { version: 1 });
      expect(destroyed.row).toMatchObject({ version: 1, stage: null, state: 'destroyed', sealed: null });
      const snapshots: SecretSnapshot[] = [];
      await storage.change('s', (snap) => {
        snapshots.push(snap);
        return { result: undefined };
      });
      expect(snapshots[0]?.nextVersion).toBe(3);
      expect(snapshots[0]?.versions.map((v) => v.version)).toEqual([1, 2]);
    });

    it('a plan that throws, or leaves two versions in one stage, changes nothing', async () => {
      const storage = await fresh();
      await storage.change('s', createPlan(sealed()));
      const refused = new SecretError('SECRET_PROVIDER', 'invalid', 'plan refused', { provider: 'local' });
      const thrown = await storage
        .change('s', () => {
          throw refused;
        })
        .catch((e: unknown) => e);
      expect(thrown).toBe(refused);
      const twoCurrent = storage.change('s', () => ({
        insert: { stage: 'current', sealed: sealed(), labels: {} },
        result: undefined,
      }));
      await expect(twoCurrent).rejects.toThrow(/two versions with stage current/);
      expect(((await storage.list('s')) ?? []).map((v) => [v.version, v.stage])).toEqual([[1, 'current']]);
    });

    it('concurrent creates of one secret: exactly one wins', async () => {
      const storage = await fresh();
      const outcomes = await Promise.all(
        Array.from({ length: 4 }, () =>
          storage.change('race', createPlan(sealed())).then(
            (result) => result,
            (error: unknown) => (isSecretError(error, 'exists') ? 'rejected: exists' : error),
          ),
        ),
      );
      expect(outcomes.filter((o) => o === 'created')).toHaveLength(1);
      for (const o of outcomes) expect(['created', 'exists', 'rejected: exists']).toContain(o);
      expect(((await storage.list('race')) ?? []).map((v) => v.version)).toEqual([1]);
    });

    it('meta values: absent until set, the first writer wins, concurrent writers included', async () => {
      const storage = await fresh();
      expect(await storage.getMeta('kcv')).toBeUndefined();
      expect(await storage.putMeta('kcv', 'first')).toBe('first');
      expect(await storage.putMeta('kcv', 'second')).toBe('first');
      expect(await storage.getMeta('kcv')).toBe('first');
      expect(await storage.getMeta('other')).toBeUndefined();
      const kept = await Promise.all(['a', 'b', 'c', 'd'].map((v) => storage.putMeta('race', v)));
      expect(new Set(kept).size).toBe(1);
      expect(await storage.getMeta('race')).toBe(kept[0]);
      // Meta values are not secrets: no secret appears.
      expect(await storage.list('kcv')).toBeUndefined();
    });

    it('firstSealed: none in an empty storage; the oldest version still holding ciphertext', async () => {
      const storage = await fresh();
      expect(await storage.firstSealed()).toBeUndefined();
      const v1 = sealed();
      await storage.change('one', createPlan(v1));
      await new Promise((r) => setTimeout(r, 5));
      await storage.change('two', createPlan(sealed()));
      const first = await storage.firstSealed();
      expect(first?.name).toBe('one');
      expect(first?.row).toMatchObject({ version: 1, stage: 'current', state: 'enabled' });
      expect(bytes(first?.row.sealed)).toEqual(bytes(v1));
      // A destroyed version holds no ciphertext: the next one is the oldest.
      await new Promise((r) => setTimeout(r, 5));
      await storage.change('one', (snap) => ({
        insert: { stage: 'pending', sealed: sealed(), labels: {} },
        result: snap.nextVersion,
      }));
      await storage.change('one', () => ({
        updates: [{ version: 1, stage: null, state: 'destroyed', wipe: true }],
        result: undefined,
      }));
      expect((await storage.firstSealed())?.name).toBe('two');
    });

    it('close is idempotent', async () => {
      const storage = await fresh();
      await storage.close();
      await storage.close();
    });
  });
}
