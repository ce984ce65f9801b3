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
import { abortReason } from '@summit-config/core';
import type {
  PromoteResult,
  SecretCallOptions,
  SecretProvider,
  SecretProviderCapabilities,
  SecretStage,
  SecretVersionInfo,
} from '../contract.js';
import {
  type FailedCall as Ctx,
  isNetworkError,
  isSecretError,
  providerFailure,
  type SecretErrorReason,
  secretError,
} from '../errors.js';
import { optionError, ProviderKit, providerName, secretValue, toIso, versionInfo } from '../provider-kit.js';

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
    const v = options[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
      throw optionError(KIND, key, 'must be a positive integer');
  }
  const kit = new ProviderKit({
    provider: name,
    kind: KIND,
    namePattern: /^[A-Za-z0-9/_+=.@-]{1,512}$/,
    nameRule: '1-512 characters of A-Z a-z 0-9 / _ + = . @ -',
    maxValueBytes: MAX_VALUE_BYTES,
    labels: false,
  });
  const capabilities: SecretProviderCapabilities = Object.freeze({
    disable: false,
    destroy: false,
    labels: false,
    atomicPromote: true,
    durable: true,
    maxValueBytes: MAX_VALUE_BYTES,
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

  /** Maps an SDK error; a `SecretError` passes through, an abort rejects with the signal's reason. */
  function mapError(error: unknown, ctx: Ctx, opts: SecretCallOptions | undefined): unknown {
    if (isSecretError(error)) return error;
    if (opts?.signal?.aborted) return abortReason(opts.signal);
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
    return providerFailure(name, reason, error, ctx, {
      refused: `AWS Secrets Manager refused the call (${e?.name ?? 'error'})`,
    });
  }

  async function call<T>(ctx: Ctx, opts: SecretCallOptions | undefined, run: (c: SecretsManagerClient) => Promise<T>) {
    kit.begin(opts);
    try {
      return await run(client());
    } catch (error) {
      throw mapError(error, ctx, opts);
    }
  }

  /** Every version, deprecated ones included. */
  async function listAll(secret: string, opts: SecretCallOptions | undefined): Promise<SecretVersionsListEntry[]> {
    const out: SecretVersionsListEntry[] = [];
    let nextToken: string | undefined;
    do {
      const page = await call({ secret }, opts, (c) =>
        c.send(
          new ListSecretVersionIdsCommand({
            SecretId: secret,
            IncludeDeprecated: true,
            MaxResults: 100,
            NextToken: nextToken,
          }),
          { abortSignal: opts?.signal },
        ),
      );
      out.push(...(page.Versions ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    return out;
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

  function find(secret: string, versions: SecretVersionsListEntry[], version: string): SecretVersionsListEntry {
    const found = versions.find((v) => v.VersionId === version);
    if (!found)
      throw secretError('not-found', 'the version does not exist', { provider: name, secret, secretVersion: version });
    return found;
  }

  async function removeLabel(secret: string, label: string, version: string, opts: SecretCallOptions | undefined) {
    await call({ secret, secretVersion: version }, opts, (c) =>
      c.send(
        new UpdateSecretVersionStageCommand({ SecretId: secret, VersionStage: label, RemoveFromVersionId: version }),
        {
          abortSignal: opts?.signal,
        },
      ),
    );
  }

  const provider: SecretProvider = {
    name,
    kind: KIND,
    capabilities,

    async create(secret, value, opts) {
      kit.begin(opts);
      kit.name(secret);
      kit.value(value, secret);
      kit.labels(opts?.labels, secret);
      const out = await call({ secret, redact: value }, opts, (c) =>
        c.send(new CreateSecretCommand({ Name: secret, SecretString: value, ClientRequestToken: randomUUID() }), {
          abortSignal: opts?.signal,
        }),
      );
      return versionInfo({
        name: secret,
        version: out.VersionId ?? '',
        stage: 'current',
        state: 'enabled',
        createdAt: undefined,
        native: ['AWSCURRENT'],
      });
    },

    async read(secret, selector, opts) {
      kit.begin(opts);
      kit.name(secret);
      const sel = kit.selector(selector, secret);
      const shown = typeof sel === 'string' ? sel : sel.version;
      const input =
        typeof sel === 'string'
          ? { SecretId: secret, VersionStage: AWS_STAGE_LABELS[sel] }
          : { SecretId: secret, VersionId: sel.version };
      const out = await call({ secret, secretVersion: shown }, opts, (c) =>
        c.send(new GetSecretValueCommand(input), { abortSignal: opts?.signal }),
      );
      if (out.SecretString === undefined) {
        throw secretError('invalid', 'the version holds SecretBinary; only SecretString is supported', {
          provider: name,
          secret,
          secretVersion: out.VersionId,
        });
      }
      if ((out.VersionStages ?? []).length === 0) {
        throw secretError('revoked', 'the version has no staging label left (deprecated, revoked)', {
          provider: name,
          secret,
          secretVersion: out.VersionId,
        });
      }
      return secretValue({
        name: secret,
        version: out.VersionId ?? '',
        value: out.SecretString,
        createdAt: toIso(out.CreatedDate),
      });
    },

    async write(secret, value, opts) {
      kit.begin(opts);
      kit.name(secret);
      kit.value(value, secret);
      kit.labels(opts?.labels, secret);
      const out = await call({ secret, redact: value }, opts, (c) =>
        c.send(
          new PutSecretValueCommand({
            SecretId: secret,
            SecretString: value,
            VersionStages: [AWS_STAGE_LABELS.pending],
            ClientRequestToken: randomUUID(),
          }),
          { abortSignal: opts?.signal },
        ),
      );
      return info(secret, { VersionId: out.VersionId, VersionStages: out.VersionStages });
    },

    async promote(secret, version, opts): Promise<PromoteResult> {
      kit.begin(opts);
      kit.name(secret);
      kit.version(version, secret);
      const expected = opts?.expectedCurrent;
      if (expected !== undefined) kit.version(expected, secret);
      const versions = await listAll(secret, opts);
      const target = find(secret, versions, version);
      const holder = (label: string) => versions.find((v) => v.VersionStages?.includes(label))?.VersionId;
      const current = holder('AWSCURRENT');
      const previous = holder('AWSPREVIOUS');
      if (expected !== undefined && current !== expected) {
        throw secretError(
          'conflict',
          `the current version is ${current ? `"${current}"` : 'none'}, not "${expected}"`,
          {
            provider: name,
            secret,
            secretVersion: version,
          },
        );
      }
      const labels = target.VersionStages ?? [];
      if (labels.length === 0) {
        throw secretError('revoked', 'cannot promote a version without staging labels (deprecated, revoked)', {
          provider: name,
          secret,
          secretVersion: version,
        });
      }
      if (current === version) return { current: version, previous, revoked: undefined };
      try {
        await call({ secret, secretVersion: version }, opts, (c) =>
          c.send(
            new UpdateSecretVersionStageCommand({
              SecretId: secret,
              VersionStage: AWS_STAGE_LABELS.current,
              MoveToVersionId: version,
              RemoveFromVersionId: current,
            }),
            { abortSignal: opts?.signal },
          ),
        );
      } catch (error) {
        // AWS checks RemoveFromVersionId against the label's holder: another promote got there first.
        if (isSecretError(error, 'invalid')) {
          throw secretError('conflict', 'AWSCURRENT moved while promoting', {
            provider: name,
            secret,
            secretVersion: version,
            cause: error.cause,
          });
        }
        throw error;
      }
      if (labels.includes(AWS_STAGE_LABELS.pending)) await removeLabel(secret, AWS_STAGE_LABELS.pending, version, opts);
      return { current: version, previous: current, revoked: previous !== version ? previous : undefined };
    },

    async revoke(secret, version, opts) {
      kit.begin(opts);
      kit.name(secret);
      kit.version(version, secret);
      const target = find(secret, await listAll(secret, opts), version);
      const labels = target.VersionStages ?? [];
      if (labels.includes(AWS_STAGE_LABELS.current)) {
        throw secretError('invalid', 'cannot revoke the current version: promote another version first', {
          provider: name,
          secret,
          secretVersion: version,
        });
      }
      for (const label of labels) await removeLabel(secret, label, version, opts);
    },

    async listVersions(secret, opts) {
      kit.begin(opts);
      kit.name(secret);
      const versions = await listAll(secret, opts);
      return versions.map((v) => info(secret, v)).sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
    },

    close() {
      return kit.lifecycle.close(() => {
        owned?.destroy();
      });
    },

    [Symbol.asyncDispose]() {
      return provider.close();
    },
  };
  return provider;
}
