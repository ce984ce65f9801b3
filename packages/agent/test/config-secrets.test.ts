/**
 * The agent configuration's `secrets` section: providers by name with their options, defaults from
 * the SDKs' environment variables, the implicit local provider, and a CONSTRAINT_VIOLATION naming
 * the bad field for every bad option; `createSecretProviders` on what the section allows but the
 * environment lacks.
 */
import { isConfigError } from '@summit-config/core';
import { describe, expect, it } from 'vitest';
import { parseAgentConfig, resolveAgentConfig } from '../src/config.js';
import { keyedProviders } from '../src/config-secrets.js';
import { createSecretProviders } from '../src/secret-providers.js';

const KEY = Buffer.alloc(32, 7).toString('base64');

function secretsOf(secrets: unknown, env: NodeJS.ProcessEnv = {}) {
  return resolveAgentConfig({ secrets }, env).secrets;
}

function failure(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isConfigError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('did not throw');
}

describe('agent config: secrets', () => {
  it('parses every provider kind from YAML with its options', () => {
    const config = parseAgentConfig(
      `
secrets:
  schedule: '*/5 * * * * *'
  providers:
    aws: { region: eu-west-1, endpoint: 'http://127.0.0.1:4566', maxAttempts: 2 }
    gcp: { projectId: my-project, apiEndpoint: 'http://127.0.0.1:8085', accessTokenEnv: GCP_TOKEN }
    azure: { vaultUrl: 'https://v.vault.azure.net', tokenEnv: AZ_TOKEN }
    local: { masterKeyFile: /etc/summit/master.key }
    vault: { address: 'http://127.0.0.1:8200', mount: kv, auth: { method: approle } }
    aws-us: { kind: aws, region: us-east-1 }
`,
      {},
    );
    expect(config.secrets.schedule).toBe('*/5 * * * * *');
    expect(config.secrets.providers).toEqual([
      {
        name: 'aws',
        kind: 'aws',
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:4566',
        maxAttempts: 2,
        connectTimeoutMs: undefined,
        requestTimeoutMs: undefined,
      },
      {
        name: 'gcp',
        kind: 'gcp',
        projectId: 'my-project',
        apiEndpoint: '127.0.0.1',
        port: 8085,
        protocol: 'http',
        accessTokenEnv: 'GCP_TOKEN',
        timeoutMs: undefined,
        maxRetries: undefined,
      },
      {
        name: 'azure',
        kind: 'azure',
        vaultUrl: 'https://v.vault.azure.net',
        tokenEnv: 'AZ_TOKEN',
        authorityHost: undefined,
        disableChallengeResourceVerification: false,
        maxRetries: undefined,
      },
      { name: 'local', kind: 'local', masterKeyEnv: undefined, masterKeyFile: '/etc/summit/master.key' },
      {
        name: 'vault',
        kind: 'vault',
        address: 'http://127.0.0.1:8200',
        mount: 'kv',
        namespace: undefined,
        field: undefined,
        requestTimeoutMs: undefined,
        maxRetries: undefined,
        auth: { method: 'approle', roleIdEnv: 'VAULT_ROLE_ID', secretIdEnv: 'VAULT_SECRET_ID', mount: undefined },
      },
      {
        name: 'aws-us',
        kind: 'aws',
        region: 'us-east-1',
        endpoint: undefined,
        maxAttempts: undefined,
        connectTimeoutMs: undefined,
        requestTimeoutMs: undefined,
      },
    ]);
  });

  it('takes what the SDKs read from the environment when the file does not say', () => {
    const env = {
      AWS_REGION: 'ap-south-1',
      GOOGLE_CLOUD_PROJECT: 'from-env',
      AZURE_KEYVAULT_URL: 'https://e.vault.azure.net',
      VAULT_ADDR: 'https://vault.internal:8200',
    };
    const providers = secretsOf({ providers: { aws: {}, gcp: {}, azure: {}, vault: {} } }, env);
    expect(providers.providers.map((p) => [p.name, Object.values(p)[2]])).toEqual([
      ['aws', 'ap-south-1'],
      ['gcp', 'from-env'],
      ['azure', 'https://e.vault.azure.net'],
      ['vault', 'https://vault.internal:8200'],
    ]);
    expect(providers.providers.find((p) => p.kind === 'vault')).toMatchObject({
      auth: { method: 'token', tokenEnv: 'VAULT_TOKEN' },
    });
  });

  it('keeps the default: no section, local only when a master key is set', () => {
    expect(secretsOf(undefined)).toEqual({ providers: [], schedule: undefined });
    expect(secretsOf(undefined, { SUMMIT_MASTER_KEY: KEY }).providers).toEqual([
      { name: 'local', kind: 'local', masterKeyEnv: undefined, masterKeyFile: undefined },
    ]);
    expect(
      secretsOf({ providers: { aws: { region: 'eu-west-1' } } }, { SUMMIT_MASTER_KEY_FILE: '/k' }).providers.map(
        (p) => p.name,
      ),
    ).toEqual(['aws', 'local']);
    // A local provider under another name replaces the implicit one.
    expect(
      secretsOf({ providers: { mine: { kind: 'local' } } }, { SUMMIT_MASTER_KEY: KEY }).providers.map((p) => p.name),
    ).toEqual(['mine']);
  });

  it('the server and the leader leave out a local provider whose key the environment does not hold', () => {
    const config = secretsOf({ providers: { aws: { region: 'eu-west-1' } } }, { SUMMIT_MASTER_KEY: KEY });
    expect(keyedProviders(config, { SUMMIT_MASTER_KEY: KEY }).providers.map((p) => p.name)).toEqual(['aws', 'local']);
    expect(keyedProviders(config, {}).providers.map((p) => p.name)).toEqual(['aws']);
    // A master key in the runtime's environment adds the local provider the file's environment lacked.
    const bare = secretsOf({ providers: { aws: { region: 'eu-west-1' } } });
    expect(keyedProviders(bare, { SUMMIT_MASTER_KEY_FILE: '/k' }).providers.map((p) => p.name)).toEqual([
      'aws',
      'local',
    ]);
    // A key the section names is kept: a missing one is an error to report, not a default to drop.
    const named = secretsOf({ providers: { local: { masterKeyEnv: 'MY_KEY' } } });
    expect(keyedProviders(named, {}).providers.map((p) => p.name)).toEqual(['local']);
  });

  it.each([
    [{ providers: 'aws' }, 'secrets.providers', /must be a mapping/],
    [{ providers: { aws: { region: 'eu-west-1', regin: 'x' } } }, 'secrets.providers.aws.regin', /not a known field/],
    [{ providers: { aws: {} } }, 'secrets.providers.aws.region', /is required/],
    [{ providers: { aws: { region: 'EU West' } } }, 'secrets.providers.aws.region', /region name/],
    [{ providers: { aws: { region: 'eu-west-1', endpoint: 'not a url' } } }, 'secrets.providers.aws.endpoint', /URL/],
    [{ providers: { aws: { region: 'eu-west-1', maxAttempts: 0 } } }, 'secrets.providers.aws.maxAttempts', /1 to 20/],
    [{ providers: { gcp: {} } }, 'secrets.providers.gcp.projectId', /is required/],
    [{ providers: { gcp: { projectId: 'My Project' } } }, 'secrets.providers.gcp.projectId', /project id/],
    [{ providers: { gcp: { projectId: 'p', apiEndpoint: 'ftp://x' } } }, 'secrets.providers.gcp.apiEndpoint', /http/],
    [
      { providers: { gcp: { projectId: 'p', apiEndpoint: 'http://h/v1' } } },
      'secrets.providers.gcp.apiEndpoint',
      /path/,
    ],
    [{ providers: { gcp: { projectId: 'p', protocol: 'grpc' } } }, 'secrets.providers.gcp.protocol', /http or https/],
    [
      { providers: { gcp: { projectId: 'p', accessTokenEnv: 'A-B' } } },
      'secrets.providers.gcp.accessTokenEnv',
      /environment variable/,
    ],
    [
      { providers: { azure: { vaultUrl: 'http://v.vault.azure.net' } } },
      'secrets.providers.azure.vaultUrl',
      /https URL/,
    ],
    [{ providers: { azure: {} } }, 'secrets.providers.azure.vaultUrl', /is required/],
    [
      { providers: { azure: { vaultUrl: 'https://v', disableChallengeResourceVerification: 'yes' } } },
      'secrets.providers.azure.disableChallengeResourceVerification',
      /true or false/,
    ],
    [
      { providers: { local: { masterKeyEnv: 'K', masterKeyFile: '/k' } } },
      'secrets.providers.local.masterKeyFile',
      /exclusive/,
    ],
    [{ providers: { local: {}, other: { kind: 'local' } } }, 'secrets.providers.other', /second local provider/],
    [{ providers: { vault: {} } }, 'secrets.providers.vault.address', /is required/],
    [
      { providers: { vault: { address: 'http://v', auth: { method: 'ldap' } } } },
      'secrets.providers.vault.auth.method',
      /token or approle/,
    ],
    [
      { providers: { vault: { address: 'http://v', auth: { roleIdEnv: 'R' } } } },
      'secrets.providers.vault.auth.roleIdEnv',
      /approle/,
    ],
    [
      { providers: { vault: { address: 'http://v', mount: '../x' } } },
      'secrets.providers.vault.mount',
      /path segments/,
    ],
    [{ providers: { hashicorp: {} } }, 'secrets.providers.hashicorp.kind', /is required/],
    [{ providers: { x: { kind: 'oracle' } } }, 'secrets.providers.x.kind', /must be one of/],
    [{ providers: { AWS: { kind: 'aws', region: 'r' } } }, 'secrets.providers.AWS', /provider name/],
    [{ schedule: 'every minute' }, 'secrets.schedule', /node-cron/],
    [{ rotation: {} }, 'secrets.rotation', /not a known field/],
  ])('%j is refused naming %s', (secrets, field, why) => {
    const f = failure(() => secretsOf(secrets));
    expect(f.code).toBe('CONSTRAINT_VIOLATION');
    expect(f.message).toContain(`agent config: ${field} `);
    expect(f.message).toMatch(why);
  });
});

