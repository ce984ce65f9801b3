/**
 * The Azure provider through the real `@azure/keyvault-secrets` 4.11 against the Key Vault fake on
 * https://127.0.0.1 (self-signed certificate made by openssl for this run, trusted through a custom
 * agent only), with the 401 bearer challenge and a static TokenCredential (no @azure/identity).
 */
import { Agent } from 'node:https';
import { SanitizedCause, type SecretProvider } from '@summit-config/secrets';
import { type AzureProviderOptions, createAzureProvider, staticTokenCredential } from '@summit-config/secrets/azure';
import { type AzureFake, startAzureKeyVault, vaultError } from '@summit-config/test-support/fakes/azure-key-vault';
import { offlineClouds, stallNext } from '@summit-config/test-support/fakes/clouds';
import { selfSignedCertificate, type TestCertificate } from '@summit-config/test-support/fakes/tls';
import { describe, expect, it } from 'vitest';
import { everyTextOf, rejection, runProviderContract, secretName, secretText } from './provider-contract.js';

let fake: AzureFake;
let tls: TestCertificate;
let agent: Agent;
const tokenRequests: string[][] = [];

const guard = offlineClouds(async () => {
  tls = await selfSignedCertificate();
  fake = await startAzureKeyVault({ tls });
  agent = new Agent({ ca: tls.cert, keepAlive: true });
  return [{ close: () => agent.destroy() }, fake];
});

function azure(extra: Partial<AzureProviderOptions> = {}): SecretProvider {
  const inner = staticTokenCredential(fake.token);
  return createAzureProvider({
    vaultUrl: fake.url,
    credential: {
      getToken(scopes, options) {
        tokenRequests.push(Array.isArray(scopes) ? scopes : [scopes]);
        return inner.getToken(scopes, options);
      },
    },
    disableChallengeResourceVerification: true,
    maxRetries: 0,
    clientOptions: { agent } as never,
    ...extra,
  });
}

runProviderContract('azure (real SDK, fake Key Vault over https)', {
  kind: 'azure',
  create: () => azure(),
  stallNextRead: () => stallNext(fake, 'listVersions'),
  capabilities: { disable: true, destroy: false, labels: true, atomicPromote: false, durable: true },
});

describe('azure provider: tags and the challenge on the wire', () => {
  it('answers the 401 challenge with the credential, for the vault scope, then sends the token', async () => {
    const before = fake.requests.length;
    const p = azure();
    await p.create(secretName(), secretText());
    const mine = fake.requests.slice(before);
    expect(mine[0]).toMatchObject({ op: 'challenge', status: 401, authorized: false });
    expect(mine.slice(1).every((r) => r.authorized && r.status < 500)).toBe(true);
    expect(tokenRequests.at(-1)).toEqual(['https://vault.azure.net/.default']);
    expect([...fake.apiVersions]).toEqual(['2025-07-01']);
    await p.close();
  });

  it('stage tags move with write/promote/revoke; revoked versions are disabled', async () => {
    const p = azure();
    const secret = secretName();
    const v1 = (await p.create(secret, secretText('1'), { labels: { owner: 'ops' } })).version;
    const v2 = (await p.write(secret, secretText('2'))).version;
    const stages = () =>
      Object.fromEntries(
        (fake.versions(secret) ?? []).map((v) => [v.id, `${v.tags.stage ?? '-'}/${v.enabled ? 'on' : 'off'}`]),
      );
    expect(stages()).toEqual({ [v1]: 'current/on', [v2]: 'pending/on' });
    await p.promote(secret, v2);
    expect(stages()).toEqual({ [v1]: 'previous/on', [v2]: 'current/on' });
    const v3 = (await p.write(secret, secretText('3'))).version;
    await p.promote(secret, v3);
    expect(stages()).toEqual({ [v1]: '-/off', [v2]: 'previous/on', [v3]: 'current/on' });
    // Labels survive re-tagging.
    expect(fake.versions(secret)?.[0]?.tags).toEqual({ owner: 'ops' });
    await p.revoke(secret, v2);
    expect(stages()).toEqual({ [v1]: '-/off', [v2]: '-/off', [v3]: 'current/on' });
    await p.close();
  });

  it('an interrupted promote (two versions tagged current) resolves to the newest stageSince, and the next promote cleans up', async () => {
    const p = azure();
    const secret = secretName();
    const v1 = (await p.create(secret, secretText('1'))).version;
    const next = secretText('2');
    const v2 = (await p.write(secret, next)).version;
    // The promote's second tag update (old current -> previous) fails: v1 and v2 both say current.
    fake.fail({ op: 'PATCH version', skip: 1, status: 500, body: vaultError('InternalServerError', 'boom') });
    expect(await rejection(p.promote(secret, v2))).toMatchObject({ reason: 'unavailable', secretVersion: v1 });
    expect(fake.versions(secret)?.map((v) => v.tags.stage)).toEqual(['current', 'current']);
    expect((await p.read(secret)).value).toBe(next);
    const list = await p.listVersions(secret);
    expect(list.map((v) => [v.version, v.stage])).toEqual([
      [v1, undefined],
      [v2, 'current'],
    ]);
    const v3 = (await p.write(secret, secretText('3'))).version;
    expect(await p.promote(secret, v3)).toMatchObject({ current: v3, previous: v2 });
    expect(fake.versions(secret)?.map((v) => [v.tags.stage ?? '-', v.enabled])).toEqual([
      ['-', false],
      ['previous', true],
      ['current', true],
    ]);
    await p.close();
  });

  it('a secret Summit never managed (no stage tags) reads its latest version as current', async () => {
    const p = azure();
    const secret = secretName();
    const { SecretClient } = await import('@azure/keyvault-secrets');
    const raw = new SecretClient(fake.url, staticTokenCredential(fake.token), {
      disableChallengeResourceVerification: true,
      agent,
    } as never);
    await raw.setSecret(secret, 'one');
    const two = await raw.setSecret(secret, 'two');
    expect((await p.read(secret)).version).toBe(two.properties.version);
    expect((await p.read(secret)).value).toBe('two');
    expect(await rejection(p.read(secret, 'previous'))).toMatchObject({ code: 'NOT_FOUND' });
    await p.close();
  });

  it('reaches nothing but the fake', () => {
    expect(fake.requests.length).toBeGreaterThan(0);
    for (const r of fake.requests) expect(r.remoteAddress).toBe('127.0.0.1');
    expect(guard.refused).toEqual([]);
    expect(guard.connections.every((c) => c.host === '127.0.0.1')).toBe(true);
  });
});

