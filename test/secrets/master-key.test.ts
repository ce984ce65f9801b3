/**
 * The local provider's master key, hardened (issue 16), on the real PostgreSQL and on PGlite: a key
 * file group or others may read or write is refused; a key check value (KCV) in the storage makes a
 * wrong key fail fast, before it reads or writes anything; a store from before the KCV adopts one.
 * Rows are counted behind the code's back before and after every refused operation.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPgliteClient } from '@summit-config/backends/pglite';
import type { SqlDatabase } from '@summit-config/core/internal';
import {
  createLocalProvider,
  createSqlSecretStorage,
  isSecretError,
  type SecretProvider,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { masterKey } from '@summit-config/test-support/builders';
import { adminPool, freshSchema, pglite, q, schemasToDrop } from '@summit-config/test-support/sql';
import { tempDirs } from '@summit-config/test-support/temp';
import { afterEach, describe, expect, it } from 'vitest';

const schemas = schemasToDrop();
const tempDir = tempDirs({ prefix: 'summit-master-key-', after: 'all' });
const KCV_MISMATCH = /the master key does not match the one this store was created with \(key check value mismatch\)/;

interface Backing {
  kind: 'postgres' | 'pglite';
  sql: SqlDatabase;
  schema: string;
}

async function backing(kind: 'postgres' | 'pglite'): Promise<Backing> {
  const schema = freshSchema('mkey');
  if (kind === 'postgres') {
    schemas.push(schema);
    return { kind, sql: sqlFromPgPool(adminPool()), schema };
  }
  return { kind, sql: createPgliteClient({ pglite: await pglite() }), schema };
}

const opened: SecretProvider[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.close()));
});

function provider(b: Backing, key: Parameters<typeof createLocalProvider>[0]): SecretProvider {
  const p = createLocalProvider({
    env: {},
    ...key,
    storage: createSqlSecretStorage({ sql: b.sql, kind: b.kind, schema: b.schema }),
  });
  opened.push(p);
  return p;
}

/** The key check values kept (behind the code's back). */
async function kcvs(b: Backing): Promise<string[]> {
  const r = await b.sql.query<{ value: string }>(`SELECT value FROM ${q(b.schema)}.summit_secret_meta ORDER BY key`);
  return r.rows.map((x) => x.value);
}

