/**
 * `@summit-config/secrets/gcp`: the provider on Google Secret Manager (`@google-cloud/secret-manager`
 * v6, an optional peer dependency loaded only from this entry point), in REST fallback mode by
 * default (no gRPC channel).
 *
 *   const gcp = createGcpProvider({ projectId: 'my-project', accessToken: () => tokenFromSomewhere() });
 *
 * Versions are GCP's numbered versions; stages are version aliases `current`, `previous`,
 * `pending` on the secret, changed by `updateSecret` (`version_aliases` in the update mask) with
 * the secret's etag, so every stage change is one compare-and-set (a concurrent change is retried
 * against the fresh aliases; a stale `expectedCurrent` is `VERSION_CONFLICT`). Revoke removes the
 * version's aliases, then disables it (`disableSecretVersion`); destroy does the same and then
 * `destroySecretVersion`. A secret never managed by Summit (no `current` alias) reads `latest` as
 * its current version.
 */
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import type { PromoteResult, SecretCallOptions, SecretProvider, SecretStage, SecretVersionInfo } from '../contract.js';
import { isSecretError } from '../errors.js';
import { integerOption, optionError, ProviderKit, providerName, secretValue, versionInfo } from '../provider-kit.js';
import {
  type GcpAccessToken,
  type GcpCall,
  SDK_ERRORS,
  stateOf,
  staticTokenAuth,
  timestamp,
  untilAborted,
  versionId,
} from './gcp-sdk.js';

export { type GcpAccessToken, staticTokenAuth } from './gcp-sdk.js';

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

export interface GcpProviderOptions {
  /** Instance name used in references and errors. Default `gcp`. */
  name?: string;
  /** The project holding the secrets (id or number). Required. */
  projectId: string;
  /**
   * OAuth2 access token for `Authorization: Bearer`. With it the client never looks for
   * credentials (no metadata server, no token endpoint). Exclusive with `authClient`.
   */
  accessToken?: GcpAccessToken;
  /**
   * A google-auth-library client (`GoogleAuth`, `OAuth2Client`, ...). Default when neither this
   * nor `accessToken` is given: the SDK's Application Default Credentials.
   */
  authClient?: unknown;
  /** API host. Default `secretmanager.googleapis.com`. */
  apiEndpoint?: string;
  /** API port. Default 443. */
  port?: number;
  /** `https` (default) or `http` (a local emulator or test fake only). */
  protocol?: 'http' | 'https';
  /** Transport: `'rest'`/`true` (HTTP/1 JSON, the default) or `false` (gRPC). */
  fallback?: boolean | 'rest';
  /** Milliseconds per call, retries included. Default 30 000. */
  timeoutMs?: number;
  /** Retries of retryable failures (UNAVAILABLE, ...) per call. Default: the SDK's policy. */
  maxRetries?: number;
  /** More client options, passed through (the options above win). */
  clientOptions?: ClientOptions;
  /** A client to use instead of creating one; it is borrowed (`close()` leaves it). */
  client?: SecretManagerServiceClient;
}

const KIND = 'gcp';
const MAX_VALUE_BYTES = 65_536;
/** Compare-and-set attempts of an alias change before giving up (reason `conflict`). */
const ALIAS_ATTEMPTS = 5;

/** Checks the options that have a rule (`projectId` is required). */
function checkOptions(options: GcpProviderOptions): void {
  if (typeof options.projectId !== 'string' || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(options.projectId)) {
    throw optionError(KIND, 'projectId', 'must be a project id or number');
  }
  if (options.accessToken !== undefined && options.authClient !== undefined) {
    throw optionError(KIND, 'accessToken', 'and option authClient are exclusive');
  }
  if (
    options.accessToken !== undefined &&
    typeof options.accessToken !== 'string' &&
    typeof options.accessToken !== 'function'
  ) {
    throw optionError(KIND, 'accessToken', 'must be a string or a function');
  }
  if (options.protocol !== undefined && options.protocol !== 'http' && options.protocol !== 'https') {
    throw optionError(KIND, 'protocol', 'must be "http" or "https"');
  }
  for (const key of ['port', 'timeoutMs'] as const) integerOption(KIND, key, options[key], 1);
  integerOption(KIND, 'maxRetries', options.maxRetries, 0);
}

