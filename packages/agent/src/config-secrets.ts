/**
 * The agent configuration's `secrets` section: the secret providers by name, and the node-cron
 * schedule of the leader's rotation job. Validated eagerly; every problem is a
 * `CONSTRAINT_VIOLATION` naming the field (`agent config: secrets.providers.aws.endpoint must ...`).
 *
 * ```yaml
 * secrets:
 *   schedule: '*\/30 * * * * *'        # node-cron, seconds optional; default: jobs.rotationsMs
 *   providers:
 *     aws: { region: eu-west-1 }      # credentials: the AWS SDK's default chain
 *     gcp: { projectId: my-project }  # credentials: Application Default Credentials
 *     azure: { vaultUrl: https://my-vault.vault.azure.net }  # credentials: @azure/identity
 *     local: { masterKeyFile: /etc/summit/master.key }
 * ```
 *
 * Credentials are never written in this file: each provider takes them from its SDK's standard
 * chain, or from an environment variable the file names (`accessTokenEnv`, `tokenEnv`, `masterKeyEnv`).
 * When the section names no `local` provider and `SUMMIT_MASTER_KEY` or `SUMMIT_MASTER_KEY_FILE` is
 * set, a `local` provider is added (what the agent did before the section existed).
 */
import { isAbsolute, resolve } from 'node:path';
import { validate as validateCron } from 'node-cron';
import { bool, fail, int, object, optStr, show, str } from './config-fields.js';

/** The kinds of provider the section can configure. */
export const SECRET_PROVIDER_KINDS = ['aws', 'gcp', 'azure', 'local', 'vault'] as const;
export type SecretProviderKind = (typeof SECRET_PROVIDER_KINDS)[number];

interface ProviderBase {
  /** The key under `secrets.providers`: what `$secret` references and policies name. */
  name: string;
}

/** `secrets.providers.<name>` of kind `aws` (AWS Secrets Manager). */
export interface AwsSecretsConfig extends ProviderBase {
  kind: 'aws';
  /** Region. Default env `AWS_REGION`, then `AWS_DEFAULT_REGION`; required from one of them. */
  region: string;
  /** Endpoint URL override (VPC endpoint, LocalStack, a fake). Default: the regional endpoint. */
  endpoint: string | undefined;
  /** Attempts per call, the first included. Default 3. */
  maxAttempts: number | undefined;
  /** Connection and response timeouts, ms. Default 5 000 and 15 000. */
  connectTimeoutMs: number | undefined;
  requestTimeoutMs: number | undefined;
}

/** `secrets.providers.<name>` of kind `gcp` (Google Secret Manager). */
export interface GcpSecretsConfig extends ProviderBase {
  kind: 'gcp';
  /** Project id. Default env `GOOGLE_CLOUD_PROJECT`, then `GCLOUD_PROJECT`; required from one of them. */
  projectId: string;
  /** API host, or an `http(s)://host[:port]` URL. Default `secretmanager.googleapis.com` over https. */
  apiEndpoint: string | undefined;
  port: number | undefined;
  protocol: 'http' | 'https' | undefined;
  /** Environment variable holding an OAuth2 access token. Default none: Application Default Credentials. */
  accessTokenEnv: string | undefined;
  /** Milliseconds per call, retries included. Default 30 000. */
  timeoutMs: number | undefined;
  maxRetries: number | undefined;
}

/** `secrets.providers.<name>` of kind `azure` (Azure Key Vault). */
export interface AzureSecretsConfig extends ProviderBase {
  kind: 'azure';
  /** `https://<vault>.vault.azure.net` (the vault's endpoint; HTTPS only). Required (env `AZURE_KEYVAULT_URL`). */
  vaultUrl: string;
  /** Environment variable holding a bearer token. Default none: `@azure/identity`'s `DefaultAzureCredential`. */
  tokenEnv: string | undefined;
  /** Microsoft Entra authority for `DefaultAzureCredential`. Default env `AZURE_AUTHORITY_HOST`, else the public cloud. */
  authorityHost: string | undefined;
  /** Skip the check that the challenge's resource matches the vault's domain (custom domains, fakes). Default false. */
  disableChallengeResourceVerification: boolean;
  maxRetries: number | undefined;
}

/** `secrets.providers.<name>` of kind `local` (AES-256-GCM, versions beside the config). */
export interface LocalSecretsConfig extends ProviderBase {
  kind: 'local';
  /** Environment variable holding the master key. Default `SUMMIT_MASTER_KEY`. */
  masterKeyEnv: string | undefined;
  /** A file of mode 0600 holding the master key. Default env `SUMMIT_MASTER_KEY_FILE`. */
  masterKeyFile: string | undefined;
}

