/**
 * The secret provider contract suite. Every provider runs it with one call:
 *
 *   runProviderContract('aws (fake)', { create: () => createAwsProvider({...}), capabilities: {...} });
 *
 * `create` returns a provider; the suite uses fresh random secret names, so providers may share
 * one backing store (a fake, a schema) across cases.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { SecretProvider, SecretProviderCapabilities, SecretVersionInfo } from '@summit-config/secrets';
import { isSecretError } from '@summit-config/secrets';
import { opened } from '@summit-config/test-support/contract/opened';
import { describe, expect, it } from 'vitest';

export interface ProviderContractOptions {
  /** A provider (fresh or shared); the suite closes those it creates at the end. */
  create: () => Promise<SecretProvider> | SecretProvider;
  /** The capabilities the provider must declare; capability-specific cases run only where declared. */
  capabilities: Partial<SecretProviderCapabilities> &
    Pick<SecretProviderCapabilities, 'disable' | 'destroy' | 'labels'>;
  /** The `kind` the provider reports. */
  kind: string;
  /**
   * Makes the provider's next read request stall at the server (never answered); returns a
   * function telling whether that request has arrived. Enables the in-flight abort case.
   */
  stallNextRead?: () => () => boolean;
}

/** A value that must never show up in an error or a log line. */
export function secretText(tag = 'v'): string {
  return `S3cr3t-${tag}-${randomBytes(12).toString('hex')}`;
}

export function secretName(tag = 'c'): string {
  return `${tag}-${randomBytes(6).toString('hex')}`;
}

/** A version id that no provider has issued (valid in shape everywhere). */
export const UNKNOWN_VERSION = '0123456789abcdef0123456789abcdef';

/** The rejection of `promise`, checked to be a SecretError. */
export async function rejection(promise: Promise<unknown>): Promise<import('@summit-config/secrets').SecretError> {
  try {
    await promise;
  } catch (error) {
    if (!isSecretError(error)) throw new Error(`expected a SecretError, got ${inspect(error)}`);
    return error;
  }
  throw new Error('expected a rejection, the call resolved');
}

/** Every text a logger or a CLI could show for `error`, cause chain included. */
export function everyTextOf(error: unknown): string {
  const parts = [inspect(error, { depth: 10, showHidden: true })];
  let e: unknown = error;
  for (let i = 0; i < 6 && e; i++) {
    const err = e as { message?: unknown; toJSON?: () => unknown; stack?: unknown; cause?: unknown };
    parts.push(String(err.message), String(err.stack));
    if (typeof err.toJSON === 'function') parts.push(JSON.stringify(err.toJSON()));
    e = err.cause;
  }
  return parts.join('\n');
}

function byVersion(list: readonly SecretVersionInfo[], version: string): SecretVersionInfo {
  const v = list.find((x) => x.version === version);
  if (!v) throw new Error(`version ${version} not listed: ${JSON.stringify(list)}`);
  return v;
}

