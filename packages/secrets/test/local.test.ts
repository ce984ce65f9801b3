import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createPgliteClient } from '@summit-config/backends/pglite';
import {
  createLocalProvider,
  createMemorySecretStorage,
  createSqlSecretStorage,
  generateMasterKey,
  isSecretError,
  type LocalSecretStorage,
  parseMasterKey,
  type SecretProvider,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { masterKey } from '@summit-config/test-support/builders';
import { adminPool, freshSchema, type Pglite, pglite, q, schemasToDrop } from '@summit-config/test-support/sql';
import { tempDirs } from '@summit-config/test-support/temp';
import { beforeAll, describe, expect, it } from 'vitest';
import { everyTextOf, rejection, runProviderContract, secretName, secretText } from './provider-contract.js';

const key = masterKey();
const schemas = schemasToDrop();
const tempDir = tempDirs({ prefix: 'summit-secrets-', after: 'all' });
const pool = adminPool();
let lite: Pglite;

beforeAll(async () => {
  lite = await pglite();
});

function pgStorage(schema = freshSchema('sec')): LocalSecretStorage {
  schemas.push(schema);
  return createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema });
}

runProviderContract('local (memory storage)', {
  kind: 'local',
  create: () => createLocalProvider({ key: key.base64 }),
  capabilities: { disable: true, destroy: true, labels: true, atomicPromote: true, durable: false },
});

runProviderContract('local (PGlite storage)', {
  kind: 'local',
  create: () =>
    createLocalProvider({
      key: key.hex,
      storage: createSqlSecretStorage({
        sql: createPgliteClient({ pglite: lite }),
        kind: 'pglite',
        schema: freshSchema('lite'),
      }),
    }),
  capabilities: { disable: true, destroy: true, labels: true, atomicPromote: true, durable: true },
});

runProviderContract('local (PostgreSQL storage)', {
  kind: 'local',
  create: () => createLocalProvider({ key: key.bytes, storage: pgStorage() }),
  capabilities: { disable: true, destroy: true, labels: true, atomicPromote: true, durable: true },
});

