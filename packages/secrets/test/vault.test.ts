/**
 * The Vault provider (plain fetch) against the fake of Vault's HTTP API on 127.0.0.1: the contract
 * suite twice (a token on the root namespace and mount `secret`; AppRole in a namespace on mount
 * `kv`), then what is Vault's own: stages in custom_metadata, check-and-set between writers,
 * AppRole logins and re-logins, the namespace header, error mapping and the options.
 */
import {
  resolveSecretRefs,
  SanitizedCause,
  type SecretProvider,
  SecretResolver,
  validateSecretRef,
} from '@summit-config/secrets';
import { createVaultProvider, type VaultProviderOptions } from '@summit-config/secrets/vault';
import { offlineClouds, stallNext } from '@summit-config/test-support/fakes/clouds';
import { startVaultServer, type VaultFake, vaultErrors } from '@summit-config/test-support/fakes/vault';
import { until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';
import { everyTextOf, rejection, runProviderContract, secretName, secretText } from './provider-contract.js';

const appRole = { roleId: 'summit-role-id', secretId: 'summit-secret-id-0001' };
const NAMESPACE = 'team-a';
let fake: VaultFake;
/** Issues tokens that live one second: the provider must log in again before using an expired one. */
let shortLived: VaultFake;
const guard = offlineClouds(async () => {
  [fake, shortLived] = await Promise.all([
    startVaultServer({ appRole, mounts: ['secret', 'kv'], namespaces: [NAMESPACE] }),
    startVaultServer({ appRole, tokenTtlSeconds: 1 }),
  ]);
  return [fake, shortLived];
});

function vault(extra: Partial<VaultProviderOptions> = {}): SecretProvider {
  return createVaultProvider({ address: fake.url, token: fake.rootToken, maxRetries: 0, ...extra });
}

function viaAppRole(extra: Partial<VaultProviderOptions> = {}): SecretProvider {
  return createVaultProvider({
    address: fake.url,
    appRole,
    namespace: NAMESPACE,
    mount: 'kv',
    maxRetries: 0,
    ...extra,
  });
}

const capabilities = { disable: true, destroy: true, labels: true, atomicPromote: false, durable: true };

runProviderContract('vault (token, fake Vault)', {
  kind: 'vault',
  create: () => vault(),
  stallNextRead: () => stallNext(fake, 'readData'),
  capabilities,
});

runProviderContract('vault (AppRole in a namespace, mount kv)', {
  kind: 'vault',
  create: () => viaAppRole(),
  stallNextRead: () => stallNext(fake, 'readData'),
  capabilities,
});

describe('vault provider: KV v2 on the wire', () => {
  it('stages and labels live in custom_metadata; revoke soft-deletes, destroy destroys', async () => {
    const p = vault();
    const secret = `app/${secretName()}`;
    await p.create(secret, secretText('1'), { labels: { owner: 'team-a' } });
    expect(fake.customMetadata(secret)).toEqual({ 'summit-current': '1', 'summit-label.1.owner': 'team-a' });
    await p.write(secret, secretText('2'), { labels: { rotation: 'r-1' } });
    expect(fake.customMetadata(secret)).toEqual({
      'summit-current': '1',
      'summit-pending': '2',
      'summit-label.1.owner': 'team-a',
      'summit-label.2.rotation': 'r-1',
    });
    await p.promote(secret, '2');
    expect(fake.customMetadata(secret)).toEqual({
      'summit-current': '2',
      'summit-previous': '1',
      'summit-label.1.owner': 'team-a',
      'summit-label.2.rotation': 'r-1',
    });
    await p.write(secret, secretText('3'));
    await p.promote(secret, '3');
    // The old previous (1) was revoked: soft-deleted at Vault, its labels dropped.
    expect(fake.customMetadata(secret)).toEqual({
      'summit-current': '3',
      'summit-previous': '2',
      'summit-label.2.rotation': 'r-1',
    });
    expect(fake.versions(secret)).toEqual([
      { version: 1, deleted: true, destroyed: false },
      { version: 2, deleted: false, destroyed: false },
      { version: 3, deleted: false, destroyed: false },
    ]);
    await p.destroy?.(secret, '2');
    expect(fake.versions(secret)?.[1]).toEqual({ version: 2, deleted: false, destroyed: true });
    expect(fake.customMetadata(secret)).toEqual({ 'summit-current': '3' });
    const list = await p.listVersions(secret);
    expect(list.map((v) => [v.version, v.stage, v.state, v.native])).toEqual([
      ['1', undefined, 'disabled', []],
      ['2', undefined, 'destroyed', []],
      ['3', 'current', 'enabled', ['summit-current']],
    ]);
    await p.close();
  });

  it('reads a specific version with ?version=N, and the latest in one request when it is current', async () => {
    const p = vault();
    const secret = secretName();
    const values = [secretText('1'), secretText('2'), secretText('3')];
    await p.create(secret, values[0] as string);
    for (const v of values.slice(1)) await p.promote(secret, (await p.write(secret, v)).version);
    const before = fake.calls.length;
    const second = await p.read(secret, { version: '2' });
    expect({ version: second.version, value: second.value }).toEqual({ version: '2', value: values[1] });
    const reads = fake.calls.slice(before);
    expect(reads.map((c) => [c.op, c.status])).toEqual([['readData', 200]]);
    expect(fake.requests.at(-1)?.url).toBe(`/v1/secret/data/${secret}?version=2`);
    const mark = fake.calls.length;
    expect((await p.read(secret)).value).toBe(values[2]);
    expect(fake.calls.length - mark).toBe(1);
    expect(await rejection(p.read(secret, { version: '9' }))).toMatchObject({
      code: 'NOT_FOUND',
      secret,
      secretVersion: '9',
    });
    await p.close();
  });

  it('two concurrent writers: check-and-set lets exactly one win, the other is VERSION_CONFLICT', async () => {
    const a = vault();
    const b = vault();
    const secret = secretName();
    await a.create(secret, secretText('first'));
    // Both writers read the metadata (current version 1) before either writes.
    fake.barrier('readMetadata', 2);
    const values = [secretText('a'), secretText('b')];
    const outcomes = await Promise.allSettled([
      a.write(secret, values[0] as string),
      b.write(secret, values[1] as string),
    ]);
    const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [{ i, version: o.value.version }] : []));
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ code: 'VERSION_CONFLICT', reason: 'conflict', secret });
    expect(everyTextOf(lost[0])).not.toContain(values[0]);
    expect(everyTextOf(lost[0])).not.toContain(values[1]);
    // Nothing was overwritten: two versions, the winner's value pending.
    expect(fake.versions(secret)?.map((v) => v.version)).toEqual([1, 2]);
    const winner = won[0] as { i: number; version: string };
    const pending = await a.read(secret, 'pending');
    expect({ version: pending.version, value: pending.value }).toEqual({
      version: winner.version,
      value: values[winner.i],
    });
    expect(fake.ops('writeData').filter((c) => c.path === secret && c.status === 400)).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a write racing a promote of the pending version does not revoke it once it is current', async () => {
    const p = vault();
    const q = vault();
    const secret = secretName();
    await p.create(secret, secretText('1'));
    const second = secretText('2');
    const v2 = (await p.write(secret, second)).version;
    // The writer has read the metadata (pending 2) when its data write is held; meanwhile 2 is promoted.
    const release = fake.hold('writeData');
    const writing = q.write(secret, secretText('3'));
    await until(() => fake.requests.some((r) => r.op === 'writeData' && r.status === 0), 'the write is held');
    expect(await p.promote(secret, v2)).toMatchObject({ current: v2, previous: '1' });
    release();
    const v3 = (await writing).version;
    const current = await p.read(secret);
    expect({ version: current.version, value: current.value }).toEqual({ version: v2, value: second });
    expect((await p.read(secret, 'pending')).version).toBe(v3);
    expect(fake.versions(secret)?.find((v) => v.version === Number(v2))).toMatchObject({ deleted: false });
    await Promise.all([p.close(), q.close()]);
  });

  it('refuses a write that would make Vault drop the current or previous version (max_versions), writing nothing', async () => {
    const p = vault();
    const secret = secretName();
    const first = secretText('1');
    await p.create(secret, first);
    const res = await fetch(`${fake.url}/v1/secret/metadata/${secret}`, {
      method: 'POST',
      headers: { 'x-vault-token': fake.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ max_versions: 3 }),
    });
    expect(res.status).toBe(204);
    await p.write(secret, secretText('2'));
    const v3 = (await p.write(secret, secretText('3'))).version;
    // Version 4 would leave versions 2-4: the current version 1 would be gone.
    const e = await rejection(p.write(secret, secretText('4')));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'invalid', secret });
    expect(e.message).toContain('current version 1');
    expect(fake.versions(secret)?.map((v) => v.version)).toEqual([1, 2, 3]);
    expect((await p.read(secret, 'pending')).version).toBe(v3);
    // Promoted, 1 is previous and still protected until it is revoked.
    await p.promote(secret, v3);
    expect((await rejection(p.write(secret, secretText('4')))).message).toContain('previous version 1');
    await p.revoke(secret, '1');
    const v4 = (await p.write(secret, secretText('4'))).version;
    expect(fake.versions(secret)?.map((v) => v.version)).toEqual([2, 3, 4]);
    expect((await p.read(secret, 'pending')).version).toBe(v4);
    expect((await p.read(secret)).version).toBe(v3);
    await p.close();
  });

  it('reads a secret written by another client (no custom_metadata) and adopts it on write', async () => {
    const p = vault();
    const secret = secretName();
    const first = secretText('first');
    const res = await fetch(`${fake.url}/v1/secret/data/${secret}`, {
      method: 'POST',
      headers: { 'x-vault-token': fake.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { value: first, note: 'written by vault kv put' } }),
    });
    expect(res.status).toBe(200);
    expect((await p.read(secret)).value).toBe(first);
    expect((await p.listVersions(secret))[0]).toMatchObject({ version: '1', stage: 'current' });
    const v2 = (await p.write(secret, secretText('second'))).version;
    expect(fake.customMetadata(secret)).toEqual({ 'summit-current': '1', 'summit-pending': v2 });
    expect((await p.read(secret)).value).toBe(first);
    await p.close();
  });

  it('a version without the field is refused with reason invalid; field and mount are options', async () => {
    const p = vault({ field: 'password', mount: 'kv' });
    const secret = secretName();
    const value = secretText();
    await p.create(secret, value);
    expect(fake.versions(secret, { mount: 'kv' })).toHaveLength(1);
    expect(fake.versions(secret)).toBeUndefined();
    expect((await p.read(secret)).value).toBe(value);
    const other = vault({ mount: 'kv' });
    expect(await rejection(other.read(secret))).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'invalid', secret });
    await Promise.all([p.close(), other.close()]);
  });
});

