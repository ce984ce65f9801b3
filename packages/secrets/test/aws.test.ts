/**
 * The AWS provider through the real `@aws-sdk/client-secrets-manager` against the AWS JSON 1.1
 * fake on 127.0.0.1.
 */
import { SanitizedCause, type SecretProvider } from '@summit-config/secrets';
import { type AwsProviderOptions, createAwsProvider } from '@summit-config/secrets/aws';
import { type AwsFake, awsError, startAwsSecretsManager } from '@summit-config/test-support/fakes/aws-secrets-manager';
import { offlineClouds, stallNext } from '@summit-config/test-support/fakes/clouds';
import { describe, expect, it } from 'vitest';
import { everyTextOf, rejection, runProviderContract, secretName, secretText } from './provider-contract.js';

const credentials = { accessKeyId: 'AKIDSUMMITFAKE0001', secretAccessKey: 'fake-secret-access-key' };
let fake: AwsFake;
const guard = offlineClouds(async () => {
  fake = await startAwsSecretsManager({ accessKeyId: credentials.accessKeyId });
  return [fake];
});

function aws(extra: Partial<AwsProviderOptions> = {}): SecretProvider {
  return createAwsProvider({ region: 'us-east-1', endpoint: fake.url, credentials, maxAttempts: 1, ...extra });
}

runProviderContract('aws (real SDK, fake Secrets Manager)', {
  kind: 'aws',
  create: () => aws(),
  stallNextRead: () => stallNext(fake, 'GetSecretValue'),
  capabilities: { disable: false, destroy: false, labels: false, atomicPromote: true, durable: true },
});