describe('local provider: master key', () => {
  it('a missing key is a SECRET_PROVIDER error of reason key, at construction', () => {
    let error: unknown;
    try {
      createLocalProvider({ env: {} });
    } catch (e) {
      error = e;
    }
    expect(isSecretError(error, 'key')).toBe(true);
    expect(error).toMatchObject({ code: 'SECRET_PROVIDER', provider: 'local' });
    expect((error as Error).message).toMatch(/SUMMIT_MASTER_KEY/);
  });

  it.each([
    ['too short base64', Buffer.alloc(16, 7).toString('base64'), /decodes to 16 bytes/],
    ['too long hex', 'ab'.repeat(33), /has 66 hex digits/],
    ['not base64 or hex', 'this is not a key!', /neither base64 nor hex/],
    ['empty', '   ', /is empty/],
  ])('a malformed key (%s) is refused without echoing it', (_label, bad, pattern) => {
    let error: unknown;
    try {
      createLocalProvider({ env: { SUMMIT_MASTER_KEY: bad } });
    } catch (e) {
      error = e;
    }
    expect(isSecretError(error, 'key')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).toMatch(/SUMMIT_MASTER_KEY/);
    if (bad.trim().length > 0) expect(everyTextOf(error)).not.toContain(bad);
  });

  it('reads the key from SUMMIT_MASTER_KEY (base64 or hex), a key file (text or raw) or SUMMIT_MASTER_KEY_FILE', async () => {
    const storage = createMemorySecretStorage();
    const secret = secretName();
    const value = secretText();
    await createLocalProvider({ env: { SUMMIT_MASTER_KEY: key.base64 }, storage }).create(secret, value);
    const dir = await tempDir();
    const textFile = join(dir, 'key.txt');
    const rawFile = join(dir, 'key.bin');
    await writeFile(textFile, `${key.hex}\n`, { mode: 0o600 });
    await writeFile(rawFile, key.bytes, { mode: 0o600 });
    const readers = [
      createLocalProvider({ env: { SUMMIT_MASTER_KEY: key.hex }, storage }),
      createLocalProvider({ keyFile: textFile, env: {}, storage }),
      createLocalProvider({ keyFile: rawFile, env: {}, storage }),
      createLocalProvider({ env: { SUMMIT_MASTER_KEY_FILE: rawFile }, storage }),
      createLocalProvider({ key: key.base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), storage }),
    ];
    for (const reader of readers) expect((await reader.read(secret)).value).toBe(value);
  });

  it('an unreadable key file and conflicting options are named', async () => {
    const missing = join(await tempDir(), 'nope.key');
    expect(() => createLocalProvider({ keyFile: missing, env: {} })).toThrow(
      /cannot read the master key file .*ENOENT/,
    );
    expect(() => createLocalProvider({ key: key.base64, keyFile: missing })).toThrow(/keyFile/);
    expect(() => createLocalProvider({ key: key.base64, maxValueBytes: 0 })).toThrow(/maxValueBytes/);
    expect(() => createLocalProvider({ key: key.base64, name: 'Bad Name' })).toThrow(/option name/);
    expect(() => createLocalProvider({ key: key.base64, storage: {} as LocalSecretStorage })).toThrow(/storage/);
  });

  it('generateMasterKey gives a key parseMasterKey accepts', () => {
    const text = generateMasterKey();
    expect(parseMasterKey(text, 'test')).toHaveLength(32);
    expect(generateMasterKey()).not.toBe(text);
  });

  it('a wrong key fails fast on the key check value: it reads nothing and creates nothing', async () => {
    const storage = createMemorySecretStorage();
    const secret = secretName();
    const value = secretText();
    const right = createLocalProvider({ key: key.base64, storage });
    await right.create(secret, value);
    const wrong = createLocalProvider({ key: masterKey().base64, storage });
    const e = await rejection(wrong.read(secret));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'key', provider: 'local', secret });
    expect(e.message).toMatch(/does not match the one this store was created with \(key check value mismatch\)/);
    expect(everyTextOf(e)).not.toContain(value);
    expect(await rejection(wrong.listVersions(secret))).toMatchObject({ reason: 'key' });
    const other = secretName('other');
    expect(await rejection(wrong.create(other, secretText()))).toMatchObject({ reason: 'key', secret: other });
    expect(await storage.list(other)).toBeUndefined();
    expect(await rejection(wrong.write(secret, secretText()))).toMatchObject({ reason: 'key' });
    expect(await storage.list(secret)).toHaveLength(1);
    expect((await right.read(secret)).value).toBe(value);
  });

  it('a version that does not decrypt under the right key fails authentication; it never returns garbage', async () => {
    const storage = createMemorySecretStorage();
    const secret = secretName();
    const value = secretText();
    const provider = createLocalProvider({ key: key.base64, storage });
    await provider.create(secret, value);
    // A version that the key does not open, written behind the provider's back.
    await storage.change(secret, (snap) => ({
      insert: {
        stage: 'pending',
        sealed: { iv: Buffer.alloc(12), tag: Buffer.alloc(16), ciphertext: Buffer.from('x') },
        labels: {},
      },
      result: snap.nextVersion,
    }));
    const e = await rejection(provider.read(secret, 'pending'));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'key', provider: 'local', secret, secretVersion: '2' });
    expect(e.message).toMatch(/authentication failed/);
    expect((await provider.read(secret)).value).toBe(value);
  });

  it.skipIf(process.platform === 'win32')(
    'a key file group or others may read or write is refused, naming the file, its mode and the fix',
    async () => {
      const dir = await tempDir();
      const loose = join(dir, 'loose.key');
      await writeFile(loose, key.base64, { mode: 0o600 });
      await chmod(loose, 0o644);
      for (const options of [{ keyFile: loose, env: {} }, { env: { SUMMIT_MASTER_KEY_FILE: loose } }]) {
        let error: unknown;
        try {
          createLocalProvider(options);
        } catch (e) {
          error = e;
        }
        expect(isSecretError(error, 'key')).toBe(true);
        expect(error).toMatchObject({ code: 'SECRET_PROVIDER', provider: 'local' });
        expect((error as Error).message).toBe(
          `provider "local": the master key file ${JSON.stringify(loose)} has mode 0644: it is readable or writable by group or others; restrict it to its owner with \`chmod 600 ${loose}\``,
        );
      }
      await chmod(loose, 0o600);
      expect(() => createLocalProvider({ keyFile: loose, env: {} })).not.toThrow();
    },
  );
});