export function createGcpProvider(options: GcpProviderOptions): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(KIND, 'options', 'are required');
  const name = providerName(options.name, KIND, KIND);
  checkOptions(options);
  const project = `projects/${options.projectId}`;
  const callOptions = {
    timeout: options.timeoutMs ?? 30_000,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
  };
  const kit = new ProviderKit<GcpCall>({
    provider: name,
    kind: KIND,
    namePattern: /^[A-Za-z0-9_-]{1,255}$/,
    nameRule: '1-255 characters of A-Z a-z 0-9 _ -',
    capabilities: {
      disable: true,
      destroy: true,
      labels: false,
      atomicPromote: true,
      durable: true,
      maxValueBytes: MAX_VALUE_BYTES,
    },
    // GCP versions are numbers; anything else cannot exist.
    versionIds: /^[1-9][0-9]{0,18}$/,
    sdk: SDK_ERRORS,
  });
  let owned: SecretManagerServiceClient | undefined;
  let ready: Promise<SecretManagerServiceClient> | undefined;

  /**
   * The client, created and initialised (credentials resolved) on first use. A client whose
   * initialisation failed is discarded, never called: its methods would each leave an unhandled
   * rejection behind (the SDK rethrows the failed initialisation in a detached promise).
   */
  function client(): Promise<SecretManagerServiceClient> {
    ready ??= (async () => {
      const c = create();
      await c.initialize();
      return c;
    })().catch((error: unknown) => {
      ready = undefined;
      const failed = owned;
      owned = undefined;
      failed?.close().catch(() => {});
      throw error;
    });
    return ready;
  }

  function create(): SecretManagerServiceClient {
    if (options.client) return options.client;
    if (!owned) {
      const auth =
        options.accessToken !== undefined
          ? { authClient: staticTokenAuth(options.accessToken) }
          : options.authClient !== undefined
            ? { authClient: options.authClient }
            : {};
      owned = new SecretManagerServiceClient({
        ...options.clientOptions,
        fallback: options.fallback ?? options.clientOptions?.fallback ?? true,
        ...(options.apiEndpoint !== undefined ? { apiEndpoint: options.apiEndpoint } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.protocol !== undefined ? { protocol: options.protocol } : {}),
        ...auth,
      } as ClientOptions);
    }
    return owned;
  }

  const secretPath = (secret: string) => `${project}/secrets/${secret}`;
  const versionPath = (secret: string, version: string) => `${secretPath(secret)}/versions/${version}`;

  /** Runs one SDK call; an abort rejects at once with the signal's reason. */
  function call<T>(
    ctx: GcpCall,
    opts: SecretCallOptions | undefined,
    run: (c: SecretManagerServiceClient) => Promise<T>,
  ) {
    return kit.call(ctx, opts, () => untilAborted(client().then(run), opts?.signal));
  }

  interface Aliases {
    readonly aliases: Map<string, string>;
    readonly etag: string | undefined;
  }

  async function getAliases(secret: string, opts: SecretCallOptions | undefined): Promise<Aliases> {
    const [out] = await call({ secret }, opts, (c) => c.getSecret({ name: secretPath(secret) }, callOptions));
    const raw = (out.versionAliases ?? {}) as Record<string, unknown>;
    return {
      aliases: new Map(Object.entries(raw).map(([k, v]) => [k, String(v)])),
      etag: out.etag ?? undefined,
    };
  }

  /**
   * Reads the aliases, lets `change` edit them (it may throw to abort) and writes them back with
   * the etag read; a concurrent change makes the write fail and the whole step is retried.
   */
  async function changeAliases<T>(
    secret: string,
    opts: SecretCallOptions | undefined,
    change: (aliases: Map<string, string>) => T,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const { aliases, etag } = await getAliases(secret, opts);
      const before = JSON.stringify([...aliases].sort());
      const result = change(aliases);
      if (JSON.stringify([...aliases].sort()) === before) return result;
      try {
        await call({ secret, failedPrecondition: 'conflict' }, opts, (c) =>
          c.updateSecret(
            {
              secret: {
                name: secretPath(secret),
                versionAliases: Object.fromEntries([...aliases].map(([k, v]) => [k, Number(v)])),
                etag,
              },
              updateMask: { paths: ['version_aliases'] },
            },
            callOptions,
          ),
        );
        return result;
      } catch (error) {
        if (!isSecretError(error, 'conflict') || attempt >= ALIAS_ATTEMPTS) throw error;
      }
    }
  }

  async function addVersion(secret: string, value: string, opts: SecretCallOptions | undefined): Promise<string> {
    const [out] = await call({ secret, redact: value }, opts, (c) =>
      c.addSecretVersion({ parent: secretPath(secret), payload: { data: Buffer.from(value, 'utf8') } }, callOptions),
    );
    return versionId(out.name);
  }

  async function disable(secret: string, version: string, opts: SecretCallOptions | undefined): Promise<void> {
    await call({ secret, secretVersion: version, failedPrecondition: 'revoked' }, opts, (c) =>
      c.disableSecretVersion({ name: versionPath(secret, version) }, callOptions),
    ).catch((error: unknown) => {
      // Already destroyed: nothing left to disable.
      if (!isSecretError(error, 'revoked')) throw error;
    });
  }

  async function getVersionState(secret: string, version: string, opts: SecretCallOptions | undefined) {
    const [out] = await call({ secret, secretVersion: version }, opts, (c) =>
      c.getSecretVersion({ name: versionPath(secret, version) }, callOptions),
    );
    return stateOf(out.state);
  }

  async function access(secret: string, ref: string, shown: string, opts: SecretCallOptions | undefined) {
    const [out] = await call({ secret, secretVersion: shown, failedPrecondition: 'revoked' }, opts, (c) =>
      c.accessSecretVersion({ name: versionPath(secret, ref) }, callOptions),
    );
    const data = out.payload?.data;
    const value =
      typeof data === 'string'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(data ?? []).toString('utf8');
    return secretValue({ name: secret, version: versionId(out.name), value, createdAt: undefined });
  }

  /** Removes every alias of `version` (`revoke`, `destroy`); refuses when it is current. */
  async function dropAliases(
    secret: string,
    version: string,
    verb: 'revoke' | 'destroy',
    opts: SecretCallOptions | undefined,
  ) {
    await changeAliases(secret, opts, (aliases) => {
      if (aliases.get('current') === version) throw kit.currentRefused(secret, version, verb);
      for (const [alias, v] of [...aliases]) if (v === version) aliases.delete(alias);
    });
  }

  /** What `create` and `write` return: a new version holding `stage`. */
  function staged(secret: string, version: string, stage: SecretStage): SecretVersionInfo {
    return versionInfo({ name: secret, version, stage, state: 'enabled', createdAt: undefined, native: [stage] });
  }

  return kit.assemble(
    {
      async create(secret, value, opts) {
        kit.writing(secret, value, opts);
        await call({ secret }, opts, (c) =>
          c.createSecret(
            { parent: project, secretId: secret, secret: { replication: { automatic: {} } } },
            callOptions,
          ),
        );
        const version = await addVersion(secret, value, opts);
        await changeAliases(secret, opts, (aliases) => aliases.set('current', version));
        return staged(secret, version, 'current');
      },

      async read(secret, selector, opts) {
        const sel = kit.reading(secret, selector, opts);
        if (typeof sel !== 'string') return access(secret, sel.version, sel.version, opts);
        try {
          return await access(secret, sel, sel, opts);
        } catch (error) {
          if (sel !== 'current' || !isSecretError(error, 'not-found')) throw error;
          // No `current` alias: a secret Summit never managed reads its latest version.
          const { aliases } = await getAliases(secret, opts);
          if (aliases.has('current')) throw error;
          return access(secret, 'latest', sel, opts);
        }
      },

      async write(secret, value, opts) {
        kit.writing(secret, value, opts);
        const version = await addVersion(secret, value, opts);
        let older: string | undefined;
        try {
          older = await changeAliases(secret, opts, (aliases) => {
            const old = aliases.get('pending');
            aliases.set('pending', version);
            return old;
          });
        } catch (error) {
          // The new version never became pending: do not leave it readable (best effort).
          await disable(secret, version, undefined).catch(() => {});
          throw error;
        }
        if (older !== undefined && older !== version) await disable(secret, older, opts);
        return staged(secret, version, 'pending');
      },

      async promote(secret, version, opts): Promise<PromoteResult> {
        const expected = kit.promoting(secret, version, opts);
        const state = await getVersionState(secret, version, opts);
        if (state !== 'enabled') throw kit.error('revoked', `cannot promote a ${state} version`, secret, version);
        const result = await changeAliases(secret, opts, (aliases): PromoteResult => {
          const current = aliases.get('current');
          const previous = aliases.get('previous');
          kit.expectCurrent(secret, version, expected, current);
          if (current === version) return { current: version, previous, revoked: undefined };
          for (const [alias, v] of [...aliases]) if (v === version) aliases.delete(alias);
          aliases.set('current', version);
          if (current !== undefined) aliases.set('previous', current);
          else aliases.delete('previous');
          return { current: version, previous: current, revoked: previous !== version ? previous : undefined };
        });
        if (result.revoked !== undefined) await disable(secret, result.revoked, opts);
        return result;
      },

      async revoke(secret, version, opts) {
        kit.targeting(secret, version, opts);
        await getVersionState(secret, version, opts);
        await dropAliases(secret, version, 'revoke', opts);
        await disable(secret, version, opts);
      },

      async destroy(secret, version, opts) {
        kit.targeting(secret, version, opts);
        if ((await getVersionState(secret, version, opts)) === 'destroyed') return;
        await dropAliases(secret, version, 'destroy', opts);
        await call({ secret, secretVersion: version }, opts, (c) =>
          c.destroySecretVersion({ name: versionPath(secret, version) }, callOptions),
        );
      },

      async listVersions(secret, opts) {
        kit.prelude(secret, opts);
        const { aliases } = await getAliases(secret, opts);
        const [versions] = await call({ secret }, opts, (c) =>
          c.listSecretVersions({ parent: secretPath(secret), pageSize: 100 }, { ...callOptions, autoPaginate: true }),
        );
        const byVersion = new Map<string, string[]>();
        for (const [alias, v] of aliases) byVersion.set(v, [...(byVersion.get(v) ?? []), alias]);
        const out: SecretVersionInfo[] = versions.map((v) => {
          const id = versionId(v.name);
          const native = (byVersion.get(id) ?? []).sort();
          const stage = (['current', 'pending', 'previous'] as SecretStage[]).find((s) => aliases.get(s) === id);
          return versionInfo({
            name: secret,
            version: id,
            stage,
            state: stateOf(v.state),
            createdAt: timestamp(v.createTime),
            native,
          });
        });
        return out.sort((a, b) => Number(a.version) - Number(b.version));
      },
    },
    async () => {
      await owned?.close();
    },
  );
}
