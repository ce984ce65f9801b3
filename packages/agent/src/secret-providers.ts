/**
 * The one place that turns the agent configuration's `secrets` section (`config-secrets.ts`) into
 * secret providers: the agent's rotation job, the CLI's `secret` commands and the agent's `$secret`
 * resolution all build them here. Each cloud SDK is loaded only when a provider of its kind is
 * configured (they are optional peer dependencies of `@summit-config/secrets`).
 */
import { ConfigError, isConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { SecretProvider, SecretResolver, SecretResolverOptions } from '@summit-config/secrets';
import type {
  AwsSecretsConfig,
  AzureSecretsConfig,
  GcpSecretsConfig,
  LocalSecretsConfig,
  SecretProviderConfig,
  SecretsConfig,
  VaultSecretsConfig,
} from './config-secrets.js';
import type { SecretSqlHandle } from './local-secrets.js';

/** What {@link createSecretProviders} takes. */
export interface SecretProvidersOptions {
  /** The validated `secrets` section (`AgentConfig.secrets`). */
  config: SecretsConfig;
  /**
   * The SQL the `local` provider keeps its versions in (`openSecretSql`). Borrowed: closing the
   * providers leaves it open. Required when a `local` provider is configured.
   */
  sql?: Pick<SecretSqlHandle, 'sql' | 'kind' | 'schema'>;
  /** Environment read for credentials and master keys. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Options of the `$secret` resolver (`ttlMs`, `maxEntries`); its providers are these. */
  resolver?: Omit<SecretResolverOptions, 'providers'>;
}

/** The configured providers and a `$secret` resolver over them. */
export interface SecretProviders {
  /** Every configured provider by its name (the key under `secrets.providers`), in file order. */
  readonly providers: ReadonlyMap<string, SecretProvider>;
  /**
   * Resolves `{"$secret": {"provider", "name", ...}}` references through these providers (cached
   * for `resolver.ttlMs`, default 60 000 ms). A reference to an unconfigured provider rejects
   * `NOT_FOUND` naming it. The resolver does not own the providers; `close()` below closes both.
   */
  readonly resolver: SecretResolver;
  /**
   * The provider named `name`. Throws `NOT_FOUND` naming the configured ones when there is none;
   * for `local`, `MISSING_REQUIRED` saying to set `SUMMIT_MASTER_KEY` (what the CLI always said).
   */
  get(name: string): SecretProvider;
  /** Closes the resolver and every provider (never the borrowed SQL). Idempotent. */
  close(): Promise<void>;
}

const NO_MASTER_KEY =
  'no master key for the local secret provider: set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE, a file of mode 0600); `summit-config secret keygen` prints a new key';

/** `MISSING_REQUIRED`: something the configuration asks for is not there (a variable, a key, a module). */
const missing = (message: string, cause?: unknown) =>
  new ConfigError('MISSING_REQUIRED', message, cause === undefined ? {} : { cause });

/** Reads a credential from the environment variable a field names; `MISSING_REQUIRED` naming both when unset. */
function fromEnv(env: NodeJS.ProcessEnv, name: string, field: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw missing(`secrets.providers.${field} names the environment variable ${name}, which is not set`);
  }
  return value;
}

