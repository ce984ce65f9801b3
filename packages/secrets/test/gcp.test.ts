/**
 * The GCP provider through the real `@google-cloud/secret-manager` v6 in REST fallback mode against
 * the Secret Manager fake on 127.0.0.1, with a static bearer token (no metadata server, no token endpoint).
 */
import { SanitizedCause, type SecretProvider } from '@summit-config/secrets';
import { createGcpProvider, type GcpProviderOptions, staticTokenAuth } from '@summit-config/secrets/gcp';
import { offlineClouds, stallNext } from '@summit-config/test-support/fakes/clouds';
import { type GcpFake, gcpError, startGcpSecretManager } from '@summit-config/test-support/fakes/gcp-secret-manager';
import { describe, expect, it } from 'vitest';
import { everyTextOf, rejection, runProviderContract, secretName, secretText } from './provider-contract.js';

const token = 'ya29.summit-fake-token';
let fake: GcpFake;
const guard = offlineClouds(async () => {
  fake = await startGcpSecretManager({ token });
  return [fake];
});

function gcp(extra: Partial<GcpProviderOptions> = {}): SecretProvider {
  return createGcpProvider({
    projectId: fake.projectId,
    apiEndpoint: '127.0.0.1',
    port: fake.port,
    protocol: 'http',
    accessToken: token,
    maxRetries: 0,
    ...extra,
  });
}

runProviderContract('gcp (real SDK in REST fallback mode, fake Secret Manager)', {
  kind: 'gcp',
  create: () => gcp(),
  stallNextRead: () => stallNext(fake, 'accessSecretVersion'),
  capabilities: { disable: true, destroy: true, labels: false, atomicPromote: true, durable: true },
});

describe('gcp provider: aliases and states on the wire', () => {
  it('write/promote/revoke move the aliases and disable revoked versions', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText('1'));
    expect(fake.aliases(secret)).toEqual({ current: 1 });
    await p.write(secret, secretText('2'));
    expect(fake.aliases(secret)).toEqual({ current: 1, pending: 2 });
    await p.promote(secret, '2');
    expect(fake.aliases(secret)).toEqual({ current: 2, previous: 1 });
    await p.write(secret, secretText('3'));
    await p.promote(secret, '3');
    expect(fake.aliases(secret)).toEqual({ current: 3, previous: 2 });
    expect(fake.states(secret)).toEqual({ 1: 'DISABLED', 2: 'ENABLED', 3: 'ENABLED' });
    await p.revoke(secret, '2');
    expect(fake.aliases(secret)).toEqual({ current: 3 });
    await p.destroy?.(secret, '2');
    expect(fake.states(secret)).toEqual({ 1: 'DISABLED', 2: 'DESTROYED', 3: 'ENABLED' });
    const list = await p.listVersions(secret);
    expect(list.map((v) => [v.version, v.stage, v.state, v.native])).toEqual([
      ['1', undefined, 'disabled', []],
      ['2', undefined, 'destroyed', []],
      ['3', 'current', 'enabled', ['current']],
    ]);
    expect(list.every((v) => typeof v.createdAt === 'string')).toBe(true);
    await p.close();
  });

  it('sends REST requests with the bearer token to the fake only', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText());
    await p.read(secret);
    await p.close();
    const ops = new Set(fake.requests.map((r) => r.op));
    for (const op of ['createSecret', 'addSecretVersion', 'updateSecret', 'accessSecretVersion', 'getSecret']) {
      expect(ops).toContain(op);
    }
    for (const r of fake.requests) {
      expect(r.remoteAddress).toBe('127.0.0.1');
      expect(r.authorized).toBe(true);
      expect(r.url).toMatch(/^\/v1\/projects\/summit-test\/secrets/);
    }
    expect(guard.refused).toEqual([]);
    expect(guard.connections.every((c) => c.host === '127.0.0.1')).toBe(true);
  });

  it('a secret Summit never managed (no aliases) reads its latest version as current', async () => {
    const p = gcp();
    const secret = secretName();
    const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
    const raw = new SecretManagerServiceClient({
      fallback: true,
      apiEndpoint: '127.0.0.1',
      port: fake.port,
      protocol: 'http',
      authClient: staticTokenAuth(token) as never,
    });
    await raw.createSecret({
      parent: 'projects/summit-test',
      secretId: secret,
      secret: { replication: { automatic: {} } },
    });
    await raw.addSecretVersion({
      parent: `projects/summit-test/secrets/${secret}`,
      payload: { data: Buffer.from('one') },
    });
    await raw.addSecretVersion({
      parent: `projects/summit-test/secrets/${secret}`,
      payload: { data: Buffer.from('two') },
    });
    await raw.close();
    const current = await p.read(secret);
    expect(current.value).toBe('two');
    expect(current.version).toBe('2');
    expect(await rejection(p.read(secret, 'previous'))).toMatchObject({ code: 'NOT_FOUND' });
    await p.close();
  });

  it('a concurrent alias change is retried against the fresh aliases (etag compare-and-set)', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText());
    const v2 = (await p.write(secret, secretText('2'))).version;
    fake.fail({ op: 'updateSecret', status: 400, body: gcpError(400, 'FAILED_PRECONDITION', 'etag mismatch') });
    expect(await p.promote(secret, v2)).toMatchObject({ current: v2, previous: '1' });
    expect(fake.aliases(secret)).toEqual({ current: 2, previous: 1 });
    fake.fail({
      op: 'updateSecret',
      status: 400,
      times: 5,
      body: gcpError(400, 'FAILED_PRECONDITION', 'etag mismatch'),
    });
    const v3 = (await p.write(secret, secretText('3')).catch((e: unknown) => e)) as { reason?: string };
    expect(v3).toMatchObject({ code: 'VERSION_CONFLICT', reason: 'conflict' });
    // The version that never became pending was disabled again.
    expect(fake.states(secret)).toEqual({ 1: 'ENABLED', 2: 'ENABLED', 3: 'DISABLED' });
    expect(fake.aliases(secret)).toEqual({ current: 2, previous: 1 });
    await p.close();
  });
});