describe('azure provider: error mapping', () => {
  it('a wrong token is reason denied', async () => {
    const p = azure({ credential: staticTokenCredential('not-the-token') });
    const e = await rejection(p.read(secretName()));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', provider: 'azure' });
    expect(e.cause).toBeInstanceOf(SanitizedCause);
    expect(e.cause).toMatchObject({ status: 401 });
    await p.close();
  });

  it('reading a disabled version is reason revoked (403 SecretDisabled)', async () => {
    const p = azure();
    const secret = secretName();
    await p.create(secret, secretText());
    const v2 = (await p.write(secret, secretText())).version;
    await p.revoke(secret, v2);
    const e = await rejection(p.read(secret, { version: v2 }));
    expect(e).toMatchObject({ reason: 'revoked', secretVersion: v2 });
    expect(e.cause).toMatchObject({ status: 403 });
    await p.close();
  });

  it('server errors, a dropped connection and an unreachable vault are reason unavailable', async () => {
    const p = azure();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'listVersions', status: 503, body: vaultError('ServiceUnavailable', 'busy') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    fake.fail({ op: 'listVersions', status: 0, drop: true });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    const gone = await startAzureKeyVault({ tls });
    const url = gone.url;
    await gone.close();
    const dead = azure({ vaultUrl: url });
    expect(await rejection(dead.read(secret))).toMatchObject({ reason: 'unavailable' });
    await Promise.all([p.close(), dead.close()]);
  });

  it('without trusting the certificate the call fails (no TLS bypass)', async () => {
    const p = azure({ clientOptions: {} });
    const e = await rejection(p.read(secretName()));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'failed' });
    expect(String((e.cause as Error).message)).toMatch(/certificate/i);
    await p.close();
  });

  it('an SDK message that quotes the value being written is redacted', async () => {
    const p = azure();
    const secret = secretName();
    await p.create(secret, secretText());
    const value = secretText('echoed');
    fake.fail({ op: 'PUT secret', status: 400, body: vaultError('BadParameter', `bad value ${value}`) });
    const e = await rejection(p.write(secret, value));
    expect(e).toMatchObject({ reason: 'invalid' });
    expect(everyTextOf(e)).not.toContain(value);
    await p.close();
  });

  it('names the bad option', () => {
    expect(() => createAzureProvider({ vaultUrl: 'http://vault', credential: staticTokenCredential('t') })).toThrow(
      /option vaultUrl/,
    );
    expect(() => createAzureProvider({ vaultUrl: 'https://vault' })).toThrow(/option credential/);
    expect(() =>
      createAzureProvider({ vaultUrl: 'https://v', credential: staticTokenCredential('t'), maxRetries: -1 }),
    ).toThrow(/option maxRetries/);
    expect(() => staticTokenCredential('')).toThrow(/token/);
  });
});