describe('vault provider: references', () => {
  it('a {"$secret": {"provider": "vault", ...}} reference parses and resolves, field and version included', async () => {
    const p = vault();
    const secret = `billing/${secretName('db')}`;
    const first = { user: 'app', password: secretText('pw1') };
    const second = { user: 'app', password: secretText('pw2') };
    await p.create(secret, JSON.stringify(first));
    await p.promote(secret, (await p.write(secret, JSON.stringify(second))).version);
    const doc = {
      host: 'db.internal',
      password: { $secret: { provider: 'vault', name: secret, field: 'password' } },
      old: { $secret: { provider: 'vault', name: secret, field: 'password', version: 'previous' } },
      pinned: { $secret: { provider: 'vault', name: secret, version: '1' } },
    };
    expect(validateSecretRef(doc.password)).toEqual({ provider: 'vault', name: secret, field: 'password' });
    const resolver = new SecretResolver({ providers: [p], ttlMs: 0 });
    const out = await resolveSecretRefs(doc, resolver);
    expect(out).toEqual({
      host: 'db.internal',
      password: second.password,
      old: first.password,
      pinned: JSON.stringify(first),
    });
    await resolver.close();
    await p.close();
  });
});

describe('vault provider: auth and namespaces', () => {
  it('AppRole: one login, its token on every request, the namespace header on every request', async () => {
    const logins = fake.ops('login').length;
    const before = fake.calls.length;
    const p = viaAppRole();
    const secret = secretName();
    await Promise.all([p.create(secret, secretText()), p.listVersions(secretName('none')).catch(() => [])]);
    await p.read(secret);
    await p.close();
    const calls = fake.calls.slice(before);
    expect(fake.ops('login').length - logins).toBe(1);
    const login = calls.find((c) => c.op === 'login');
    expect(login).toMatchObject({ status: 200, namespace: NAMESPACE, token: undefined });
    const rest = calls.filter((c) => c.op !== 'login');
    expect(rest.length).toBeGreaterThan(2);
    expect(new Set(rest.map((c) => c.namespace))).toEqual(new Set([NAMESPACE]));
    expect(new Set(rest.map((c) => c.token)).size).toBe(1);
    expect(rest[0]?.token).toMatch(/^hvs\./);
    expect(rest[0]?.token).not.toBe(fake.rootToken);
    // Stored in the namespace, not in the root namespace.
    expect(fake.versions(secret, { namespace: NAMESPACE, mount: 'kv' })).toHaveLength(1);
    expect(fake.versions(secret, { mount: 'kv' })).toBeUndefined();
    expect(guard.connections.every((c) => c.host === '127.0.0.1')).toBe(true);
  });

  it('AppRole: a token Vault refuses (403) is replaced by a new login and the call succeeds', async () => {
    const p = viaAppRole();
    const secret = secretName();
    const value = secretText();
    await p.create(secret, value);
    fake.expireTokens();
    const before = fake.calls.length;
    expect((await p.read(secret)).value).toBe(value);
    expect(fake.calls.slice(before).map((c) => [c.op, c.status])).toEqual([
      ['readData', 403],
      ['login', 200],
      ['readData', 200],
    ]);
    await p.close();
  });

  it('AppRole: a token past its lease is replaced before use (no 403 answered)', async () => {
    const p = createVaultProvider({ address: shortLived.url, appRole, maxRetries: 0 });
    const secret = secretName();
    const value = secretText();
    await p.create(secret, value);
    const first = shortLived.calls.at(-1)?.token as string;
    await until(() => shortLived.tokenExpired(first), 'the first token expired');
    const before = shortLived.calls.length;
    expect((await p.read(secret)).value).toBe(value);
    const after = shortLived.calls.slice(before);
    expect(after.map((c) => [c.op, c.status])).toEqual([
      ['login', 200],
      ['readData', 200],
    ]);
    expect(after[1]?.token).not.toBe(first);
    await p.close();
  });

  it('a wrong token, a token of another namespace and a wrong secret id are reason denied', async () => {
    const secret = secretName();
    await vault().create(secret, secretText());
    const wrong = vault({ token: 'hvs.not-a-token' });
    const e = await rejection(wrong.read(secret));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', provider: 'vault', secret });
    expect(e.cause).toBeInstanceOf(SanitizedCause);
    expect(e.cause).toMatchObject({ name: 'VaultHttpError', status: 403 });
    expect(e.message).not.toContain('hvs.not-a-token');
    // A token an AppRole login issued in the namespace is refused in the root namespace.
    const inNs = viaAppRole();
    await inNs.create(secretName(), secretText());
    const issued = fake.calls.at(-1)?.token as string;
    expect(fake.calls.at(-1)?.namespace).toBe(NAMESPACE);
    const elsewhere = vault({ token: issued });
    expect(await rejection(elsewhere.read(secret))).toMatchObject({ reason: 'denied', secret });
    const badRole = viaAppRole({ appRole: { ...appRole, secretId: 'wrong-secret-id' } });
    const logins = fake.ops('login').length;
    const r = await rejection(badRole.read(secret));
    expect(r).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', secret });
    expect(r.message).toContain('AppRole login');
    expect(everyTextOf(r)).not.toContain('wrong-secret-id');
    expect(
      fake
        .ops('login')
        .slice(logins)
        .map((c) => c.status),
    ).toEqual([400]);
    await Promise.all([wrong.close(), inNs.close(), elsewhere.close(), badRole.close()]);
  });

  it('takes the address, token and namespace from VAULT_ADDR, VAULT_TOKEN and VAULT_NAMESPACE', async () => {
    const saved = { ...process.env };
    process.env.VAULT_ADDR = fake.url;
    process.env.VAULT_TOKEN = fake.rootToken;
    process.env.VAULT_NAMESPACE = NAMESPACE;
    try {
      const p = createVaultProvider({ maxRetries: 0 });
      const before = fake.calls.length;
      const secret = secretName();
      await p.create(secret, secretText());
      expect(fake.calls.slice(before).every((c) => c.token === fake.rootToken && c.namespace === NAMESPACE)).toBe(true);
      expect(fake.versions(secret, { namespace: NAMESPACE })).toHaveLength(1);
      await p.close();
    } finally {
      process.env = saved;
    }
  });
});