describe('local provider: PostgreSQL storage', () => {
  it('stores only ciphertext: no column of either table holds the value', async () => {
    const schema = freshSchema('plain');
    const provider = createLocalProvider({ key: key.base64, storage: pgStorage(schema) });
    const secret = secretName();
    const value = secretText('plain');
    const json = JSON.stringify({ password: value });
    await provider.create(secret, value, { labels: { owner: 'ops' } });
    const v2 = (await provider.write(secret, json)).version;
    await provider.promote(secret, v2);
    for (const table of ['summit_secrets', 'summit_secret_versions']) {
      const { rows } = await pool.query(`SELECT t::text AS row FROM ${q(schema)}.${table} t`);
      expect(rows.length).toBeGreaterThan(0);
      for (const { row } of rows as Array<{ row: string }>) {
        expect(row).not.toContain(value);
        expect(row).not.toContain(Buffer.from(value).toString('hex'));
        expect(row).not.toContain(Buffer.from(value).toString('base64'));
      }
    }
    const { rows: columns } = await pool.query(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'summit_secret_versions'
       ORDER BY column_name`,
      [schema],
    );
    expect((columns as Array<{ column_name: string }>).map((c) => c.column_name)).toEqual([
      'ciphertext',
      'created_at',
      'iv',
      'labels',
      'name',
      'stage',
      'state',
      'tag',
      'updated_at',
      'version',
    ]);
    await provider.close();
  });

  it('an edited ciphertext, or a row moved to another secret, fails authentication', async () => {
    const schema = freshSchema('tamper');
    const provider = createLocalProvider({ key: key.base64, storage: pgStorage(schema) });
    const a = secretName('a');
    const b = secretName('b');
    await provider.create(a, secretText('a'));
    await provider.create(b, secretText('b'));
    const table = `${q(schema)}.summit_secret_versions`;
    // Same key, same version number, other secret: the additional data (name, version) differs.
    await pool.query(
      `UPDATE ${table} SET ciphertext = src.ciphertext, iv = src.iv, tag = src.tag
       FROM ${table} src WHERE src.name = $1 AND src.version = 1 AND ${table}.name = $2 AND ${table}.version = 1`,
      [a, b],
    );
    expect(await rejection(provider.read(b))).toMatchObject({ reason: 'key', secret: b });
    await pool.query(
      `UPDATE ${table} SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1) WHERE name = $1`,
      [a],
    );
    expect(await rejection(provider.read(a))).toMatchObject({ reason: 'key', secret: a });
    await provider.close();
  });

  it('versions survive a new provider on the same schema', async () => {
    const schema = freshSchema('durable');
    const secret = secretName();
    const value = secretText();
    const first = createLocalProvider({ key: key.base64, storage: pgStorage(schema) });
    await first.create(secret, value);
    const pending = (await first.write(secret, secretText('p'))).version;
    await first.close();
    const second = createLocalProvider({
      key: key.base64,
      storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema }),
    });
    expect((await second.read(secret)).value).toBe(value);
    expect((await second.read(secret, 'pending')).version).toBe(pending);
    await second.close();
  });

  it('concurrent writes leave exactly one pending version; concurrent creates one winner', async () => {
    const schema = freshSchema('race');
    const providers: SecretProvider[] = [0, 1, 2].map(() =>
      createLocalProvider({ key: key.base64, storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema }) }),
    );
    schemas.push(schema);
    const secret = secretName();
    const creates = await Promise.allSettled(providers.map((p) => p.create(secret, secretText())));
    expect(creates.filter((c) => c.status === 'fulfilled')).toHaveLength(1);
    for (const c of creates) {
      if (c.status === 'rejected') expect(c.reason).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'exists' });
    }
    const writes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (providers[i % 3] as SecretProvider).write(secret, secretText(`w${i}`))),
    );
    expect(new Set(writes.map((w) => w.version)).size).toBe(12);
    const list = await (providers[0] as SecretProvider).listVersions(secret);
    expect(list).toHaveLength(13);
    expect(list.filter((v) => v.stage === 'pending')).toHaveLength(1);
    expect(list.filter((v) => v.stage === 'current')).toHaveLength(1);
    expect(list.filter((v) => v.state === 'disabled')).toHaveLength(11);
    await Promise.all(providers.map((p) => p.close()));
  });

  it('an unreachable database is reason unavailable, naming the secret', async () => {
    const deadPool = {
      async query() {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      },
      async connect() {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
      },
    };
    const provider = createLocalProvider({
      key: key.base64,
      storage: createSqlSecretStorage({ sql: sqlFromPgPool(deadPool) }),
    });
    const secret = secretName();
    const e = await rejection(provider.create(secret, secretText()));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'unavailable', provider: 'local', secret });
    expect((e.cause as Error).message).toMatch(/ECONNREFUSED/);
    expect(await rejection(provider.read(secret))).toMatchObject({ reason: 'unavailable' });
  });

  it('an instance name is used in every error, storage errors included', async () => {
    const provider = createLocalProvider({ key: key.base64, name: 'vault-b', storage: pgStorage() });
    const secret = secretName();
    expect(await rejection(provider.read(secret))).toMatchObject({ provider: 'vault-b', code: 'NOT_FOUND' });
    await provider.create(secret, secretText());
    expect(await rejection(provider.create(secret, secretText()))).toMatchObject({
      provider: 'vault-b',
      reason: 'exists',
    });
    await provider.close();
  });

  it('refuses a bad schema option by name', () => {
    expect(() => createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema: '' })).toThrow(/option schema/);
    expect(() => createSqlSecretStorage({ sql: {} as never })).toThrow(/option sql/);
  });
});
