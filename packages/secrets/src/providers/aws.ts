/**
 * `@summit-config/secrets/aws`: the provider on AWS Secrets Manager
 * (`@aws-sdk/client-secrets-manager`, an optional peer dependency loaded only from this entry point).
 *
 *   const aws = createAwsProvider({ region: 'eu-west-1' });
 *
 * Stages are AWS staging labels: `current` = `AWSCURRENT`, `previous` = `AWSPREVIOUS`, `pending` =
 * `AWSPENDING`. `write` is `PutSecretValue` with `VersionStages: ['AWSPENDING']`; `promote` moves
 * `AWSCURRENT` with `UpdateSecretVersionStage` (`MoveToVersionId` + `RemoveFromVersionId`, which
 * AWS checks atomically), AWS itself moves `AWSPREVIOUS` to the version that was current, then the
 * provider removes `AWSPENDING` from the promoted version; `revoke` removes every label of the
 * version. A version without labels is what AWS calls deprecated: this provider reports it
 * `disabled` and refuses to read it, but AWS keeps its value until it deletes deprecated versions
 * (`capabilities.disable` is false).
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  type SecretsManagerClientConfig,
  type SecretVersionsListEntry,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { PromoteResult, SecretCallOptions, SecretProvider, SecretStage, SecretVersionInfo } from '../contract.js';
import { type FailedCall, isNetworkError, isSecretError, type SecretErrorReason } from '../errors.js';
import {
  integerOption,
  optionError,
  ProviderKit,
  providerName,
  type SdkErrors,
  secretValue,
  toIso,
  versionInfo,
} from '../provider-kit.js';

export interface AwsProviderOptions {
  /** Instance name used in references and errors. Default `aws`. */
  name?: string;
  /** AWS region, e.g. `eu-west-1`. Required unless `client` is given. */
  region?: string;
  /** Endpoint URL override (a VPC endpoint, LocalStack, a test fake). Default: the regional endpoint. */
  endpoint?: string;
  /**
   * Credentials (`{ accessKeyId, secretAccessKey, sessionToken? }` or a provider function).
   * Default: the SDK's default chain (environment, profile, SSO, container, instance metadata).
   */
  credentials?: SecretsManagerClientConfig['credentials'];
  /** Attempts per call, the first included (SDK retries with backoff). Default 3. */
  maxAttempts?: number;
  /** Milliseconds to wait for a connection, then for a response. Default 5 000 and 15 000. */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** More client settings, passed through (the options above win). */
  clientConfig?: SecretsManagerClientConfig;
  /** A client to use instead of creating one; it is borrowed (`close()` leaves it). */
  client?: SecretsManagerClient;
}

const KIND = 'aws';
const MAX_VALUE_BYTES = 65_536;

/** Our stages as AWS staging labels. */
export const AWS_STAGE_LABELS: Readonly<Record<SecretStage, string>> = Object.freeze({
  current: 'AWSCURRENT',
  previous: 'AWSPREVIOUS',
  pending: 'AWSPENDING',
});

function stageOf(labels: readonly string[]): SecretStage | undefined {
  if (labels.includes('AWSCURRENT')) return 'current';
  if (labels.includes('AWSPENDING')) return 'pending';
  if (labels.includes('AWSPREVIOUS')) return 'previous';
  return undefined;
}

const REASONS: Record<string, SecretErrorReason> = {
  ResourceNotFoundException: 'not-found',
  ResourceExistsException: 'exists',
  InvalidParameterException: 'invalid',
  InvalidRequestException: 'invalid',
  ValidationException: 'invalid',
  SerializationException: 'invalid',
  AccessDeniedException: 'denied',
  AccessDenied: 'denied',
  UnrecognizedClientException: 'denied',
  InvalidSignatureException: 'denied',
  IncompleteSignatureException: 'denied',
  MissingAuthenticationTokenException: 'denied',
  ExpiredTokenException: 'denied',
  InvalidClientTokenId: 'denied',
  CredentialsProviderError: 'denied',
  InternalServiceError: 'unavailable',
  ThrottlingException: 'unavailable',
  ServiceUnavailable: 'unavailable',
  RequestTimeout: 'unavailable',
  TimeoutError: 'unavailable',
};

