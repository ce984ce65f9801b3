import { inspect } from 'node:util';
import { isConfigError } from '@summit-config/core';
import {
  createLocalProvider,
  findSecretRefs,
  formatSecretRef,
  isSecretError,
  resolveSecretRefs,
  type SecretProvider,
  SecretResolver,
  secretRef,
  secretRefIssues,
  validateSecretRef,
} from '@summit-config/secrets';
import { masterKey } from '@summit-config/test-support/builders';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { everyTextOf, rejection, secretName, secretText } from './provider-contract.js';

const ref = (inner: Record<string, unknown>) => ({ $secret: inner });

describe('secret references: find and validate', () => {
  it('finds every reference with its JSON pointer, in document order', () => {
    const doc = {
      db: { host: 'db', password: ref({ provider: 'aws', name: 'prod/db', field: 'password' }) },
      'a/b~c': ref({ provider: 'local', name: 'x', version: 'previous' }),
      list: [
        1,
        ref({ provider: 'gcp', name: 'api-key', version: '7' }),
        { nested: [ref({ provider: 'azure', name: 'k' })] },
      ],
      plain: { $other: 1, text: '$secret' },
    };
    expect(findSecretRefs(doc)).toEqual([
      { pointer: '/db/password', ref: { provider: 'aws', name: 'prod/db', field: 'password' } },
      { pointer: '/a~1b~0c', ref: { provider: 'local', name: 'x', version: 'previous' } },
      { pointer: '/list/1', ref: { provider: 'gcp', name: 'api-key', version: '7' } },
      { pointer: '/list/2/nested/0', ref: { provider: 'azure', name: 'k' } },
    ]);
    expect(findSecretRefs({ a: 1, b: [true, null, 'x'] })).toEqual([]);
    expect(findSecretRefs(ref({ provider: 'aws', name: 'root' }))).toEqual([
      { pointer: '', ref: { provider: 'aws', name: 'root' } },
    ]);
  });

  it.each([
    ['extra member next to $secret', { $secret: { provider: 'aws', name: 'x' }, other: 1 }, ''],
    ['$secret not an object', { $secret: 'aws:x' }, '/$secret'],
    ['missing provider', ref({ name: 'x' }), '/$secret/provider'],
    ['bad provider name', ref({ provider: 'AWS!', name: 'x' }), '/$secret/provider'],
    ['missing name', ref({ provider: 'aws' }), '/$secret/name'],
    ['empty name', ref({ provider: 'aws', name: '' }), '/$secret/name'],
    ['control character in name', ref({ provider: 'aws', name: 'a\nb' }), '/$secret/name'],
    ['field not a string', ref({ provider: 'aws', name: 'x', field: 3 }), '/$secret/field'],
    ['version pending', ref({ provider: 'aws', name: 'x', version: 'pending' }), '/$secret/version'],
    ['version with a space', ref({ provider: 'aws', name: 'x', version: 'a b' }), '/$secret/version'],
    ['unknown member', ref({ provider: 'aws', name: 'x', stage: 'current' }), '/$secret/stage'],
  ])('rejects a reference with %s (SCHEMA_VALIDATION with a pointer)', (_label, bad, subPointer) => {
    const doc = { app: { key: bad } };
    let error: unknown;
    try {
      findSecretRefs(doc);
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error, 'SCHEMA_VALIDATION')).toBe(true);
    const issues = (error as { issues: Array<{ pointer: string; keyword: string }> }).issues;
    expect(issues.map((i) => i.pointer)).toContain(`/app/key${subPointer}`);
    expect(issues.every((i) => i.keyword === 'secretRef')).toBe(true);
    expect(secretRefIssues(doc).map((i) => i.pointer)).toContain(`/app/key${subPointer}`);
    expect(() => validateSecretRef(bad, '/app/key')).toThrow(/invalid secret reference/);
  });

  it('lists every problem of a document at once', () => {
    const issues = secretRefIssues({ a: ref({ provider: 'aws' }), b: [ref({ name: 'x', provider: 1 })] });
    expect(issues.map((i) => i.pointer).sort()).toEqual(['/a/$secret/name', '/b/0/$secret/provider']);
  });

  it('validateSecretRef returns the reference; secretRef builds one; formatSecretRef names it', () => {
    expect(validateSecretRef(ref({ provider: 'aws', name: 'n', field: 'f', version: 'current' }))).toEqual({
      provider: 'aws',
      name: 'n',
      field: 'f',
      version: 'current',
    });
    expect(() => validateSecretRef({ provider: 'aws', name: 'n' })).toThrow(/not a secret reference/);
    expect(secretRef({ provider: 'gcp', name: 'k', version: '3' })).toEqual({
      $secret: { provider: 'gcp', name: 'k', version: '3' },
    });
    expect(() => secretRef({ provider: 'gcp', name: '' })).toThrow(/invalid secret reference/);
    expect(formatSecretRef({ provider: 'aws', name: 'prod/db', field: 'password' })).toBe(
      'aws:prod/db#password@current',
    );
  });
});