describe('createSecretProviders', () => {
  it('builds without reaching a cloud, and names what the environment lacks', async () => {
    const config = secretsOf({
      providers: {
        aws: { region: 'eu-west-1', endpoint: 'http://127.0.0.1:9' },
        gcp: { projectId: 'p', accessTokenEnv: 'GCP_TOKEN_FOR_TEST' },
      },
    });
    const built = await createSecretProviders({ config, env: { GCP_TOKEN_FOR_TEST: 't' } });
    expect([...built.providers.keys()]).toEqual(['aws', 'gcp']);
    expect(built.get('gcp').kind).toBe('gcp');
    expect(() => built.get('azure')).toThrow(/no secret provider "azure" is configured \(configured: aws, gcp/);
    // No local provider: the master key is what is missing, as the CLI always said.
    expect(failure(() => built.get('local'))).toMatchObject({ code: 'MISSING_REQUIRED' });
    expect(failure(() => built.get('local')).message).toMatch(/SUMMIT_MASTER_KEY.*secret keygen/);
    await built.close();
    await built.close(); // idempotent

    await expect(createSecretProviders({ config, env: {} })).rejects.toMatchObject({
      code: 'MISSING_REQUIRED',
      message: expect.stringMatching(/gcp\.accessTokenEnv names the environment variable GCP_TOKEN_FOR_TEST/),
    });
  });

  it('the local provider needs its SQL and a master key', async () => {
    const local = secretsOf({ providers: { local: { masterKeyEnv: 'MY_KEY' } } });
    await expect(createSecretProviders({ config: local, env: { MY_KEY: KEY } })).rejects.toMatchObject({
      code: 'CONSTRAINT_VIOLATION',
      message: expect.stringMatching(/needs PostgreSQL or the embedded store/),
    });
    const sql = { sql: {} as never, kind: 'postgres' as const, schema: 'public' };
    await expect(createSecretProviders({ config: local, env: {}, sql })).rejects.toMatchObject({
      code: 'MISSING_REQUIRED',
      message: expect.stringMatching(/masterKeyEnv names the environment variable MY_KEY/),
    });
  });

  it('azure without tokenEnv needs @azure/identity, and says so', async () => {
    const config = secretsOf({ providers: { azure: { vaultUrl: 'https://v.vault.azure.net' } } });
    await expect(createSecretProviders({ config, env: {} })).rejects.toMatchObject({
      code: 'MISSING_REQUIRED',
      message: expect.stringMatching(/install @azure\/identity/),
    });
  });
});