/** `secrets.providers.<name>` of kind `vault` (HashiCorp Vault KV v2). */
export interface VaultSecretsConfig extends ProviderBase {
  kind: 'vault';
  /** Vault's address. Default env `VAULT_ADDR`; required from one of them. */
  address: string;
  /** KV v2 mount. Default `secret`. */
  mount: string | undefined;
  /** Vault namespace (Enterprise). Default env `VAULT_NAMESPACE`. */
  namespace: string | undefined;
  /** The key of a version's data holding the value. Default `value`. */
  field: string | undefined;
  /** Milliseconds per HTTP request. Default 15 000. */
  requestTimeoutMs: number | undefined;
  /** Extra attempts of a failed read. Default 2. */
  maxRetries: number | undefined;
  /** How to log in: a token from an env var (default `VAULT_TOKEN`), or AppRole (role id and secret id from env vars). */
  auth:
    | { method: 'token'; tokenEnv: string }
    | { method: 'approle'; roleIdEnv: string; secretIdEnv: string; mount: string | undefined };
}

export type SecretProviderConfig =
  | AwsSecretsConfig
  | GcpSecretsConfig
  | AzureSecretsConfig
  | LocalSecretsConfig
  | VaultSecretsConfig;

/** The validated `secrets` section. */
export interface SecretsConfig {
  /** Every configured provider, in file order (the implicit `local` last). */
  providers: SecretProviderConfig[];
  /**
   * node-cron expression (seconds optional) of the leader's rotation job, which runs every due
   * rotation of every provider. Default none: the job runs every `jobs.rotationsMs`.
   */
  schedule: string | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,62}$/;

function envVar(value: unknown, path: string): string | undefined {
  const name = optStr(value, path);
  if (name !== undefined && !ENV_NAME.test(name)) {
    throw fail(path, `must name an environment variable ([A-Za-z_][A-Za-z0-9_]*), got ${show(name)}`);
  }
  return name;
}

function optInt(value: unknown, path: string, min: number, max: number): number | undefined {
  return value === undefined || value === null ? undefined : int(value, path, 0, min, max);
}