describe('aws provider: staging labels on the wire', () => {
  it('pending -> AWSPENDING; promote moves AWSCURRENT, AWS moves AWSPREVIOUS; revoke removes labels', async () => {
    const p = aws();
    const secret = secretName();
    const v1 = (await p.create(secret, secretText('1'))).version;
    expect(fake.stages(secret)).toEqual({ [v1]: ['AWSCURRENT'] });
    const v2 = (await p.write(secret, secretText('2'))).version;
    expect(fake.stages(secret)).toEqual({ [v1]: ['AWSCURRENT'], [v2]: ['AWSPENDING'] });
    await p.promote(secret, v2);
    expect(fake.stages(secret)).toEqual({ [v1]: ['AWSPREVIOUS'], [v2]: ['AWSCURRENT'] });
    const v3 = (await p.write(secret, secretText('3'))).version;
    await p.promote(secret, v3);
    // v1 lost AWSPREVIOUS to v2 by AWS's own rule: deprecated, reported as disabled.
    expect(fake.stages(secret)).toEqual({ [v1]: [], [v2]: ['AWSPREVIOUS'], [v3]: ['AWSCURRENT'] });
    await p.revoke(secret, v2);
    expect(fake.stages(secret)).toEqual({ [v1]: [], [v2]: [], [v3]: ['AWSCURRENT'] });
    const list = await p.listVersions(secret);
    expect(list.map((v) => [v.version, v.stage, v.state, v.native])).toEqual([
      [v1, undefined, 'disabled', []],
      [v2, undefined, 'disabled', []],
      [v3, 'current', 'enabled', ['AWSCURRENT']],
    ]);
    await p.close();
  });

  it('reads a secret another client wrote with default labels (AWSCURRENT), and its AWSPREVIOUS', async () => {
    const p = aws();
    const secret = secretName();
    const first = secretText('first');
    await p.create(secret, first);
    // Another tool rotates without stages: PutSecretValue defaults to AWSCURRENT.
    const { PutSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const raw = new SecretsManagerClient({ region: 'us-east-1', endpoint: fake.url, credentials });
    const second = secretText('second');
    await raw.send(new PutSecretValueCommand({ SecretId: secret, SecretString: second }));
    raw.destroy();
    expect((await p.read(secret)).value).toBe(second);
    expect((await p.read(secret, 'previous')).value).toBe(first);
    await p.close();
  });

  it('sends explicit credentials and reaches nothing but the fake', async () => {
    const p = aws();
    const secret = secretName();
    await p.create(secret, secretText());
    await p.read(secret);
    await p.close();
    expect(fake.requests.length).toBeGreaterThan(0);
    for (const r of fake.requests) {
      expect(r.remoteAddress).toBe('127.0.0.1');
      expect(r.host).toBe(`127.0.0.1:${fake.port}`);
    }
    expect(fake.requests.filter((r) => r.op !== 'unknown').every((r) => r.authorized)).toBe(true);
    expect(guard.refused).toEqual([]);
    expect(guard.connections.every((c) => c.host === '127.0.0.1')).toBe(true);
  });
});

describe('aws provider: error mapping', () => {
  it('a wrong access key is reason denied', async () => {
    const p = aws({ credentials: { accessKeyId: 'AKIDWRONG', secretAccessKey: 'x' } });
    const secret = secretName();
    const e = await rejection(p.read(secret));
    expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied', provider: 'aws', secret });
    expect(e.cause).toBeInstanceOf(SanitizedCause);
    expect(e.cause).toMatchObject({ name: 'UnrecognizedClientException', status: 400 });
    await p.close();
  });

  it('no credentials at all: denied, without probing a metadata server', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) {
      if (k.startsWith('AWS_') && k !== 'AWS_EC2_METADATA_DISABLED') delete process.env[k];
    }
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    const before = guard.connections.length;
    try {
      const p = createAwsProvider({ region: 'us-east-1', endpoint: fake.url, maxAttempts: 1 });
      const e = await rejection(p.read(secretName()));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'denied' });
      await p.close();
    } finally {
      process.env = saved;
    }
    expect(guard.connections.slice(before).filter((c) => c.host !== '127.0.0.1')).toEqual([]);
  });

  it('server errors and throttling are reason unavailable; the SDK retries when allowed', async () => {
    const p = aws();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'GetSecretValue', status: 500, body: awsError('InternalServiceError', 'boom') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    fake.fail({ op: 'GetSecretValue', status: 400, body: awsError('ThrottlingException', 'Rate exceeded') });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable' });
    const retrying = aws({ maxAttempts: 3 });
    fake.fail({ op: 'GetSecretValue', status: 500, body: awsError('InternalServiceError', 'boom') });
    expect((await retrying.read(secret)).name).toBe(secret);
    await Promise.all([p.close(), retrying.close()]);
  });

  it('a dropped connection and an unreachable endpoint are reason unavailable', async () => {
    const p = aws();
    const secret = secretName();
    await p.create(secret, secretText());
    fake.fail({ op: 'GetSecretValue', status: 0, drop: true });
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'unavailable', secret });
    const { startAwsSecretsManager: start } = await import('@summit-config/test-support/fakes/aws-secrets-manager');
    const gone = await start();
    const url = gone.url;
    await gone.close();
    const dead = aws({ endpoint: url, connectTimeoutMs: 2_000 });
    expect(await rejection(dead.read(secret))).toMatchObject({ reason: 'unavailable' });
    await Promise.all([p.close(), dead.close()]);
  });

  it('an SDK message that quotes the value being written is redacted from the cause', async () => {
    const p = aws();
    const secret = secretName();
    await p.create(secret, secretText());
    const value = secretText('echoed');
    fake.fail({ op: 'PutSecretValue', status: 400, body: awsError('InvalidRequestException', `bad value ${value}`) });
    const e = await rejection(p.write(secret, value));
    expect(e).toMatchObject({ reason: 'invalid' });
    expect(everyTextOf(e)).not.toContain(value);
    expect(String((e.cause as Error).message)).toContain('[REDACTED]');
    await p.close();
  });

  it('a secret marked for deletion is reason invalid', async () => {
    const p = aws();
    const secret = secretName();
    await p.create(secret, secretText());
    const { DeleteSecretCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const raw = new SecretsManagerClient({ region: 'us-east-1', endpoint: fake.url, credentials });
    await raw.send(new DeleteSecretCommand({ SecretId: secret }));
    raw.destroy();
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'invalid', secret });
    await p.close();
  });

  it('a secret without SecretString is refused with reason invalid', async () => {
    const p = aws();
    const secret = secretName();
    const { CreateSecretCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
    const raw = new SecretsManagerClient({ region: 'us-east-1', endpoint: fake.url, credentials });
    await raw.send(new CreateSecretCommand({ Name: secret, SecretBinary: Buffer.from('binary') }));
    raw.destroy();
    expect(await rejection(p.read(secret))).toMatchObject({ reason: 'invalid' });
    await p.close();
  });

  it('names the bad option', () => {
    expect(() => createAwsProvider({})).toThrow(/option region/);
    expect(() => createAwsProvider({ region: 'us-east-1', endpoint: 'not a url' })).toThrow(/option endpoint/);
    expect(() => createAwsProvider({ region: 'us-east-1', maxAttempts: 0 })).toThrow(/option maxAttempts/);
  });
});
