/**
 * `@summit-config/secrets/azure`: the provider on Azure Key Vault (`@azure/keyvault-secrets` ~4.11
 * and `@azure/core-auth`, optional peer dependencies loaded only from this entry point).
 *
 *   const azure = createAzureProvider({ vaultUrl: 'https://my-vault.vault.azure.net', credential });
 *
 * Every `setSecret` makes a new version, which Key Vault also makes its "latest"; so stages are
 * version tags, not "latest": `stage` = `pending` | `current` | `previous`, and `stageSince` (ISO
 * time the stage was given). `write` sets a version tagged `pending`; `promote` re-tags the target
 * `current`, the old current `previous`, and revokes the old previous; `revoke` disables the version
 * (`attributes.enabled = false`) and removes its stage tags. Tag updates are one request per
 * version, so a promote is not atomic (`capabilities.atomicPromote` is false): while it runs, two
 * versions may carry `stage=current`, and readers take the one with the newest `stageSince`, which
 * is already the promoted version. A secret never managed by Summit (no stage tags at all) reads
 * its latest version as current. Caller labels are the version's other tags.
 *
 * Key Vault's SDK sends bearer tokens over HTTPS only; `credential` is any `TokenCredential`
 * (`@azure/identity`'s, or {@link staticTokenCredential}).
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { SecretClient, type SecretClientOptions, type SecretProperties } from '@azure/keyvault-secrets';
import type { PromoteResult, SecretCallOptions, SecretProvider, SecretStage, SecretVersionInfo } from '../contract.js';
import { type FailedCall, isNetworkError, isSecretError } from '../errors.js';
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

export interface AzureProviderOptions {
  /** Instance name used in references and errors. Default `azure`. */
  name?: string;
  /** `https://<vault>.vault.azure.net` (HTTPS only). Required unless `client` is given. */
  vaultUrl?: string;
  /** Where tokens come from. Required unless `client` is given. */
  credential?: TokenCredential;
  /**
   * Skip the check that the challenge's resource matches the vault's domain (for a vault behind a
   * custom domain, or a test fake). Default false.
   */
  disableChallengeResourceVerification?: boolean;
  /** Retries of failed requests (network, 429, 5xx) per call, with backoff. Default 3. */
  maxRetries?: number;
  /** More client options, passed through (e.g. `agent`, `proxyOptions`, `serviceVersion`). */
  clientOptions?: SecretClientOptions;
  /** A client to use instead of creating one; it is borrowed. */
  client?: SecretClient;
}

const KIND = 'azure';
/** Key Vault accepts values up to 25 KiB. */
const MAX_VALUE_BYTES = 25 * 1024;
const STAGE_TAG = 'stage';
const SINCE_TAG = 'stageSince';

/** A `TokenCredential` that hands out one fixed token (for tests, or a token obtained elsewhere). */
export function staticTokenCredential(token: string, lifetimeMs = 3_600_000): TokenCredential {
  if (typeof token !== 'string' || token.length === 0) throw optionError(KIND, 'token', 'must be a non-empty string');
  return {
    async getToken(): Promise<AccessToken> {
      return { token, expiresOnTimestamp: Date.now() + lifetimeMs };
    },
  };
}

function stageTag(p: SecretProperties): SecretStage | undefined {
  const s = p.tags?.[STAGE_TAG];
  return s === 'current' || s === 'previous' || s === 'pending' ? s : undefined;
}

function labelsOf(p: SecretProperties): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.tags ?? {})) if (k !== STAGE_TAG && k !== SINCE_TAG) out[k] = v;
  return out;
}

/** How an SDK failure reads: by its HTTP status, else as a transport failure. */
const SDK_ERRORS: SdkErrors = {
  reason(error) {
    const e = error as { statusCode?: number; code?: string; message?: string; details?: unknown };
    const status = e?.statusCode;
    const inner = JSON.stringify(e?.details ?? '');
    if (status === 404) return 'not-found';
    if (status === 403 && (/SecretDisabled/.test(inner) || /disabled/i.test(e?.message ?? ''))) return 'revoked';
    if (status === 401 || status === 403) return 'denied';
    if (status === 409) return 'exists';
    if (status === 400) return 'invalid';
    if (status === 429 || (status !== undefined && status >= 500)) return 'unavailable';
    if (isNetworkError(error) || e?.code === 'REQUEST_SEND_ERROR') return 'unavailable';
    return 'failed';
  },
  refused(error) {
    const e = error as { statusCode?: number; code?: string };
    return `Key Vault refused the call (${e?.statusCode ?? e?.code ?? 'error'})`;
  },
  revoked: 'the version is disabled',
};

