/**
 * The API token store contract suite (`TokenStore`, `core/src/store/token-store.ts`).
 * Every implementation runs it with one call:
 *
 *   runTokenStoreContract('postgres', { durable: true, create: (now) => createSqlTokenStore({ sql, schema, now }) });
 *
 * `create` must return a fresh, empty store (or one on a fresh schema) that reads time from `now`;
 * `peer`, where the store is shared, opens another store on the same storage as the given one
 * (another process's view). The suite closes what it opened after each test.
 */
import { createHash } from 'node:crypto';
import { isConfigError } from '@summit-config/core';
import type { TokenStore } from '@summit-config/core/internal';
import { describe, expect, it } from 'vitest';
import { opened } from './opened.js';

export interface TokenStoreContractOptions<S extends TokenStore> {
  /** A fresh, empty store whose clock is `now` (milliseconds since the epoch). */
  create: (now: () => number) => Promise<S> | S;
  /** Another store on the same storage as `store`, with the clock `now`. Omitted where storage is not shared (memory). */
  peer?: (store: S, now: () => number) => Promise<S> | S;
  /** What the store must declare as `capabilities.durable`. */
  durable: boolean;
}

const TOKEN = /^sct_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$/;
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** A clock the test moves: starts at a whole second near the real time. */
function testClock(): { now: () => number; advance(ms: number): void } {
  let t = Math.floor(Date.now() / 1000) * 1000;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return isConfigError(error) ? error.code : `not a ConfigError: ${String(error)}`;
  }
  return 'resolved';
}

const input = (over: Record<string, unknown> = {}) => ({
  name: 'deploy bot',
  owner: 'svc:deployer',
  roles: ['config-admin'],
  ...over,
});