describe('secret references: resolve', () => {
  let provider: SecretProvider;
  let resolver: SecretResolver;
  let clock: number;
  let reads: number;

  beforeEach(() => {
    const inner = createLocalProvider({ key: masterKey().base64 });
    reads = 0;
    // Counts provider reads, to check the cache without timing.
    provider = Object.assign(Object.create(inner) as SecretProvider, {
      read: (...args: Parameters<SecretProvider['read']>) => {
        reads++;
        return inner.read(...args);
      },
    });
    clock = 1_000_000;
    resolver = new SecretResolver({ providers: [provider], ttlMs: 60_000, now: () => clock });
  });
  afterEach(async () => {
    await resolver.close();
    await provider.close();
  });

  it('returns a resolved copy and leaves the input untouched', async () => {
    const name = secretName();
    const password = secretText('pw');
    await provider.create(name, JSON.stringify({ user: 'app', password, port: 5432, tls: { ca: 'x' } }));
    const token = secretName('tok');
    const tokenValue = secretText('tok');
    await provider.create(token, tokenValue);
    const doc = {
      db: {
        user: ref({ provider: 'local', name, field: 'user' }),
        password: ref({ provider: 'local', name, field: 'password' }),
        port: ref({ provider: 'local', name, field: 'port' }),
        tls: ref({ provider: 'local', name, field: 'tls' }),
      },
      tokens: [ref({ provider: 'local', name: token })],
      other: 'plain',
    };
    const before = structuredClone(doc);
    const out = await resolveSecretRefs(doc, resolver);
    expect(out).toEqual({
      db: { user: 'app', password, port: 5432, tls: { ca: 'x' } },
      tokens: [tokenValue],
      other: 'plain',
    });
    expect(doc).toEqual(before);
    expect(out).not.toBe(doc);
    expect(await resolver.resolveRefs({ a: 1 })).toEqual({ a: 1 });
    // One provider read per secret: the four fields share one cached version.
    expect(reads).toBe(2);
  });

  it('resolves previous and a version id', async () => {
    const name = secretName();
    const v1 = secretText('v1');
    const v2 = secretText('v2');
    const first = await provider.create(name, v1);
    const second = await provider.write(name, v2);
    await provider.promote(name, second.version);
    const out = await resolver.resolveRefs({
      now: ref({ provider: 'local', name }),
      before: ref({ provider: 'local', name, version: 'previous' }),
      pinned: ref({ provider: 'local', name, version: first.version }),
    });
    expect(out).toEqual({ now: v2, before: v1, pinned: v1 });
    const detail = await resolver.resolve({ provider: 'local', name, version: 'previous' });
    expect(detail.version).toBe(first.version);
    expect(detail.cached).toBe(true);
  });

  it('serves from the cache within ttlMs, reads again after it', async () => {
    const name = secretName();
    await provider.create(name, secretText());
    const r = { provider: 'local', name };
    expect((await resolver.resolve(r)).cached).toBe(false);
    expect((await resolver.resolve(r)).cached).toBe(true);
    clock += 59_999;
    expect((await resolver.resolve(r)).cached).toBe(true);
    clock += 1;
    expect((await resolver.resolve(r)).cached).toBe(false);
    expect(reads).toBe(2);
    expect(resolver.stats).toEqual({ hits: 2, misses: 2, entries: 1 });
  });

  it('concurrent resolves of one secret share one read', async () => {
    const name = secretName();
    await provider.create(name, secretText());
    const results = await Promise.all(Array.from({ length: 10 }, () => resolver.resolve({ provider: 'local', name })));
    expect(reads).toBe(1);
    expect(new Set(results.map((r) => r.version)).size).toBe(1);
  });

  it('invalidate(provider, name) makes the next resolve see a rotation', async () => {
    const name = secretName();
    const other = secretName();
    await provider.create(name, secretText('old'));
    await provider.create(other, secretText('other'));
    await resolver.resolve({ provider: 'local', name });
    await resolver.resolve({ provider: 'local', name, version: 'current' });
    await resolver.resolve({ provider: 'local', name: other });
    const next = secretText('new');
    const v2 = (await provider.write(name, next)).version;
    await provider.promote(name, v2);
    // Still the cached (old) value until invalidated:
    expect((await resolver.resolve({ provider: 'local', name })).version).not.toBe(v2);
    expect(resolver.invalidate('local', name)).toBe(1);
    const fresh = await resolver.resolve({ provider: 'local', name });
    expect(fresh.value).toBe(next);
    expect(fresh.version).toBe(v2);
    expect((await resolver.resolve({ provider: 'local', name: other })).cached).toBe(true);
    expect(resolver.invalidate('local')).toBe(2);
    expect(resolver.stats.entries).toBe(0);
  });

  it('a read under way when invalidate is called does not fill the cache', async () => {
    const name = secretName();
    await provider.create(name, secretText());
    const pending = resolver.resolve({ provider: 'local', name });
    resolver.invalidate('local', name);
    await pending;
    expect(resolver.stats.entries).toBe(0);
    expect((await resolver.resolve({ provider: 'local', name })).cached).toBe(false);
  });

  it('ttlMs 0 disables the cache; maxEntries evicts the least recently used', async () => {
    const names = [secretName(), secretName(), secretName()];
    for (const n of names) await provider.create(n, secretText());
    const uncached = new SecretResolver({ providers: { local: provider }, ttlMs: 0 });
    await uncached.resolve({ provider: 'local', name: names[0] as string });
    expect((await uncached.resolve({ provider: 'local', name: names[0] as string })).cached).toBe(false);
    expect(uncached.stats.entries).toBe(0);
    const small = new SecretResolver({ providers: [provider], maxEntries: 2, now: () => clock });
    await small.resolve({ provider: 'local', name: names[0] as string });
    await small.resolve({ provider: 'local', name: names[1] as string });
    await small.resolve({ provider: 'local', name: names[0] as string });
    await small.resolve({ provider: 'local', name: names[2] as string });
    expect(small.stats.entries).toBe(2);
    expect((await small.resolve({ provider: 'local', name: names[0] as string })).cached).toBe(true);
    expect((await small.resolve({ provider: 'local', name: names[1] as string })).cached).toBe(false);
    await uncached.close();
    await small.close();
  });

  it('errors name the provider, the secret and the pointer, never the value', async () => {
    const name = secretName();
    const value = secretText('notjson');
    await provider.create(name, value);
    const jsonName = secretName();
    const jsonValue = JSON.stringify({ password: secretText('pw') });
    await provider.create(jsonName, jsonValue);
    const cases: Array<[Record<string, unknown>, Record<string, unknown>]> = [
      [{ x: ref({ provider: 'local', name, field: 'password' }) }, { reason: 'invalid', pointer: '/x', secret: name }],
      [{ x: [ref({ provider: 'local', name: jsonName, field: 'missing' })] }, { reason: 'invalid', pointer: '/x/0' }],
      [{ y: ref({ provider: 'nope', name }) }, { reason: 'unknown-provider', provider: 'nope', pointer: '/y' }],
      [
        { z: ref({ provider: 'local', name: secretName('gone') }) },
        { code: 'NOT_FOUND', provider: 'local', pointer: '/z' },
      ],
      [{ w: ref({ provider: 'local', name, version: 'previous' }) }, { code: 'NOT_FOUND', pointer: '/w' }],
    ];
    for (const [doc, expected] of cases) {
      const e = await rejection(resolver.resolveRefs(doc));
      expect(e).toMatchObject(expected);
      expect(e.message).toContain(String(expected.pointer));
      const text = everyTextOf(e);
      expect(text).not.toContain(value);
      expect(text).not.toContain(jsonValue);
      expect(text).not.toContain('S3cr3t');
    }
  });

  it('the first failure in document order wins; a malformed reference resolves nothing', async () => {
    const name = secretName();
    await provider.create(name, secretText());
    const e = await rejection(
      resolver.resolveRefs({
        a: ref({ provider: 'local', name }),
        b: ref({ provider: 'local', name: secretName('m1') }),
        c: ref({ provider: 'local', name: secretName('m2') }),
      }),
    );
    expect(e.pointer).toBe('/b');
    reads = 0;
    await expect(
      resolver.resolveRefs({ a: ref({ provider: 'local', name }), b: ref({ provider: 'local' }) }),
    ).rejects.toMatchObject({
      code: 'SCHEMA_VALIDATION',
    });
    expect(reads).toBe(0);
  });

  it('resolved details redact the value from JSON and inspect', async () => {
    const name = secretName();
    const value = secretText();
    await provider.create(name, value);
    const r = await resolver.resolve({ provider: 'local', name });
    expect(r.value).toBe(value);
    expect(JSON.stringify(r)).not.toContain(value);
    expect(inspect(r)).not.toContain(value);
  });

  it('register / unregister, option checks, close', async () => {
    expect(() => resolver.register(provider)).toThrow(/already registered/);
    const unregister = resolver.register(provider, 'alias');
    const name = secretName();
    await provider.create(name, secretText());
    await resolver.resolve({ provider: 'alias', name });
    unregister();
    expect(isSecretError(await rejection(resolver.resolve({ provider: 'alias', name })), 'unknown-provider')).toBe(
      true,
    );
    expect(() => new SecretResolver({ ttlMs: -1 })).toThrow(/ttlMs/);
    expect(() => new SecretResolver({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => resolver.register(provider, 'Bad!')).toThrow(/must match/);
    await resolver.close();
    await expect(resolver.resolve({ provider: 'local', name })).rejects.toMatchObject({ code: 'CLOSED' });
    // The provider stays open: the resolver does not own it.
    expect((await provider.read(name)).name).toBe(name);
  });
});