async function awsProvider(c: AwsSecretsConfig): Promise<SecretProvider> {
  const { createAwsProvider } = await import('@summit-config/secrets/aws');
  // No credentials option: the SDK's default chain (env AWS_ACCESS_KEY_ID..., AWS_PROFILE, SSO, IMDS).
  return createAwsProvider({
    name: c.name,
    region: c.region,
    ...(c.endpoint !== undefined ? { endpoint: c.endpoint } : {}),
    ...(c.maxAttempts !== undefined ? { maxAttempts: c.maxAttempts } : {}),
    ...(c.connectTimeoutMs !== undefined ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
    ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
  });
}

async function gcpProvider(c: GcpSecretsConfig, env: NodeJS.ProcessEnv): Promise<SecretProvider> {
  const { createGcpProvider } = await import('@summit-config/secrets/gcp');
  const tokenEnv = c.accessTokenEnv;
  if (tokenEnv !== undefined) fromEnv(env, tokenEnv, `${c.name}.accessTokenEnv`);
  return createGcpProvider({
    name: c.name,
    projectId: c.projectId,
    // Without a token variable: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata).
    ...(tokenEnv !== undefined ? { accessToken: () => fromEnv(env, tokenEnv, `${c.name}.accessTokenEnv`) } : {}),
    ...(c.apiEndpoint !== undefined ? { apiEndpoint: c.apiEndpoint } : {}),
    ...(c.port !== undefined ? { port: c.port } : {}),
    ...(c.protocol !== undefined ? { protocol: c.protocol } : {}),
    ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}),
    ...(c.maxRetries !== undefined ? { maxRetries: c.maxRetries } : {}),
  });
}

/** A module the agent does not depend on, loaded by name only when configured. */
async function optionalModule<T>(specifier: string, why: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') {
      throw missing(`${why}: install ${specifier} (npm install ${specifier})`, error);
    }
    throw error;
  }
}

type AzureCredential = NonNullable<import('@summit-config/secrets/azure').AzureProviderOptions['credential']>;

async function azureProvider(c: AzureSecretsConfig, env: NodeJS.ProcessEnv): Promise<SecretProvider> {
  const { createAzureProvider } = await import('@summit-config/secrets/azure');
  const tokenEnv = c.tokenEnv;
  let credential: AzureCredential;
  if (tokenEnv !== undefined) {
    fromEnv(env, tokenEnv, `${c.name}.tokenEnv`);
    credential = {
      async getToken() {
        // A token handed over by the environment; its real expiry is unknown to us.
        return { token: fromEnv(env, tokenEnv, `${c.name}.tokenEnv`), expiresOnTimestamp: Date.now() + 300_000 };
      },
    };
  } else {
    const identity = await optionalModule<{
      DefaultAzureCredential: new (o?: { authorityHost?: string }) => AzureCredential;
    }>(
      '@azure/identity',
      `secrets.providers.${c.name} takes credentials from @azure/identity's DefaultAzureCredential (or set tokenEnv)`,
    );
    credential = new identity.DefaultAzureCredential(
      c.authorityHost !== undefined ? { authorityHost: c.authorityHost } : {},
    );
  }
  return createAzureProvider({
    name: c.name,
    vaultUrl: c.vaultUrl,
    credential,
    disableChallengeResourceVerification: c.disableChallengeResourceVerification,
    ...(c.maxRetries !== undefined ? { maxRetries: c.maxRetries } : {}),
  });
}

async function localProvider(
  c: LocalSecretsConfig,
  env: NodeJS.ProcessEnv,
  sql: SecretProvidersOptions['sql'],
): Promise<SecretProvider> {
  if (!sql) {
    throw errors.constraint(`secrets.providers.${c.name}: the local provider needs PostgreSQL or the embedded store`);
  }
  const keyOption =
    c.masterKeyFile !== undefined
      ? { keyFile: c.masterKeyFile }
      : c.masterKeyEnv !== undefined
        ? { key: fromEnv(env, c.masterKeyEnv, `${c.name}.masterKeyEnv`) }
        : undefined;
  if (!keyOption && !env.SUMMIT_MASTER_KEY && !env.SUMMIT_MASTER_KEY_FILE) {
    throw missing(NO_MASTER_KEY);
  }
  const s = await import('@summit-config/secrets');
  const storage = s.createSqlSecretStorage({ sql: sql.sql, kind: sql.kind, schema: sql.schema });
  return s.createLocalProvider({ name: c.name, storage, env, ...keyOption });
}