export function runTokenStoreContract<S extends TokenStore>(name: string, options: TokenStoreContractOptions<S>): void {
  describe(`token store contract: ${name}`, () => {
    const clock = testClock();
    const fresh = opened<S>(() => options.create(clock.now));

    it('creates a token sct_<id>_<secret> shown once, with its record; the token verifies', async () => {
      const store = await fresh();
      expect(typeof store.name).toBe('string');
      expect(store.capabilities.durable).toBe(options.durable);
      const expiresAt = new Date(clock.now() + HOUR);
      const { token, record } = await store.create(input({ expiresAt }));
      const match = TOKEN.exec(token);
      expect(match).not.toBeNull();
      expect(match?.[1]).toBe(record.id);
      expect(Buffer.from(match?.[2] ?? '', 'base64url')).toHaveLength(32);
      expect(record).toEqual({
        id: record.id,
        name: 'deploy bot',
        owner: 'svc:deployer',
        roles: ['config-admin'],
        createdAt: new Date(clock.now()).toISOString(),
        expiresAt: expiresAt.toISOString(),
      });
      expect(await store.get(record.id)).toEqual(record);
      const verified = await store.verify(token);
      expect(verified).toEqual({ ...record, lastUsedAt: new Date(clock.now()).toISOString() });
      // Never expiring: no expiresAt; roles deduplicated, order kept; an ISO string expiry accepted.
      const b = await store.create(input({ name: 'b', roles: ['r.1', 'config-reader', 'r.1'] }));
      expect(b.record.expiresAt).toBeUndefined();
      expect(b.record.roles).toEqual(['r.1', 'config-reader']);
      const c = await store.create(input({ name: 'c', expiresAt: new Date(clock.now() + MINUTE).toISOString() }));
      expect(c.record.expiresAt).toBe(new Date(clock.now() + MINUTE).toISOString());
      expect(new Set([record.id, b.record.id, c.record.id]).size).toBe(3);
    });

    it('verifies only the exact token: a changed secret, a changed id, a malformed token do not', async () => {
      const store = await fresh();
      const { token, record } = await store.create(input());
      const other = await store.create(input({ name: 'other' }));
      const secret = token.slice(-43);
      const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
      const otherId = `sct_${other.record.id}_${secret}`;
      for (const bad of [
        flipped,
        otherId,
        `sct_${'a'.repeat(12)}_${secret}`,
        token.toUpperCase(),
        `${token}x`,
        token.slice(0, -1),
        ` ${token}`,
        '',
        'sct_',
        record.id,
        secret,
        'x'.repeat(100_000),
      ]) {
        expect(await store.verify(bad), bad.slice(0, 80)).toBeUndefined();
      }
      expect(await store.verify(undefined as unknown as string)).toBeUndefined();
      expect((await store.verify(token))?.id).toBe(record.id);
      expect((await store.verify(other.token))?.id).toBe(other.record.id);
    });

    it('a token verifies until it is revoked, and never after; revoking twice keeps the first revocation', async () => {
      const store = await fresh();
      const { token, record } = await store.create(input());
      const kept = await store.create(input({ name: 'kept' }));
      expect((await store.verify(token))?.id).toBe(record.id);
      clock.advance(1000);
      const revoked = await store.revoke(record.id, 'alice');
      expect(revoked).toMatchObject({
        id: record.id,
        revokedAt: new Date(clock.now()).toISOString(),
        revokedBy: 'alice',
      });
      expect(await store.verify(token)).toBeUndefined();
      clock.advance(1000);
      const again = await store.revoke(record.id, 'bob');
      expect(again.revokedAt).toBe(revoked.revokedAt);
      expect(again.revokedBy).toBe('alice');
      expect(await store.verify(token)).toBeUndefined();
      expect(await store.get(record.id)).toMatchObject({ revokedBy: 'alice', revokedAt: revoked.revokedAt });
      // Only that token.
      expect((await store.verify(kept.token))?.id).toBe(kept.record.id);
      // Unknown and malformed ids are NOT_FOUND; a bad revoker is CONSTRAINT_VIOLATION, nothing written.
      expect(await codeOf(store.revoke('aaaaaaaaaaaa', 'alice'))).toBe('NOT_FOUND');
      expect(await codeOf(store.revoke('not an id', 'alice'))).toBe('NOT_FOUND');
      expect(await codeOf(store.revoke(kept.record.id, ''))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(store.revoke(kept.record.id, 'a\u0000b'))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(store.revoke(42 as unknown as string, 'alice'))).toBe('CONSTRAINT_VIOLATION');
      expect((await store.get(kept.record.id))?.revokedAt).toBeUndefined();
      expect((await store.verify(kept.token))?.id).toBe(kept.record.id);
    });

    it('a token verifies until it expires, and never after', async () => {
      const store = await fresh();
      const { token } = await store.create(input({ expiresAt: new Date(clock.now() + HOUR) }));
      expect(await store.verify(token)).toBeDefined();
      clock.advance(HOUR - 1);
      expect(await store.verify(token)).toBeDefined();
      clock.advance(1);
      expect(await store.verify(token)).toBeUndefined();
      clock.advance(HOUR);
      expect(await store.verify(token)).toBeUndefined();
    });

    it('records lastUsedAt at most once a minute per token', async () => {
      const store = await fresh();
      const { token, record } = await store.create(input());
      const first = new Date(clock.now()).toISOString();
      expect((await store.verify(token))?.lastUsedAt).toBe(first);
      clock.advance(MINUTE - 1000);
      expect((await store.verify(token))?.lastUsedAt).toBe(first);
      expect((await store.get(record.id))?.lastUsedAt).toBe(first);
      clock.advance(1000);
      const second = new Date(clock.now()).toISOString();
      expect((await store.verify(token))?.lastUsedAt).toBe(second);
      expect((await store.get(record.id))?.lastUsedAt).toBe(second);
      expect((await store.list())[0]?.lastUsedAt).toBe(second);
    });

    it('lists records, oldest first, by owner on request, never a secret or a hash', async () => {
      const store = await fresh();
      expect(await store.list()).toEqual([]);
      const a = await store.create(input({ owner: 'alice' }));
      clock.advance(1000);
      const b = await store.create(input({ owner: 'bob', expiresAt: new Date(clock.now() + HOUR) }));
      clock.advance(1000);
      const c = await store.create(input({ owner: 'alice', name: 'second' }));
      await store.revoke(c.record.id, 'alice');
      await store.verify(a.token);
      const all = await store.list();
      expect(all.map((r) => r.id)).toEqual([a.record.id, b.record.id, c.record.id]);
      expect((await store.list({ owner: 'alice' })).map((r) => r.id)).toEqual([a.record.id, c.record.id]);
      expect(await store.list({ owner: 'nobody' })).toEqual([]);
      const fields = new Set([
        'id',
        'name',
        'owner',
        'roles',
        'createdAt',
        'expiresAt',
        'lastUsedAt',
        'revokedAt',
        'revokedBy',
      ]);
      const seen = [...all, await store.get(a.record.id), await store.verify(b.token), a.record];
      for (const record of seen) {
        for (const key of Object.keys(record ?? {})) expect(fields.has(key), key).toBe(true);
        const text = JSON.stringify(record);
        for (const { token } of [a, b, c]) {
          expect(text).not.toContain(token.slice(-43));
          expect(text).not.toContain(createHash('sha256').update(token).digest('hex'));
          expect(text).not.toContain(createHash('sha256').update(token).digest('base64'));
        }
      }
      expect(await codeOf(store.list({ owner: '' }))).toBe('CONSTRAINT_VIOLATION');
      expect(await codeOf(store.list({ owners: 'alice' } as unknown as { owner: string }))).toBe(
        'CONSTRAINT_VIOLATION',
      );
      expect(await store.get('aaaaaaaaaaaa')).toBeUndefined();
      expect(await store.get('not an id')).toBeUndefined();
    });

    it('refuses bad input with CONSTRAINT_VIOLATION and writes nothing', async () => {
      const store = await fresh();
      const bad: Array<[string, unknown]> = [
        ['no input', undefined],
        ['not an object', 'token'],
        ['an array', []],
        ['unknown field', input({ admin: true })],
        ['no name', input({ name: undefined })],
        ['empty name', input({ name: '' })],
        ['long name', input({ name: 'n'.repeat(129) })],
        ['name with a newline', input({ name: 'a\nb' })],
        ['name with a lone surrogate', input({ name: 'a\ud800' })],
        ['numeric name', input({ name: 7 })],
        ['no owner', input({ owner: undefined })],
        ['empty owner', input({ owner: '' })],
        ['long owner', input({ owner: 'o'.repeat(257) })],
        ['owner with NUL', input({ owner: 'a\u0000' })],
        ['no roles', input({ roles: undefined })],
        ['empty roles', input({ roles: [] })],
        ['roles not a list', input({ roles: 'config-admin' })],
        ['a bad role name', input({ roles: ['config admin'] })],
        ['an empty role name', input({ roles: [''] })],
        ['a role that is no string', input({ roles: [1] })],
        ['too many roles', input({ roles: Array.from({ length: 65 }, (_, i) => `r${i}`) })],
        ['expiry now', input({ expiresAt: new Date(clock.now()) })],
        ['expiry past', input({ expiresAt: new Date(clock.now() - 1) })],
        ['expiry invalid date', input({ expiresAt: new Date(Number.NaN) })],
        ['expiry not a date', input({ expiresAt: 'tomorrow' })],
        ['expiry a number', input({ expiresAt: clock.now() + HOUR })],
        ['expiry too far', input({ expiresAt: '+100000-01-01T00:00:00Z' })],
        ['expiry after 9999', input({ expiresAt: new Date(Date.UTC(10_001, 0, 1)) })],
        ['expiry null', input({ expiresAt: null })],
      ];
      for (const [what, value] of bad) {
        expect(await codeOf(store.create(value as Parameters<S['create']>[0])), what).toBe('CONSTRAINT_VIOLATION');
      }
      expect(await store.list()).toEqual([]);
    });

    it('gives every one of many concurrent creates its own id and token', async () => {
      const store = await fresh();
      const created = await Promise.all(
        Array.from({ length: 24 }, (_, i) => store.create(input({ name: `bot ${i}` }))),
      );
      expect(new Set(created.map((c) => c.record.id)).size).toBe(24);
      expect(new Set(created.map((c) => c.token)).size).toBe(24);
      expect((await store.list()).length).toBe(24);
      const verified = await Promise.all(created.map((c) => store.verify(c.token)));
      expect(verified.map((r) => r?.id)).toEqual(created.map((c) => c.record.id));
    });

    it('returns copies: changing what it returned changes nothing stored', async () => {
      const store = await fresh();
      const { token, record } = await store.create(input({ roles: ['a', 'b'] }));
      (record.roles as string[]).push('config-admin');
      const listed = await store.list();
      (listed[0]?.roles as string[] | undefined)?.push('x');
      expect((await store.get(record.id))?.roles).toEqual(['a', 'b']);
      expect((await store.verify(token))?.roles).toEqual(['a', 'b']);
    });

    it('close() is idempotent and final: later calls reject with CLOSED', async () => {
      const store = await fresh();
      const { token, record } = await store.create(input());
      await store.close();
      await store.close();
      expect(await codeOf(store.verify(token))).toBe('CLOSED');
      expect(await codeOf(store.list())).toBe('CLOSED');
      expect(await codeOf(store.get(record.id))).toBe('CLOSED');
      expect(await codeOf(store.revoke(record.id, 'alice'))).toBe('CLOSED');
      expect(await codeOf(store.create(input()))).toBe('CLOSED');
    });

    const peer = options.peer;
    if (peer) {
      it('two processes on one storage see each other’s tokens and revocations at once', async () => {
        const a = await fresh();
        const b = await peer(a, clock.now);
        try {
          const one = await a.create(input({ name: 'one' }));
          const two = await b.create(input({ name: 'two' }));
          expect((await b.verify(one.token))?.id).toBe(one.record.id);
          expect((await a.verify(two.token))?.id).toBe(two.record.id);
          expect((await a.list()).map((r) => r.id).sort()).toEqual([one.record.id, two.record.id].sort());
          await b.revoke(one.record.id, 'alice');
          expect(await a.verify(one.token)).toBeUndefined();
          expect(await b.verify(one.token)).toBeUndefined();
          await a.revoke(two.record.id, 'bob');
          expect(await b.verify(two.token)).toBeUndefined();
          expect((await b.get(two.record.id))?.revokedBy).toBe('bob');
          // Concurrent creates from both processes: all distinct, all visible to both.
          const many = await Promise.all(
            Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).create(input({ name: `n${i}` }))),
          );
          expect(new Set(many.map((m) => m.record.id)).size).toBe(16);
          expect((await a.list()).length).toBe(18);
          expect((await b.list()).length).toBe(18);
        } finally {
          await b.close();
        }
      });
    }
  });
}