export function createAzureProvider(options: AzureProviderOptions): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(KIND, 'options', 'are required');
  const name = providerName(options.name, KIND, KIND);
  if (options.client === undefined) {
    let url: URL | undefined;
    try {
      url = new URL(String(options.vaultUrl));
    } catch {
      url = undefined;
    }
    if (url?.protocol !== 'https:') throw optionError(KIND, 'vaultUrl', 'must be an https:// URL of the vault');
    if (!options.credential || typeof options.credential.getToken !== 'function') {
      throw optionError(KIND, 'credential', 'must be a TokenCredential (an object with getToken)');
    }
  }
  integerOption(KIND, 'maxRetries', options.maxRetries, 0);
  const kit = new ProviderKit({
    provider: name,
    kind: KIND,
    namePattern: /^[0-9A-Za-z-]{1,127}$/,
    nameRule: '1-127 characters of A-Z a-z 0-9 -',
    capabilities: {
      disable: true,
      destroy: false,
      labels: true,
      atomicPromote: false,
      durable: true,
      maxValueBytes: MAX_VALUE_BYTES,
    },
    sdk: SDK_ERRORS,
  });
  let owned: SecretClient | undefined;

  function client(): SecretClient {
    if (options.client) return options.client;
    owned ??= new SecretClient(options.vaultUrl as string, options.credential as TokenCredential, {
      ...options.clientOptions,
      disableChallengeResourceVerification:
        options.disableChallengeResourceVerification ??
        options.clientOptions?.disableChallengeResourceVerification ??
        false,
      retryOptions: { ...options.clientOptions?.retryOptions, maxRetries: options.maxRetries ?? 3 },
    });
    return owned;
  }

  function call<T>(ctx: FailedCall, opts: SecretCallOptions | undefined, run: (c: SecretClient) => Promise<T>) {
    return kit.call(ctx, opts, () => run(client()));
  }

  /** Every version's properties, oldest first; `NOT_FOUND` when the secret has none. */
  async function listAll(secret: string, opts: SecretCallOptions | undefined): Promise<SecretProperties[]> {
    const out = await call({ secret }, opts, async (c) => {
      const list: SecretProperties[] = [];
      for await (const p of c.listPropertiesOfSecretVersions(secret, { abortSignal: opts?.signal })) list.push(p);
      return list;
    });
    if (out.length === 0) throw kit.missingSecret(secret);
    return out.sort((a, b) => (a.createdOn?.getTime() ?? 0) - (b.createdOn?.getTime() ?? 0));
  }

  /** The version `version` of `secret`, from its list (`NOT_FOUND` when it is not there). */
  async function find(secret: string, version: string, opts: SecretCallOptions | undefined) {
    const versions = await listAll(secret, opts);
    return {
      versions,
      target: kit.found(
        secret,
        version,
        versions.find((v) => v.version === version),
      ),
    };
  }

  /** The enabled version holding `stage`: the newest `stageSince` wins (an interrupted promote). */
  function holder(versions: readonly SecretProperties[], stage: SecretStage): SecretProperties | undefined {
    let best: SecretProperties | undefined;
    for (const v of versions) {
      if (!v.enabled || stageTag(v) !== stage) continue;
      if (!best || (v.tags?.[SINCE_TAG] ?? '') >= (best.tags?.[SINCE_TAG] ?? '')) best = v;
    }
    return best;
  }

  /**
   * A `stageSince` later than every one the versions carry, so the stage given now wins over any
   * older claim even within one millisecond or across a slightly slow clock.
   */
  function nextSince(versions: readonly SecretProperties[]): string {
    let ms = Date.now();
    for (const v of versions) {
      const t = Date.parse(v.tags?.[SINCE_TAG] ?? '');
      if (Number.isFinite(t) && t >= ms) ms = t + 1;
    }
    return new Date(ms).toISOString();
  }

  /** Sets the version's stage tags (keeping its labels) and, when given, its enabled flag. */
  async function retag(
    secret: string,
    v: SecretProperties,
    stage: { stage: SecretStage; since: string } | undefined,
    opts: SecretCallOptions | undefined,
    enabled?: boolean,
  ): Promise<void> {
    const tags = labelsOf(v);
    if (stage) {
      tags[STAGE_TAG] = stage.stage;
      tags[SINCE_TAG] = stage.since;
    }
    const version = v.version as string;
    await call({ secret, secretVersion: version }, opts, (c) =>
      c.updateSecretProperties(secret, version, {
        tags,
        ...(enabled !== undefined ? { enabled } : {}),
        abortSignal: opts?.signal,
      }),
    );
  }

  const revokeVersion = (secret: string, v: SecretProperties, opts: SecretCallOptions | undefined) =>
    retag(secret, v, undefined, opts, false);

  function info(secret: string, v: SecretProperties, versions: readonly SecretProperties[]): SecretVersionInfo {
    const tagged = stageTag(v);
    // A stale duplicate of a stage (interrupted promote) is reported without it.
    const stage = tagged && holder(versions, tagged) === v ? tagged : undefined;
    return versionInfo({
      name: secret,
      version: v.version ?? '',
      stage,
      state: v.enabled === false ? 'disabled' : 'enabled',
      createdAt: toIso(v.createdOn),
      labels: labelsOf(v),
      native: tagged ? [`${STAGE_TAG}=${tagged}`] : [],
    });
  }

  async function getValue(secret: string, version: string, shown: string, opts: SecretCallOptions | undefined) {
    const out = await call({ secret, secretVersion: shown }, opts, (c) =>
      c.getSecret(secret, { version, abortSignal: opts?.signal }),
    );
    if (out.properties.enabled === false) {
      throw kit.error('revoked', 'the version is disabled', secret, out.properties.version);
    }
    return secretValue({
      name: secret,
      version: out.properties.version ?? version,
      value: out.value ?? '',
      createdAt: toIso(out.properties.createdOn),
    });
  }

  async function newVersion(
    secret: string,
    value: string,
    stage: SecretStage,
    labels: Record<string, string>,
    since: string,
    opts: SecretCallOptions | undefined,
  ): Promise<SecretVersionInfo> {
    const tags = { ...labels, [STAGE_TAG]: stage, [SINCE_TAG]: since };
    const out = await call({ secret, redact: value }, opts, (c) =>
      c.setSecret(secret, value, { tags, abortSignal: opts?.signal }),
    );
    return versionInfo({
      name: secret,
      version: out.properties.version ?? '',
      stage,
      state: 'enabled',
      createdAt: toIso(out.properties.createdOn),
      labels,
      native: [`${STAGE_TAG}=${stage}`],
    });
  }

  return kit.assemble(
    {
      async create(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        // Key Vault has no create-if-absent: check first (not atomic with the set).
        const exists = await listAll(secret, opts).then(
          () => true,
          (error: unknown) => {
            if (isSecretError(error, 'not-found')) return false;
            throw error;
          },
        );
        if (exists) throw kit.error('exists', 'the secret already exists', secret);
        return newVersion(secret, value, 'current', labels, new Date().toISOString(), opts);
      },

      async read(secret, selector, opts) {
        const sel = kit.reading(secret, selector, opts);
        if (typeof sel !== 'string') {
          if (!/^[0-9A-Za-z]{1,64}$/.test(sel.version)) throw kit.missingVersion(secret, sel.version);
          return getValue(secret, sel.version, sel.version, opts);
        }
        const versions = await listAll(secret, opts);
        const found = holder(versions, sel);
        if (found) return getValue(secret, found.version as string, sel, opts);
        if (sel === 'current' && !versions.some((v) => stageTag(v) !== undefined)) {
          // Never managed by Summit: the latest version is current.
          return getValue(secret, '', sel, opts);
        }
        throw kit.error('not-found', `no version is ${sel}`, secret, sel);
      },

      async write(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        const before = await listAll(secret, opts);
        const created = await newVersion(secret, value, 'pending', labels, nextSince(before), opts);
        for (const v of before) {
          if (v.enabled && stageTag(v) === 'pending') await revokeVersion(secret, v, opts);
        }
        return created;
      },

      async promote(secret, version, opts): Promise<PromoteResult> {
        const expected = kit.promoting(secret, version, opts);
        const { versions, target } = await find(secret, version, opts);
        const current = holder(versions, 'current');
        const previous = holder(versions, 'previous');
        kit.expectCurrent(secret, version, expected, current?.version);
        if (target.enabled === false) throw kit.error('revoked', 'cannot promote a disabled version', secret, version);
        if (current === target) return { current: version, previous: previous?.version, revoked: undefined };
        const since = nextSince(versions);
        // 1. The target becomes current: from here on readers get it (newest stageSince).
        await retag(secret, target, { stage: 'current', since }, opts);
        // 2. The old current becomes previous.
        if (current) await retag(secret, current, { stage: 'previous', since }, opts);
        // 3. Everything else still claiming a stage the promote took (the old previous, and stale
        //    duplicates of an interrupted promote) is revoked.
        let revoked: string | undefined;
        for (const v of versions) {
          if (v === target || v === current || !v.enabled) continue;
          const stage = stageTag(v);
          if (stage === 'previous' || stage === 'current') {
            await revokeVersion(secret, v, opts);
            if (v === previous) revoked = v.version;
          }
        }
        return { current: version, previous: current?.version, revoked };
      },

      async revoke(secret, version, opts) {
        kit.targeting(secret, version, opts);
        const { versions, target } = await find(secret, version, opts);
        if (holder(versions, 'current') === target) throw kit.currentRefused(secret, version, 'revoke');
        if (target.enabled === false && stageTag(target) === undefined) return;
        await revokeVersion(secret, target, opts);
      },

      async listVersions(secret, opts) {
        kit.prelude(secret, opts);
        const versions = await listAll(secret, opts);
        return versions.map((v) => info(secret, v, versions));
      },
    },
    () => {},
  );
}