async function vaultProvider(c: VaultSecretsConfig, env: NodeJS.ProcessEnv): Promise<SecretProvider> {
  const { createVaultProvider } = await import('@summit-config/secrets/vault');
  const auth =
    c.auth.method === 'token'
      ? { token: fromEnv(env, c.auth.tokenEnv, `${c.name}.auth.tokenEnv`) }
      : {
          appRole: {
            roleId: fromEnv(env, c.auth.roleIdEnv, `${c.name}.auth.roleIdEnv`),
            secretId: fromEnv(env, c.auth.secretIdEnv, `${c.name}.auth.secretIdEnv`),
            ...(c.auth.mount !== undefined ? { mount: c.auth.mount } : {}),
          },
        };
  return createVaultProvider({
    name: c.name,
    address: c.address,
    ...auth,
    ...(c.mount !== undefined ? { mount: c.mount } : {}),
    ...(c.namespace !== undefined ? { namespace: c.namespace } : {}),
    ...(c.field !== undefined ? { field: c.field } : {}),
    ...(c.requestTimeoutMs !== undefined ? { requestTimeoutMs: c.requestTimeoutMs } : {}),
    ...(c.maxRetries !== undefined ? { maxRetries: c.maxRetries } : {}),
  });
}

function build(c: SecretProviderConfig, env: NodeJS.ProcessEnv, sql: SecretProvidersOptions['sql']) {
  switch (c.kind) {
    case 'aws':
      return awsProvider(c);
    case 'gcp':
      return gcpProvider(c, env);
    case 'azure':
      return azureProvider(c, env);
    case 'local':
      return localProvider(c, env, sql);
    case 'vault':
      return vaultProvider(c, env);
  }
}

/**
 * Builds every provider of the `secrets` section, and a `$secret` resolver over them. Providers
 * create their SDK clients lazily: building one reaches no cloud. Credentials come from each SDK's
 * standard chain unless the section names an environment variable; a named variable that is unset
 * is `MISSING_REQUIRED` naming the field and the variable, as is a missing master key, a cloud SDK
 * that is not installed or a missing `@azure/identity`. Any failure closes the providers built so
 * far and rejects with the `ConfigError` (the provider's option errors are `SECRET_PROVIDER`,
 * reason `invalid`). No value is ever logged or put in an error.
 */
export async function createSecretProviders(options: SecretProvidersOptions): Promise<SecretProviders> {
  const env = options.env ?? process.env;
  const providers = new Map<string, SecretProvider>();
  try {
    for (const c of options.config.providers) {
      const provider = await build(c, env, options.sql).catch((error: unknown) => {
        // An optional peer dependency (the cloud SDK of this kind) that is not installed.
        if ((error as { code?: string })?.code === 'ERR_MODULE_NOT_FOUND' && !isConfigError(error)) {
          throw missing(
            `secrets.providers.${c.name}: the ${c.kind} provider's SDK is not installed (${(error as Error).message.split('\n')[0]})`,
            error,
          );
        }
        throw error;
      });
      providers.set(c.name, provider);
    }
  } catch (error) {
    for (const p of providers.values()) await p.close().catch(() => {});
    throw isConfigError(error) ? error : errors.constraint(String(error), { cause: error });
  }
  const { SecretResolver } = await import('@summit-config/secrets');
  const resolver = new SecretResolver({ ...options.resolver, providers: [...providers.values()] });
  let closing: Promise<void> | undefined;
  return {
    providers,
    resolver,
    get(name) {
      const found = providers.get(name);
      if (found) return found;
      if (name === 'local') throw missing(NO_MASTER_KEY);
      const known = [...providers.keys()];
      throw errors.notFound(
        `no secret provider "${name}" is configured (${known.length > 0 ? `configured: ${known.join(', ')}` : 'none is'}; see secrets.providers in the agent config)`,
      );
    },
    close() {
      closing ??= (async () => {
        await resolver.close().catch(() => {});
        for (const p of providers.values()) await p.close().catch(() => {});
      })();
      return closing;
    },
  };
}