describe('gcp provider: error mapping', () => {
  it('a wrong token is reason denied', async () => {
    const p = gcp({ accessToken: () => 'wrong-token' });
    const e = await rejection(p.read(secretName()));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', provider: 'gcp' });
    expect(e.cause).toBeInstanceOf(SanitizedCause);
    expect(e.cause).toMatchObject({ code: '16' });
    await p.close();
  });

  it('without a token or auth client: Application Default Credentials fail fast, no metadata server probed', async () => {
    const saved = { ...process.env };
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.CLOUDSDK_CONFIG = '/nonexistent/gcloud';
    const before = guard.connections.length;
    try {
      const p = createGcpProvider({
        projectId: fake.projectId,
        apiEndpoint: '127.0.0.1',
        port: fake.port,
        protocol: 'http',
      });
      const e = await rejection(p.read(secretName()));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', provider: 'gcp' });
      await p.close();
    } finally {
      process.env = saved;
    }
    expect(guard.connections.slice(before).filter((c) => c.host !== '127.0.0.1')).toEqual([]);
  });

  it('accessing a disabled version is reason revoked (FAILED_PRECONDITION)', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText());
    const v2 = (await p.write(secret, secretText())).version;
    await p.revoke(secret, v2);
    const e = await rejection(p.read(secret, { version: v2 }));
    expect(e).toMatchObject({ reason: 'revoked', secretVersion: v2 });
    expect(e.cause).toMatchObject({ code: '9' });
    await p.close();
  });

  it('server errors and an unreachable endpoint are reason unavailable', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'accessSecretVersion', status: 500, body: gcpError(500, 'INTERNAL', 'boom') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    fake.fail({ op: 'accessSecretVersion', status: 0, drop: true });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    const gone = await startGcpSecretManager();
    const port = gone.port;
    await gone.close();
    const dead = gcp({ port });
    expect(await rejection(dead.read(secret))).toMatchObject({ reason: 'unavailable' });
    await Promise.all([p.close(), dead.close()]);
  });

  it('an SDK message that quotes the value being written is redacted', async () => {
    const p = gcp();
    const secret = secretName();
    await p.create(secret, secretText());
    const value = secretText('echoed');
    fake.fail({ op: 'addSecretVersion', status: 400, body: gcpError(400, 'INVALID_ARGUMENT', `bad payload ${value}`) });
    const e = await rejection(p.write(secret, value));
    expect(e).toMatchObject({ reason: 'invalid' });
    expect(everyTextOf(e)).not.toContain(value);
    await p.close();
  });

  it('names the bad option', () => {
    expect(() => createGcpProvider({} as GcpProviderOptions)).toThrow(/option projectId/);
    expect(() => createGcpProvider({ projectId: 'p', accessToken: 't', authClient: {} })).toThrow(/exclusive/);
    expect(() => createGcpProvider({ projectId: 'p', protocol: 'ftp' as 'http' })).toThrow(/option protocol/);
    expect(() => createGcpProvider({ projectId: 'p', port: -1 })).toThrow(/option port/);
  });
});