/** Every row of the three tables, as text (behind the code's back). */
async function rows(b: Backing): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['summit_secrets', 'summit_secret_versions', 'summit_secret_meta']) {
    const r = await b.sql.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${q(b.schema)}.${table} t`);
    out[table] = r.rows.map((x) => x.j).sort();
  }
  return out;
}

async function counts(b: Backing): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await rows(b)).map(([t, r]) => [t, r.length]));
}

async function rejection(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const outcome = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (outcome === undefined) throw new Error('expected a rejection');
  return outcome as Error & Record<string, unknown>;
}

function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected a throw');
}

async function keyFile(bytes: string, mode: number): Promise<string> {
  const file = join(await tempDir(), `master ${mode.toString(8)}.key`);
  await writeFile(file, bytes, { mode: 0o600 });
  await chmod(file, mode);
  return file;
}

describe.each(['postgres', 'pglite'] as const)('master key on %s', (kind) => {
  it.skipIf(process.platform === 'win32')(
    'a key file readable or writable by group or others is refused with the typed error; nothing is written',
    async () => {
      const b = await backing(kind);
      const key = masterKey();
      await provider(b, { key: key.base64 }).create('db', 'v1-value');
      const before = await rows(b);
      for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o666]) {
        const file = await keyFile(key.base64, mode);
        for (const options of [{ keyFile: file }, { env: { SUMMIT_MASTER_KEY_FILE: file } }]) {
          const e = thrown(() => provider(b, options));
          expect(isSecretError(e, 'key')).toBe(true);
          expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'key', provider: 'local' });
          const shown = `0${mode.toString(8)}`;
          expect(e.message).toContain(JSON.stringify(file));
          expect(e.message).toContain(`has mode ${shown}`);
          expect(e.message).toContain(`chmod 600 '${file}'`);
          expect(e.message).not.toContain(key.base64);
        }
      }
      expect(await rows(b)).toEqual(before);
    },
  );

  it.skipIf(process.platform === 'win32')('an owner-only key file (0600, 0400) works', async () => {
    const b = await backing(kind);
    const key = masterKey();
    await provider(b, { key: key.hex }).create('db', 'the-value');
    for (const mode of [0o600, 0o400]) {
      const file = await keyFile(`${key.base64}\n`, mode);
      expect((await provider(b, { keyFile: file }).read('db')).value).toBe('the-value');
      expect((await provider(b, { env: { SUMMIT_MASTER_KEY_FILE: file } }).read('db')).value).toBe('the-value');
    }
  });

  it('the first write records a key check value that reveals nothing of the key', async () => {
    const b = await backing(kind);
    const key = masterKey();
    const p = provider(b, { key: key.base64 });
    // A read-only operation on an empty store records nothing (nothing to check the key against).
    expect(await rejection(p.read('nothing'))).toMatchObject({ code: 'NOT_FOUND' });
    expect((await counts(b)).summit_secret_meta).toBe(0);
    await p.create('db', 'first');
    const meta = (await rows(b)).summit_secret_meta ?? [];
    expect(meta).toHaveLength(1);
    const row = JSON.parse(meta[0] as string) as { key: string; value: string };
    expect(row.key).toBe('local.master-key.kcv');
    expect(row.value).toMatch(/^hmac-sha256:[A-Za-z0-9+/]{43}=$/);
    for (const form of [key.base64, key.hex, key.bytes.toString('base64url')]) expect(row.value).not.toContain(form);
    // The same key again: accepted, nothing recorded twice.
    expect((await provider(b, { key: key.hex }).read('db')).value).toBe('first');
    expect((await counts(b)).summit_secret_meta).toBe(1);
  });

  it('a wrong key fails fast with the typed error on every operation and writes nothing', async () => {
    const b = await backing(kind);
    const right = provider(b, { key: masterKey().base64 });
    await right.create('db', 'right-value');
    const pending = (await right.write('db', 'right-pending')).version;
    const before = await rows(b);
    const wrong = provider(b, { key: masterKey().base64 });
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['create', () => wrong.create('new-secret', 'wrong-value')],
      ['write', () => wrong.write('db', 'wrong-value')],
      ['read', () => wrong.read('db')],
      ['listVersions', () => wrong.listVersions('db')],
      ['promote', () => wrong.promote('db', pending)],
      ['revoke', () => wrong.revoke?.('db', pending) ?? Promise.resolve()],
      ['destroy', () => wrong.destroy?.('db', pending) ?? Promise.resolve()],
    ];
    for (const [op, attempt] of attempts) {
      const e = await rejection(attempt());
      expect(isSecretError(e, 'key'), op).toBe(true);
      expect(e, op).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'key', provider: 'local' });
      expect(e.message, op).toMatch(KCV_MISMATCH);
    }
    expect(await rows(b)).toEqual(before);
    // The right key still works; the store is untouched.
    expect((await right.read('db')).value).toBe('right-value');
  });

  it('two keys racing to write first to an empty store: one wins, the other writes nothing', async () => {
    const b = await backing(kind);
    const keys = [masterKey(), masterKey(), masterKey()];
    const outcomes = await Promise.allSettled(
      keys.map((k, i) => provider(b, { key: k.base64 }).create(`s${i}`, `value-${i}`)),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as Error).message).toMatch(KCV_MISMATCH);
    }
    expect(await counts(b)).toEqual({ summit_secrets: 1, summit_secret_versions: 1, summit_secret_meta: 1 });
  });

  it('a store from before the key check value adopts one on the first successful decrypt', async () => {
    const b = await backing(kind);
    const key = masterKey();
    const first = provider(b, { key: key.base64 });
    await first.create('db', 'old-value');
    await first.create('api', 'api-value');
    const kcv = await kcvs(b);
    expect(kcv).toHaveLength(1);
    // Simulate a store from before the KCV.
    await b.sql.query(`DELETE FROM ${q(b.schema)}.summit_secret_meta`);
    const legacy = await rows(b);

    // A wrong key cannot adopt: it does not decrypt the oldest version; nothing is written.
    const wrong = provider(b, { key: masterKey().base64 });
    for (const attempt of [() => wrong.create('new', 'x'), () => wrong.write('db', 'x'), () => wrong.read('api')]) {
      const e = await rejection(attempt());
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'key' });
      expect(e.message).toMatch(KCV_MISMATCH);
      expect(e.message).toMatch(/no key check value yet/);
    }
    expect(await rows(b)).toEqual(legacy);

    // The right key adopts the same KCV on its first operation (a read here).
    const right = provider(b, { key: key.hex });
    expect((await right.read('api')).value).toBe('api-value');
    expect(await kcvs(b)).toEqual(kcv);
    expect(await rejection(provider(b, { key: masterKey().base64 }).read('db'))).toMatchObject({
      reason: 'key',
      message: expect.stringMatching(KCV_MISMATCH),
    });

    // A legacy store whose oldest version was destroyed: the next one still holding ciphertext decides.
    await b.sql.query(`DELETE FROM ${q(b.schema)}.summit_secret_meta`);
    const p2 = (await right.write('db', 'new-value')).version;
    await right.promote('db', p2);
    await right.destroy?.('db', '1');
    expect(
      (await b.sql.query(`SELECT state FROM ${q(b.schema)}.summit_secret_versions WHERE name = 'db' AND version = 1`))
        .rows,
    ).toEqual([{ state: 'destroyed' }]);
    const again = provider(b, { key: key.base64 });
    expect((await again.write('api', 'api-2')).version).toBe('2');
    expect(await kcvs(b)).toEqual(kcv);
  });
});