describe('vault provider: error mapping and options', () => {
  it('a sealed or failing Vault is reason unavailable; reads are retried when allowed, writes are not', async () => {
    const p = vault();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'readData', status: 503, body: vaultErrors('Vault is sealed') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    fake.fail({ op: 'readData', status: 429, body: vaultErrors('request rate limit exceeded') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable' });
    const retrying = vault({ maxRetries: 2 });
    fake.fail({ op: 'readData', status: 500, body: vaultErrors('internal error'), times: 2 });
    expect((await retrying.read(secret)).name).toBe(secret);
    const writes = fake.requests.filter((r) => r.op === 'writeData').length;
    fake.fail({ op: 'writeData', status: 500, body: vaultErrors('internal error') });
    expect(await rejection(retrying.write(secret, secretText()))).toMatchObject({ reason: 'unavailable' });
    expect(fake.requests.filter((r) => r.op === 'writeData').length - writes).toBe(1);
    expect(await rejection(retrying.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
    await Promise.all([p.close(), retrying.close()]);
  });

  it('a dropped connection and an unreachable address are reason unavailable', async () => {
    const p = vault();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'readData', status: 0, drop: true });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    const gone = await startVaultServer();
    const url = gone.url;
    await gone.close();
    const dead = vault({ address: url });
    expect(await rejection(dead.read(secret))).toMatchObject({ reason: 'unavailable' });
    await Promise.all([p.close(), dead.close()]);
  });

  it('a Vault message that quotes the value being written is redacted from the cause', async () => {
    const p = vault();
    const secret = secretName();
    await p.create(secret, secretText());
    const value = secretText('echoed');
    fake.fail({ op: 'writeData', status: 400, body: vaultErrors(`bad data ${value}`) });
    const e = await rejection(p.write(secret, value));
    expect(e).toMatchObject({ reason: 'invalid', secret });
    expect(everyTextOf(e)).not.toContain(value);
    expect(String((e.cause as Error).message)).toContain('[REDACTED]');
    // Nothing half-written: still no pending version.
    expect(await rejection(p.read(secret, 'pending'))).toMatchObject({ code: 'NOT_FOUND' });
    await p.close();
  });

  it('a mount that is not a KV version 2 engine is reason invalid, not a missing secret', async () => {
    const p = vault({ mount: 'nope' });
    const secret = secretName();
    for (const call of [() => p.read(secret), () => p.listVersions(secret), () => p.create(secret, secretText())]) {
      const e = await rejection(call());
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'invalid', secret });
    }
    expect((await rejection(p.read(secret))).message).toContain('mount "nope"');
    await p.close();
  });

  it('names the bad option', () => {
    const saved = { ...process.env };
    delete process.env.VAULT_ADDR;
    delete process.env.VAULT_TOKEN;
    delete process.env.VAULT_NAMESPACE;
    try {
      expect(() => createVaultProvider({ token: 't' })).toThrow(/option address/);
      expect(() => createVaultProvider({ address: 'ftp://vault', token: 't' })).toThrow(/option address/);
      expect(() => createVaultProvider({ address: fake.url })).toThrow(/option token/);
      expect(() => createVaultProvider({ address: fake.url, token: 't', appRole })).toThrow(/option token/);
      expect(() => createVaultProvider({ address: fake.url, appRole: { roleId: '', secretId: 's' } })).toThrow(
        /option appRole.roleId/,
      );
      expect(() => createVaultProvider({ address: fake.url, token: 't', mount: '/bad//' })).toThrow(/option mount/);
      expect(() => createVaultProvider({ address: fake.url, token: 't', namespace: 'a b' })).toThrow(
        /option namespace/,
      );
      expect(() => createVaultProvider({ address: fake.url, token: 't', maxRetries: -1 })).toThrow(/option maxRetries/);
      expect(() => createVaultProvider({ address: fake.url, token: 't', requestTimeoutMs: 0 })).toThrow(
        /option requestTimeoutMs/,
      );
      expect(() => createVaultProvider({ address: fake.url, token: 't', name: 'Bad Name' })).toThrow(/option name/);
      expect(createVaultProvider({ address: fake.url, token: 't' }).name).toBe('vault');
    } finally {
      process.env = saved;
    }
  });
});