function url(value: unknown, path: string, protocols: readonly string[]): string {
  const text = str(value, path);
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw fail(path, `must be a URL, got ${show(text)}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw fail(path, `must be an ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL, got ${show(text)}`);
  }
  return text;
}

function awsSection(o: Record<string, unknown>, name: string, path: string, env: NodeJS.ProcessEnv): AwsSecretsConfig {
  const region = str(o.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined), `${path}.region`);
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw fail(`${path}.region`, `must be a region name, got ${show(region)}`);
  return {
    name,
    kind: 'aws',
    region,
    endpoint: o.endpoint === undefined ? undefined : url(o.endpoint, `${path}.endpoint`, ['http:', 'https:']),
    maxAttempts: optInt(o.maxAttempts, `${path}.maxAttempts`, 1, 20),
    connectTimeoutMs: optInt(o.connectTimeoutMs, `${path}.connectTimeoutMs`, 1, 600_000),
    requestTimeoutMs: optInt(o.requestTimeoutMs, `${path}.requestTimeoutMs`, 1, 600_000),
  };
}

function gcpSection(o: Record<string, unknown>, name: string, path: string, env: NodeJS.ProcessEnv): GcpSecretsConfig {
  const projectId = str(
    o.projectId ?? (env.GOOGLE_CLOUD_PROJECT || env.GCLOUD_PROJECT || undefined),
    `${path}.projectId`,
  );
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(projectId)) {
    throw fail(`${path}.projectId`, `must be a project id or number, got ${show(projectId)}`);
  }
  let apiEndpoint: string | undefined;
  let port = optInt(o.port, `${path}.port`, 1, 65_535);
  let protocol: 'http' | 'https' | undefined;
  if (o.protocol !== undefined) {
    if (o.protocol !== 'http' && o.protocol !== 'https') {
      throw fail(`${path}.protocol`, `must be http or https, got ${show(o.protocol)}`);
    }
    protocol = o.protocol;
  }
  if (o.apiEndpoint !== undefined) {
    const text = str(o.apiEndpoint, `${path}.apiEndpoint`);
    if (/^[a-z]+:\/\//i.test(text)) {
      const parsed = new URL(url(text, `${path}.apiEndpoint`, ['http:', 'https:']));
      if (parsed.pathname !== '/' || parsed.search !== '') {
        throw fail(`${path}.apiEndpoint`, `must be a host or an origin without a path, got ${show(text)}`);
      }
      apiEndpoint = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
      protocol ??= parsed.protocol === 'http:' ? 'http' : 'https';
      if (parsed.port !== '') port ??= Number(parsed.port);
    } else if (/^[A-Za-z0-9.-]+$/.test(text)) {
      apiEndpoint = text;
    } else {
      throw fail(`${path}.apiEndpoint`, `must be a host name or an http(s) URL, got ${show(text)}`);
    }
  }
  return {
    name,
    kind: 'gcp',
    projectId,
    apiEndpoint,
    port,
    protocol,
    accessTokenEnv: envVar(o.accessTokenEnv, `${path}.accessTokenEnv`),
    timeoutMs: optInt(o.timeoutMs, `${path}.timeoutMs`, 1, 600_000),
    maxRetries: optInt(o.maxRetries, `${path}.maxRetries`, 0, 20),
  };
}

function azureSection(
  o: Record<string, unknown>,
  name: string,
  path: string,
  env: NodeJS.ProcessEnv,
): AzureSecretsConfig {
  const vaultUrl = url(o.vaultUrl ?? (env.AZURE_KEYVAULT_URL || undefined), `${path}.vaultUrl`, ['https:']);
  const authority = o.authorityHost ?? (env.AZURE_AUTHORITY_HOST || undefined);
  return {
    name,
    kind: 'azure',
    vaultUrl,
    tokenEnv: envVar(o.tokenEnv, `${path}.tokenEnv`),
    authorityHost: authority === undefined ? undefined : url(authority, `${path}.authorityHost`, ['https:']),
    disableChallengeResourceVerification: bool(
      o.disableChallengeResourceVerification,
      `${path}.disableChallengeResourceVerification`,
      false,
    ),
    maxRetries: optInt(o.maxRetries, `${path}.maxRetries`, 0, 20),
  };
}

function localSection(o: Record<string, unknown>, name: string, path: string): LocalSecretsConfig {
  const file = optStr(o.masterKeyFile, `${path}.masterKeyFile`);
  const keyEnv = envVar(o.masterKeyEnv, `${path}.masterKeyEnv`);
  if (file !== undefined && keyEnv !== undefined) {
    throw fail(`${path}.masterKeyFile`, 'and masterKeyEnv are exclusive: give one');
  }
  return {
    name,
    kind: 'local',
    masterKeyEnv: keyEnv,
    masterKeyFile: file === undefined ? undefined : isAbsolute(file) ? file : resolve(file),
  };
}

function vaultSection(
  o: Record<string, unknown>,
  name: string,
  path: string,
  env: NodeJS.ProcessEnv,
): VaultSecretsConfig {
  const address = url(o.address ?? (env.VAULT_ADDR || undefined), `${path}.address`, ['http:', 'https:']);
  const a = object(o.auth, `${path}.auth`, ['method', 'tokenEnv', 'roleIdEnv', 'secretIdEnv', 'mount']);
  const method = a.method ?? 'token';
  let auth: VaultSecretsConfig['auth'];
  if (method === 'token') {
    for (const key of ['roleIdEnv', 'secretIdEnv', 'mount']) {
      if (a[key] !== undefined) throw fail(`${path}.auth.${key}`, 'is for method approle');
    }
    auth = { method, tokenEnv: envVar(a.tokenEnv, `${path}.auth.tokenEnv`) ?? 'VAULT_TOKEN' };
  } else if (method === 'approle') {
    if (a.tokenEnv !== undefined) throw fail(`${path}.auth.tokenEnv`, 'is for method token');
    auth = {
      method,
      roleIdEnv: envVar(a.roleIdEnv, `${path}.auth.roleIdEnv`) ?? 'VAULT_ROLE_ID',
      secretIdEnv: envVar(a.secretIdEnv, `${path}.auth.secretIdEnv`) ?? 'VAULT_SECRET_ID',
      mount: optStr(a.mount, `${path}.auth.mount`),
    };
  } else {
    throw fail(`${path}.auth.method`, `must be token or approle, got ${show(method)}`);
  }
  const mount = optStr(o.mount, `${path}.mount`);
  if (
    mount !== undefined &&
    (!/^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/.test(mount) || /(^|\/)\.\.?(\/|$)/.test(mount))
  ) {
    throw fail(`${path}.mount`, `must be path segments of [A-Za-z0-9_.-] (no "." or ".."), got ${show(mount)}`);
  }
  return {
    name,
    kind: 'vault',
    address,
    mount,
    namespace: optStr(o.namespace ?? (env.VAULT_NAMESPACE || undefined), `${path}.namespace`),
    field: optStr(o.field, `${path}.field`),
    requestTimeoutMs: optInt(o.requestTimeoutMs, `${path}.requestTimeoutMs`, 1, 600_000),
    maxRetries: optInt(o.maxRetries, `${path}.maxRetries`, 0, 20),
    auth,
  };
}

const FIELDS: Record<SecretProviderKind, readonly string[]> = {
  aws: ['region', 'endpoint', 'maxAttempts', 'connectTimeoutMs', 'requestTimeoutMs'],
  gcp: ['projectId', 'apiEndpoint', 'port', 'protocol', 'accessTokenEnv', 'timeoutMs', 'maxRetries'],
  azure: ['vaultUrl', 'tokenEnv', 'authorityHost', 'disableChallengeResourceVerification', 'maxRetries'],
  local: ['masterKeyEnv', 'masterKeyFile'],
  vault: ['address', 'mount', 'namespace', 'field', 'requestTimeoutMs', 'maxRetries', 'auth'],
};

/** Validates the `secrets` section with the environment; throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function secretsSection(raw: unknown, env: NodeJS.ProcessEnv): SecretsConfig {
  const o = object(raw, 'secrets', ['providers', 'schedule']);
  let schedule: string | undefined;
  if (o.schedule !== undefined) {
    schedule = str(o.schedule, 'secrets.schedule');
    if (!validateCron(schedule)) {
      throw fail('secrets.schedule', `must be a node-cron expression (seconds optional), got ${show(schedule)}`);
    }
  }
  const providers: SecretProviderConfig[] = [];
  const listed = object(o.providers, 'secrets.providers', Object.keys(o.providers ?? {}));
  for (const [name, value] of Object.entries(listed)) {
    const path = `secrets.providers.${name}`;
    if (!PROVIDER_NAME.test(name)) {
      throw fail(path, 'is not a provider name: 1-63 characters of a-z, 0-9 and "-", starting with a letter');
    }
    const kindOf = (value as { kind?: unknown } | null)?.kind ?? name;
    if (!(SECRET_PROVIDER_KINDS as readonly string[]).includes(kindOf as string)) {
      throw fail(
        `${path}.kind`,
        (value as { kind?: unknown } | null)?.kind === undefined
          ? `is required: "${name}" is not a provider kind (${SECRET_PROVIDER_KINDS.join(', ')})`
          : `must be one of ${SECRET_PROVIDER_KINDS.join(', ')}, got ${show(kindOf)}`,
      );
    }
    const kind = kindOf as SecretProviderKind;
    const p = object(value ?? {}, path, ['kind', ...FIELDS[kind]]);
    if (kind === 'aws') providers.push(awsSection(p, name, path, env));
    else if (kind === 'gcp') providers.push(gcpSection(p, name, path, env));
    else if (kind === 'azure') providers.push(azureSection(p, name, path, env));
    else if (kind === 'local') {
      const other = providers.find((x) => x.kind === 'local');
      if (other) throw fail(path, `is a second local provider (beside "${other.name}"): they would share one table`);
      providers.push(localSection(p, name, path));
    } else providers.push(vaultSection(p, name, path, env));
  }
  if (!providers.some((p) => p.kind === 'local') && (env.SUMMIT_MASTER_KEY || env.SUMMIT_MASTER_KEY_FILE)) {
    providers.push({ name: 'local', kind: 'local', masterKeyEnv: undefined, masterKeyFile: undefined });
  }
  return { providers, schedule };
}

/**
 * The providers usable with `env`, what the config server and the leader serve and rotate (they
 * ran the local provider exactly when a master key was set): a local provider that takes its key
 * from `SUMMIT_MASTER_KEY` or `SUMMIT_MASTER_KEY_FILE` is left out when `env` sets neither, and
 * one is added when `env` sets one and the section has no local provider. The CLI uses the
 * section as it is, to say the key is missing.
 */
export function keyedProviders(config: SecretsConfig, env: NodeJS.ProcessEnv): SecretsConfig {
  const keyless = !env.SUMMIT_MASTER_KEY && !env.SUMMIT_MASTER_KEY_FILE;
  const providers = config.providers.filter(
    (p) => !(p.kind === 'local' && keyless && p.masterKeyEnv === undefined && p.masterKeyFile === undefined),
  );
  if (!keyless && !providers.some((p) => p.kind === 'local')) {
    providers.push({ name: 'local', kind: 'local', masterKeyEnv: undefined, masterKeyFile: undefined });
  }
  return { ...config, providers };
}