/** How an SDK failure reads: by the error's name, else by its HTTP status or fault. */
const SDK_ERRORS: SdkErrors = {
  reason(error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
    let reason: SecretErrorReason = REASONS[e?.name ?? ''] ?? 'failed';
    const status = e?.$metadata?.httpStatusCode;
    if (
      reason === 'failed' &&
      (isNetworkError(error) || (status !== undefined && status >= 500) || e?.$fault === 'server')
    ) {
      reason = 'unavailable';
    }
    if (reason === 'failed' && (status === 401 || status === 403)) reason = 'denied';
    return reason;
  },
  refused: (error) => `AWS Secrets Manager refused the call (${(error as { name?: string })?.name ?? 'error'})`,
};

export function createAwsProvider(options: AwsProviderOptions): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(KIND, 'options', 'are required');
  const name = providerName(options.name, KIND, KIND);
  if (options.client === undefined) {
    if (typeof options.region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(options.region)) {
      throw optionError(KIND, 'region', 'must be an AWS region such as "eu-west-1" (or pass option client)');
    }
    if (options.endpoint !== undefined) {
      try {
        new URL(options.endpoint);
      } catch {
        throw optionError(KIND, 'endpoint', 'must be an absolute URL');
      }
    }
  }
  for (const key of ['maxAttempts', 'connectTimeoutMs', 'requestTimeoutMs'] as const) {
    integerOption(KIND, key, options[key], 1);
  }
  const kit = new ProviderKit({
    provider: name,
    kind: KIND,
    namePattern: /^[A-Za-z0-9/_+=.@-]{1,512}$/,
    nameRule: '1-512 characters of A-Z a-z 0-9 / _ + = . @ -',
    capabilities: {
      disable: false,
      destroy: false,
      labels: false,
      atomicPromote: true,
      durable: true,
      maxValueBytes: MAX_VALUE_BYTES,
    },
    sdk: SDK_ERRORS,
  });
  let owned: SecretsManagerClient | undefined;

  /** The client, created on first use. */
  function client(): SecretsManagerClient {
    if (options.client) return options.client;
    owned ??= new SecretsManagerClient({
      ...options.clientConfig,
      region: options.region,
      ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? options.clientConfig?.maxAttempts ?? 3,
      requestHandler: {
        connectionTimeout: options.connectTimeoutMs ?? 5_000,
        requestTimeout: options.requestTimeoutMs ?? 15_000,
      },
    });
    return owned;
  }

  /** One SDK call; `run` gets the client and the request options carrying the call's signal. */
  function call<T>(
    ctx: FailedCall,
    opts: SecretCallOptions | undefined,
    run: (c: SecretsManagerClient, http: { abortSignal?: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    return kit.call(ctx, opts, () => run(client(), { abortSignal: opts?.signal }));
  }

  /** Every version, deprecated ones included. */
  async function listAll(secret: string, opts: SecretCallOptions | undefined): Promise<SecretVersionsListEntry[]> {
    const out: SecretVersionsListEntry[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call({ secret }, opts, (c, http) =>
        c.send(
          new ListSecretVersionIdsCommand({
            SecretId: secret,
            IncludeDeprecated: true,
            MaxResults: 100,
            NextToken: nextToken,
          }),
          http,
        ),
      );
      out.push(...(page.Versions ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return out;
  }

  /** The version `version` of `secret`, from its list (`NOT_FOUND` when it is not there). */
  async function find(secret: string, version: string, opts: SecretCallOptions | undefined) {
    const versions = await listAll(secret, opts);
    return {
      versions,
      target: kit.found(
        secret,
        version,
        versions.find((v) => v.VersionId === version),
      ),
    };
  }

  function info(
    secret: string,
    entry: { VersionId?: string; VersionStages?: string[]; CreatedDate?: Date },
  ): SecretVersionInfo {
    const labels = entry.VersionStages ?? [];
    return versionInfo({
      name: secret,
      version: entry.VersionId ?? '',
      stage: stageOf(labels),
      state: labels.length > 0 ? 'enabled' : 'disabled',
      createdAt: toIso(entry.CreatedDate),
      native: [...labels].sort(),
    });
  }

  async function removeLabel(secret: string, label: string, version: string, opts: SecretCallOptions | undefined) {
    await call({ secret, secretVersion: version }, opts, (c, http) =>
      c.send(
        new UpdateSecretVersionStageCommand({ SecretId: secret, VersionStage: label, RemoveFromVersionId: version }),
        http,
      ),
    );
  }

  return kit.assemble(
    {
      async create(secret, value, opts) {
        kit.writing(secret, value, opts);
        const out = await call({ secret, redact: value }, opts, (c, http) =>
          c.send(
            new CreateSecretCommand({ Name: secret, SecretString: value, ClientRequestToken: randomUUID() }),
            http,
          ),
        );
        return info(secret, { VersionId: out.VersionId, VersionStages: [AWS_STAGE_LABELS.current] });
      },

      async read(secret, selector, opts) {
        const sel = kit.reading(secret, selector, opts);
        const shown = typeof sel === 'string' ? sel : sel.version;
        const input =
          typeof sel === 'string'
            ? { SecretId: secret, VersionStage: AWS_STAGE_LABELS[sel] }
            : { SecretId: secret, VersionId: sel.version };
        const out = await call({ secret, secretVersion: shown }, opts, (c, http) =>
          c.send(new GetSecretValueCommand(input), http),
        );
        if (out.SecretString === undefined) {
          throw kit.error(
            'invalid',
            'the version holds SecretBinary; only SecretString is supported',
            secret,
            out.VersionId,
          );
        }
        if ((out.VersionStages ?? []).length === 0) {
          throw kit.error(
            'revoked',
            'the version has no staging label left (deprecated, revoked)',
            secret,
            out.VersionId,
          );
        }
        return secretValue({
          name: secret,
          version: out.VersionId ?? '',
          value: out.SecretString,
          createdAt: toIso(out.CreatedDate),
        });
      },

      async write(secret, value, opts) {
        kit.writing(secret, value, opts);
        const out = await call({ secret, redact: value }, opts, (c, http) =>
          c.send(
            new PutSecretValueCommand({
              SecretId: secret,
              SecretString: value,
              VersionStages: [AWS_STAGE_LABELS.pending],
              ClientRequestToken: randomUUID(),
            }),
            http,
          ),
        );
        return info(secret, { VersionId: out.VersionId, VersionStages: out.VersionStages });
      },

      async promote(secret, version, opts): Promise<PromoteResult> {
        const expected = kit.promoting(secret, version, opts);
        const { versions, target } = await find(secret, version, opts);
        const holder = (label: string) => versions.find((v) => v.VersionStages?.includes(label))?.VersionId;
        const current = holder('AWSCURRENT');
        const previous = holder('AWSPREVIOUS');
        kit.expectCurrent(secret, version, expected, current);
        const labels = target.VersionStages ?? [];
        if (labels.length === 0) {
          throw kit.error(
            'revoked',
            'cannot promote a version without staging labels (deprecated, revoked)',
            secret,
            version,
          );
        }
        if (current === version) return { current: version, previous, revoked: undefined };
        try {
          await call({ secret, secretVersion: version }, opts, (c, http) =>
            c.send(
              new UpdateSecretVersionStageCommand({
                SecretId: secret,
                VersionStage: AWS_STAGE_LABELS.current,
                MoveToVersionId: version,
                RemoveFromVersionId: current,
              }),
              http,
            ),
          );
        } catch (error) {
          // AWS checks RemoveFromVersionId against the label's holder: another promote got there first.
          if (isSecretError(error, 'invalid')) {
            throw kit.error('conflict', 'AWSCURRENT moved while promoting', secret, version, error.cause);
          }
          throw error;
        }
        if (labels.includes(AWS_STAGE_LABELS.pending)) {
          await removeLabel(secret, AWS_STAGE_LABELS.pending, version, opts);
        }
        return { current: version, previous: current, revoked: previous !== version ? previous : undefined };
      },

      async revoke(secret, version, opts) {
        kit.targeting(secret, version, opts);
        const { target } = await find(secret, version, opts);
        const labels = target.VersionStages ?? [];
        if (labels.includes(AWS_STAGE_LABELS.current)) throw kit.currentRefused(secret, version, 'revoke');
        for (const label of labels) await removeLabel(secret, label, version, opts);
      },

      async listVersions(secret, opts) {
        kit.prelude(secret, opts);
        const versions = await listAll(secret, opts);
        return versions
          .map((v) => info(secret, v))
          .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
      },
    },
    () => {
      owned?.destroy();
    },
  );
}
