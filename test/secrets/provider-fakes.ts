/**
 * The cloud fakes (AWS Secrets Manager, GCP Secret Manager, Azure Key Vault over HTTPS, Vault with
 * AppRole in a namespace as `vault` and with a token as `vault-token`) started for
 * a test file, with what a `summit-config` process needs to reach them through the agent config's
 * `secrets.providers` and the SDKs' standard credential sources (environment variables), and a
 * provider in the test process for each, to look at what the processes did.
 */
import { writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import {
  createLocalProvider,
  createSqlSecretStorage,
  type SecretProvider,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { createAwsProvider } from '@summit-config/secrets/aws';
import { createAzureProvider, staticTokenCredential } from '@summit-config/secrets/azure';
import { createGcpProvider } from '@summit-config/secrets/gcp';
import { createVaultProvider } from '@summit-config/secrets/vault';
import { type AwsFake, startAwsSecretsManager } from '@summit-config/test-support/fakes/aws-secrets-manager';
import { type AzureFake, startAzureKeyVault } from '@summit-config/test-support/fakes/azure-key-vault';
import { type GcpFake, startGcpSecretManager } from '@summit-config/test-support/fakes/gcp-secret-manager';
import { selfSignedCertificate } from '@summit-config/test-support/fakes/tls';
import { startVaultServer, type VaultFake } from '@summit-config/test-support/fakes/vault';
import pg from 'pg';

/** The remote providers configured (names under `secrets.providers`). */
export const CLOUD_PROVIDERS = ['aws', 'gcp', 'azure', 'vault', 'vault-token'] as const;

const AWS_KEY = { accessKeyId: 'AKIDSUMMITCLI0001', secretAccessKey: 'fake-secret-access-key' };
const GCP_TOKEN = 'ya29.summit-cli-token';
const APP_ROLE = { roleId: 'summit-role-id', secretId: 'summit-secret-id' };
const VAULT_NAMESPACE = 'team-a';

export interface ProviderFakes {
  aws: AwsFake;
  gcp: GcpFake;
  azure: AzureFake;
  vault: VaultFake;
  /** `secrets.providers` of the agent config: every cloud provider at its fake. */
  providersConfig(): Record<string, Record<string, unknown>>;
  /** Environment of a child process: credentials the SDKs' standard chains read, the fake CA trusted. */
  env: Record<string, string>;
  /**
   * A provider in this process looking at the same secrets (`local`: the schema's table under
   * `masterKey`); the caller closes it.
   */
  inspect(name: string, local?: { databaseUrl: string; schema: string; masterKey: string }): SecretProvider;
  close(): Promise<void>;
}

/** Starts the fakes; `dir` receives the fake CA certificate (NODE_EXTRA_CA_CERTS of the children). */
export async function startProviderFakes(dir: string): Promise<ProviderFakes> {
  const tls = await selfSignedCertificate();
  const caFile = join(dir, 'fake-ca.pem');
  await writeFile(caFile, tls.cert);
  const aws = await startAwsSecretsManager({ accessKeyId: AWS_KEY.accessKeyId });
  const gcp = await startGcpSecretManager({ token: GCP_TOKEN });
  const azure = await startAzureKeyVault({ tls });
  const vault = await startVaultServer({ appRole: APP_ROLE, mounts: ['secret', 'kv'], namespaces: [VAULT_NAMESPACE] });
  const httpsAgent = new Agent({ ca: tls.cert, keepAlive: true });
  const pools: pg.Pool[] = [];
  return {
    aws,
    gcp,
    azure,
    vault,
    providersConfig: () => ({
      aws: { region: 'us-east-1', endpoint: aws.url, maxAttempts: 1 },
      gcp: {
        projectId: gcp.projectId,
        apiEndpoint: `http://127.0.0.1:${gcp.port}`,
        accessTokenEnv: 'GCP_ACCESS_TOKEN',
      },
      azure: { vaultUrl: azure.url, tokenEnv: 'AZURE_ACCESS_TOKEN', disableChallengeResourceVerification: true },
      vault: { address: vault.url, mount: 'kv', namespace: VAULT_NAMESPACE, auth: { method: 'approle' } },
      'vault-token': { kind: 'vault', address: vault.url, auth: { tokenEnv: 'SUMMIT_TEST_VAULT_TOKEN' } },
    }),
    env: {
      AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      METADATA_SERVER_DETECTION: 'none',
      GCP_ACCESS_TOKEN: GCP_TOKEN,
      AZURE_ACCESS_TOKEN: azure.token,
      NODE_EXTRA_CA_CERTS: caFile,
      VAULT_ROLE_ID: APP_ROLE.roleId,
      VAULT_SECRET_ID: APP_ROLE.secretId,
      SUMMIT_TEST_VAULT_TOKEN: vault.rootToken,
    },
    inspect(name, local) {
      if (name === 'aws') {
        return createAwsProvider({ region: 'us-east-1', endpoint: aws.url, credentials: AWS_KEY, maxAttempts: 1 });
      }
      if (name === 'gcp') {
        return createGcpProvider({
          projectId: gcp.projectId,
          apiEndpoint: '127.0.0.1',
          port: gcp.port,
          protocol: 'http',
          accessToken: GCP_TOKEN,
          maxRetries: 0,
        });
      }
      if (name === 'azure') {
        return createAzureProvider({
          vaultUrl: azure.url,
          credential: staticTokenCredential(azure.token),
          disableChallengeResourceVerification: true,
          maxRetries: 0,
          clientOptions: { agent: httpsAgent } as never,
        });
      }
      if (name === 'vault') {
        return createVaultProvider({
          address: vault.url,
          token: vault.rootToken,
          mount: 'kv',
          namespace: VAULT_NAMESPACE,
          maxRetries: 0,
        });
      }
      if (name === 'vault-token') {
        return createVaultProvider({ address: vault.url, token: vault.rootToken, maxRetries: 0 });
      }
      if (name === 'local' && local) {
        const pool = new pg.Pool({ connectionString: local.databaseUrl, max: 1 });
        pools.push(pool);
        const storage = createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema: local.schema });
        return createLocalProvider({ storage, key: local.masterKey });
      }
      throw new Error(`no inspector for provider ${name}`);
    },
    async close() {
      httpsAgent.destroy();
      await Promise.all([aws.close(), gcp.close(), azure.close(), vault.close(), ...pools.map((p) => p.end())]);
    },
  };
}