export function runProviderContract(name: string, options: ProviderContractOptions): void {
  describe(`secret provider contract: ${name}`, () => {
    const provider = opened<SecretProvider>(options.create, 'all');

    /** A secret with one current version. */
    async function created(p: SecretProvider) {
      const secret = secretName();
      const value = secretText('v1');
      const info = await p.create(secret, value);
      return { secret, value, v1: info.version };
    }

    it('declares its kind and capabilities', async () => {
      const p = await provider();
      expect(p.kind).toBe(options.kind);
      expect(p.capabilities).toMatchObject(options.capabilities);
      expect(p.capabilities.maxValueBytes).toBeGreaterThan(1000);
      expect(typeof p.destroy === 'function').toBe(p.capabilities.destroy);
    });

    it('create makes the first version current and readable by stage and by id', async () => {
      const p = await provider();
      const secret = secretName();
      const value = secretText();
      const info = await p.create(secret, value);
      expect(info).toMatchObject({ name: secret, stage: 'current', state: 'enabled' });
      expect(info.version).toMatch(/^\S+$/);
      const current = await p.read(secret);
      expect(current.value).toBe(value);
      expect(current.version).toBe(info.version);
      expect(current.name).toBe(secret);
      expect((await p.read(secret, 'current')).value).toBe(value);
      expect((await p.read(secret, { version: info.version })).value).toBe(value);
      const list = await p.listVersions(secret);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ name: secret, version: info.version, stage: 'current', state: 'enabled' });
    });

    it('create of an existing secret rejects with reason exists and keeps the value', async () => {
      const p = await provider();
      const { secret, value } = await created(p);
      const e = await rejection(p.create(secret, secretText('other')));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'exists', provider: p.name, secret });
      expect((await p.read(secret)).value).toBe(value);
    });

    it('a missing secret, version or stage is NOT_FOUND naming provider and secret', async () => {
      const p = await provider();
      const missing = secretName('missing');
      for (const call of [
        () => p.read(missing),
        () => p.write(missing, secretText()),
        () => p.listVersions(missing),
        () => p.promote(missing, UNKNOWN_VERSION),
        () => p.revoke(missing, UNKNOWN_VERSION),
      ]) {
        const e = await rejection(call());
        expect(e).toMatchObject({ code: 'NOT_FOUND', reason: 'not-found', provider: p.name, secret: missing });
        expect(e.message).toContain(missing);
        expect(e.message).toContain(p.name);
      }
      const { secret } = await created(p);
      expect(await rejection(p.read(secret, { version: UNKNOWN_VERSION }))).toMatchObject({
        code: 'NOT_FOUND',
        secret,
        secretVersion: UNKNOWN_VERSION,
      });
      expect(await rejection(p.read(secret, 'previous'))).toMatchObject({
        code: 'NOT_FOUND',
        secretVersion: 'previous',
      });
      expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND', secretVersion: 'pending' });
      expect(await rejection(p.promote(secret, UNKNOWN_VERSION))).toMatchObject({ code: 'NOT_FOUND' });
      expect(await rejection(p.revoke(secret, UNKNOWN_VERSION))).toMatchObject({ code: 'NOT_FOUND' });
    });

    it('write adds a pending version that readers do not get until promote', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      const next = secretText('v2');
      const v2 = await p.write(secret, next);
      expect(v2).toMatchObject({ name: secret, stage: 'pending', state: 'enabled' });
      expect(v2.version).not.toBe(v1);
      expect((await p.read(secret)).value).toBe(value);
      expect((await p.read(secret, 'pending')).value).toBe(next);
      expect((await p.read(secret, 'pending')).version).toBe(v2.version);
      expect((await p.read(secret, { version: v2.version })).value).toBe(next);
      const list = await p.listVersions(secret);
      expect(byVersion(list, v1)).toMatchObject({ stage: 'current', state: 'enabled' });
      expect(byVersion(list, v2.version)).toMatchObject({ stage: 'pending', state: 'enabled' });
    });

    it('promote: pending -> current, current -> previous (still readable)', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      const next = secretText('v2');
      const v2 = (await p.write(secret, next)).version;
      const result = await p.promote(secret, v2);
      expect(result).toEqual({ current: v2, previous: v1, revoked: undefined });
      const current = await p.read(secret);
      expect(current.value).toBe(next);
      expect(current.version).toBe(v2);
      const previous = await p.read(secret, 'previous');
      expect(previous.value).toBe(value);
      expect(previous.version).toBe(v1);
      expect((await p.read(secret, { version: v1 })).value).toBe(value);
      expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
      const list = await p.listVersions(secret);
      expect(byVersion(list, v1)).toMatchObject({ stage: 'previous', state: 'enabled' });
      expect(byVersion(list, v2)).toMatchObject({ stage: 'current', state: 'enabled' });
    });

    it('the next promote revokes the version that was previous', async () => {
      const p = await provider();
      const { secret, v1 } = await created(p);
      const v2 = (await p.write(secret, secretText('v2'))).version;
      await p.promote(secret, v2);
      const third = secretText('v3');
      const v3 = (await p.write(secret, third)).version;
      expect(await p.promote(secret, v3)).toEqual({ current: v3, previous: v2, revoked: v1 });
      expect((await p.read(secret)).value).toBe(third);
      expect((await p.read(secret, 'previous')).version).toBe(v2);
      const e = await rejection(p.read(secret, { version: v1 }));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'revoked', secret, secretVersion: v1 });
      const list = await p.listVersions(secret);
      expect(byVersion(list, v1)).toMatchObject({ stage: undefined, state: 'disabled' });
    });

    it('revoke: the previous version becomes unreadable; revoking again changes nothing', async () => {
      const p = await provider();
      const { secret, v1 } = await created(p);
      const next = secretText('v2');
      const v2 = (await p.write(secret, next)).version;
      await p.promote(secret, v2);
      await p.revoke(secret, v1);
      expect(await rejection(p.read(secret, 'previous'))).toMatchObject({ code: 'NOT_FOUND' });
      expect(await rejection(p.read(secret, { version: v1 }))).toMatchObject({ reason: 'revoked', secretVersion: v1 });
      expect((await p.read(secret)).value).toBe(next);
      await p.revoke(secret, v1);
      const list = await p.listVersions(secret);
      expect(byVersion(list, v1)).toMatchObject({ stage: undefined, state: 'disabled' });
      expect(byVersion(list, v2)).toMatchObject({ stage: 'current', state: 'enabled' });
      expect(await rejection(p.promote(secret, v1))).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'revoked' });
    });

    it('the current version cannot be revoked', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      const e = await rejection(p.revoke(secret, v1));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'invalid', secret, secretVersion: v1 });
      expect((await p.read(secret)).value).toBe(value);
    });

    it('revoking a pending version abandons it', async () => {
      const p = await provider();
      const { secret, value } = await created(p);
      const v2 = (await p.write(secret, secretText('v2'))).version;
      await p.revoke(secret, v2);
      expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
      expect(await rejection(p.read(secret, { version: v2 }))).toMatchObject({ reason: 'revoked' });
      expect((await p.read(secret)).value).toBe(value);
    });

    it('a newer pending write revokes the older pending version', async () => {
      const p = await provider();
      const { secret } = await created(p);
      const a = (await p.write(secret, secretText('a'))).version;
      const bValue = secretText('b');
      const b = (await p.write(secret, bValue)).version;
      expect((await p.read(secret, 'pending')).version).toBe(b);
      expect((await p.read(secret, 'pending')).value).toBe(bValue);
      expect(await rejection(p.read(secret, { version: a }))).toMatchObject({ reason: 'revoked' });
      const list = await p.listVersions(secret);
      expect(byVersion(list, a)).toMatchObject({ stage: undefined, state: 'disabled' });
      expect(byVersion(list, b)).toMatchObject({ stage: 'pending' });
    });

    it('promote of the current version changes nothing; promote of previous rolls back', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      expect(await p.promote(secret, v1)).toEqual({ current: v1, previous: undefined, revoked: undefined });
      const v2 = (await p.write(secret, secretText('v2'))).version;
      await p.promote(secret, v2);
      expect(await p.promote(secret, v2)).toEqual({ current: v2, previous: v1, revoked: undefined });
      expect(await p.promote(secret, v1)).toEqual({ current: v1, previous: v2, revoked: undefined });
      expect((await p.read(secret)).value).toBe(value);
      expect((await p.read(secret, 'previous')).version).toBe(v2);
    });

    it('promote with a stale expectedCurrent is VERSION_CONFLICT and changes nothing', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      const v2 = (await p.write(secret, secretText('v2'))).version;
      const e = await rejection(p.promote(secret, v2, { expectedCurrent: v2 }));
      expect(e).toMatchObject({ code: 'VERSION_CONFLICT', reason: 'conflict', secret });
      expect((await p.read(secret)).value).toBe(value);
      expect((await p.read(secret, 'pending')).version).toBe(v2);
      expect(await p.promote(secret, v2, { expectedCurrent: v1 })).toMatchObject({ current: v2, previous: v1 });
    });

    it('validates names, values and selectors with reason invalid, never echoing the value', async () => {
      const p = await provider();
      const { secret } = await created(p);
      const bad = [
        () => p.read('has space'),
        () => p.read(''),
        () => p.create('x'.repeat(600), secretText()),
        () => p.write(secret, ''),
        () => p.write(secret, 42 as unknown as string),
        () => p.read(secret, 'latest' as never),
        () => p.read(secret, { version: '' }),
      ];
      for (const call of bad)
        expect(await rejection(call())).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'invalid' });
      const big = `${secretText('big')}${'x'.repeat(p.capabilities.maxValueBytes)}`;
      const e = await rejection(p.write(secret, big));
      expect(e).toMatchObject({ reason: 'invalid' });
      expect(everyTextOf(e)).not.toContain(big.slice(0, 30));
    });

    it('keeps unicode values exactly, up to maxValueBytes', async () => {
      const p = await provider();
      const secret = secretName();
      const value = `päss wörd ✓ 🔑 "quoted" \\ ${secretText()}\n`;
      await p.create(secret, value);
      expect((await p.read(secret)).value).toBe(value);
      const json = JSON.stringify({ user: 'app', password: secretText('pw') });
      const v2 = (await p.write(secret, json)).version;
      expect((await p.read(secret, { version: v2 })).value).toBe(json);
      const large = 'a'.repeat(Math.min(p.capabilities.maxValueBytes, 20_000));
      const v3 = (await p.write(secret, large)).version;
      expect((await p.read(secret, { version: v3 })).value).toBe(large);
    });

    it('read values are redacted from JSON and inspect', async () => {
      const p = await provider();
      const { secret, value } = await created(p);
      const read = await p.read(secret);
      expect(read.value).toBe(value);
      expect(JSON.stringify(read)).not.toContain(value);
      expect(JSON.stringify(read)).toContain('[REDACTED]');
      expect(inspect(read, { showHidden: false })).not.toContain(value);
      expect(Object.keys(read)).not.toContain('value');
    });

    it('errors never contain a secret value', async () => {
      const p = await provider();
      const { secret, value, v1 } = await created(p);
      const next = secretText('next');
      const v2 = (await p.write(secret, next)).version;
      await p.promote(secret, v2);
      await p.revoke(secret, v1);
      const failures = await Promise.all([
        rejection(p.read(secret, { version: v1 })),
        rejection(p.create(secret, next)),
        rejection(p.revoke(secret, v2)),
        rejection(p.promote(secret, v1)),
        rejection(p.read(secret, 'previous')),
        rejection(p.write(secret, `${next}${'y'.repeat(p.capabilities.maxValueBytes)}`)),
      ]);
      for (const e of failures) {
        const text = everyTextOf(e);
        expect(text).not.toContain(value);
        expect(text).not.toContain(next);
        expect(text).toContain(secret);
      }
    });

    if (options.capabilities.labels) {
      it('keeps labels with each version', async () => {
        const p = await provider();
        const secret = secretName();
        const first = await p.create(secret, secretText(), { labels: { owner: 'team-a' } });
        expect(first.labels).toEqual({ owner: 'team-a' });
        const second = await p.write(secret, secretText(), { labels: { rotation: 'r-1', 'policy.id': 'p_2' } });
        const list = await p.listVersions(secret);
        expect(byVersion(list, first.version).labels).toEqual({ owner: 'team-a' });
        expect(byVersion(list, second.version).labels).toEqual({ rotation: 'r-1', 'policy.id': 'p_2' });
        expect(await rejection(p.write(secret, secretText(), { labels: { 'bad key': 'x' } }))).toMatchObject({
          reason: 'invalid',
        });
      });
    } else {
      it('refuses labels it cannot keep', async () => {
        const p = await provider();
        const { secret } = await created(p);
        expect(await rejection(p.write(secret, secretText(), { labels: { owner: 'a' } }))).toMatchObject({
          reason: 'invalid',
        });
        // Nothing was written.
        expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
      });
    }

    if (options.capabilities.destroy) {
      it('destroy erases a version for good; the current one is refused', async () => {
        const p = await provider();
        const { secret, v1 } = await created(p);
        const v2 = (await p.write(secret, secretText('v2'))).version;
        await p.promote(secret, v2);
        const destroy = p.destroy?.bind(p);
        if (!destroy) throw new Error('capabilities.destroy without destroy()');
        expect(await rejection(destroy(secret, v2))).toMatchObject({ reason: 'invalid' });
        await destroy(secret, v1);
        await destroy(secret, v1);
        expect(await rejection(p.read(secret, { version: v1 }))).toMatchObject({ reason: 'revoked' });
        expect(await rejection(p.read(secret, 'previous'))).toMatchObject({ code: 'NOT_FOUND' });
        expect(byVersion(await p.listVersions(secret), v1)).toMatchObject({ stage: undefined, state: 'destroyed' });
        expect(await rejection(p.promote(secret, v1))).toMatchObject({ reason: 'revoked' });
      });
    }

    it('an aborted signal rejects with its reason', async () => {
      const p = await provider();
      const { secret } = await created(p);
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(p.read(secret, 'current', { signal: controller.signal })).rejects.toBe(reason);
      await expect(p.write(secret, secretText(), { signal: controller.signal })).rejects.toBe(reason);
      expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
    });

    const { stallNextRead } = options;
    if (stallNextRead) {
      it('a call aborted in flight rejects with the signal reason', async () => {
        const p = await provider();
        const { secret } = await created(p);
        const arrived = stallNextRead();
        const controller = new AbortController();
        const reason = new Error('stop waiting');
        const read = p.read(secret, 'current', { signal: controller.signal });
        read.catch(() => {});
        while (!arrived()) await new Promise((resolve) => setTimeout(resolve, 5));
        controller.abort(reason);
        await expect(read).rejects.toBe(reason);
        // The provider still works afterwards.
        expect((await p.read(secret)).name).toBe(secret);
      });
    }

    it('close is idempotent and final', async () => {
      const p = await options.create();
      const { secret } = await created(p);
      const first = p.close();
      expect(p.close()).toBe(first);
      await first;
      await expect(p.read(secret)).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(p.write(secret, secretText())).rejects.toMatchObject({ code: 'CLOSED' });
      await expect(p.listVersions(secret)).rejects.toMatchObject({ code: 'CLOSED' });
      await p[Symbol.asyncDispose]();
    });
  });
}
