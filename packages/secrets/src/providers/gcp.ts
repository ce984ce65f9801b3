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
import { abortReason } from '@summit-config/core';
import type {
  PromoteResult,
  SecretCallOptions,
  SecretProvider,
  SecretProviderCapabilities,
  SecretStage,
  SecretVersionInfo,
  SecretVersionState,
} from '../contract.js';
import {
  type FailedCall,
  isNetworkError,
  isSecretError,
  providerFailure,
  type SecretErrorReason,
  secretError,
} from '../errors.js';
import { optionError, ProviderKit, providerName, secretValue, toIso, versionInfo } from '../provider-kit.js';

type ClientOptions = NonNullable<ConstructorParameters<typeof SecretManagerServiceClient>[0]>;

/** An access token, or a function giving the current one (called before every request). */
export type GcpAccessToken = string | (() => string | Promise<string>);

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

/** gRPC status codes. */
const CODE = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const REASONS: Record<number, SecretErrorReason> = {
  [CODE.INVALID_ARGUMENT]: 'invalid',
  [CODE.DEADLINE_EXCEEDED]: 'unavailable',
  [CODE.NOT_FOUND]: 'not-found',
  [CODE.ALREADY_EXISTS]: 'exists',
  [CODE.PERMISSION_DENIED]: 'denied',
  [CODE.RESOURCE_EXHAUSTED]: 'unavailable',
  [CODE.FAILED_PRECONDITION]: 'invalid',
  [CODE.ABORTED]: 'conflict',
  [CODE.INTERNAL]: 'unavailable',
  [CODE.UNAVAILABLE]: 'unavailable',
  [CODE.UNAUTHENTICATED]: 'denied',
};

/**
 * A minimal google-auth-library-compatible client that sends a fixed (or supplied) bearer token
 * and never contacts anything else: what gax's REST transport calls (`fetch`, `getRequestHeaders`).
 */
export function staticTokenAuth(token: GcpAccessToken): object {
  const get = async () => (typeof token === 'function' ? await token() : token);
  return {
    universeDomain: 'googleapis.com',
    async getRequestHeaders() {
      return new Headers({ authorization: `Bearer ${await get()}` });
    },
    async fetch(url: string | URL, init: NonNullable<Parameters<typeof fetch>[1]> = {}) {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${await get()}`);
      return fetch(url, { method: init.method, headers, body: init.body ?? null, signal: init.signal });
    },
  };
}

function timestamp(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'object' && 'seconds' in value) {
    const { seconds, nanos } = value as { seconds?: unknown; nanos?: unknown };
    return toIso(Number(seconds ?? 0) * 1000 + Math.floor(Number(nanos ?? 0) / 1e6));
  }
  return toIso(value);
}

function stateOf(value: unknown): SecretVersionState {
  if (value === 'ENABLED' || value === 1) return 'enabled';
  if (value === 'DESTROYED' || value === 3) return 'destroyed';
  return 'disabled';
}

/** The version number at the end of a version resource name. */
function versionId(resourceName: unknown): string {
  const s = String(resourceName ?? '');
  return s.slice(s.lastIndexOf('/') + 1);
}

export function createGcpProvider(options: GcpProviderOptions): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(KIND, 'options', 'are required');
  const name = providerName(options.name, KIND, KIND);
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
  for (const key of ['port', 'timeoutMs'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
      throw optionError(KIND, key, 'must be a positive integer');
  }
  if (options.maxRetries !== undefined && (!Number.isSafeInteger(options.maxRetries) || options.maxRetries < 0)) {
    throw optionError(KIND, 'maxRetries', 'must be a non-negative integer');
  }
  const project = `projects/${options.projectId}`;
  const callOptions = {
    timeout: options.timeoutMs ?? 30_000,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
  };
  const kit = new ProviderKit({
    provider: name,
    kind: KIND,
    namePattern: /^[A-Za-z0-9_-]{1,255}$/,
    nameRule: '1-255 characters of A-Z a-z 0-9 _ -',
    maxValueBytes: MAX_VALUE_BYTES,
    labels: false,
  });
  const capabilities: SecretProviderCapabilities = Object.freeze({
    disable: true,
    destroy: true,
    labels: false,
    atomicPromote: true,
    durable: true,
    maxValueBytes: MAX_VALUE_BYTES,
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

  interface Ctx extends FailedCall {
    /** How FAILED_PRECONDITION reads in this call. Default `invalid`. */
    failedPrecondition?: SecretErrorReason;
  }

  function mapError(error: unknown, ctx: Ctx, opts: SecretCallOptions | undefined): unknown {
    if (isSecretError(error)) return error;
    if (opts?.signal?.aborted) return abortReason(opts.signal);
    const code = (error as { code?: unknown })?.code;
    let reason: SecretErrorReason = typeof code === 'number' ? (REASONS[code] ?? 'failed') : 'failed';
    if (code === CODE.FAILED_PRECONDITION) reason = ctx.failedPrecondition ?? 'invalid';
    if (reason === 'failed' && isNetworkError(error)) reason = 'unavailable';
    // google-auth-library found no credentials (Application Default Credentials).
    if (
      reason === 'failed' &&
      /default credentials|credentials? (file|not found)/i.test(String((error as Error)?.message))
    ) {
      reason = 'denied';
    }
    // Fetch reports an unreachable host as "TypeError: fetch failed" with the socket error as cause.
    if (reason === 'failed' && error instanceof TypeError && /fetch failed/.test(error.message)) reason = 'unavailable';
    return providerFailure(name, reason, error, ctx, {
      refused: `Secret Manager refused the call (${typeof code === 'number' ? `code ${code}` : ((error as Error)?.name ?? 'error')})`,
      revoked: 'the version is disabled or destroyed',
    });
  }

  /** Runs one SDK call; an abort rejects at once with the signal's reason. */
  async function call<T>(
    ctx: Ctx,
    opts: SecretCallOptions | undefined,
    run: (c: SecretManagerServiceClient) => Promise<T>,
  ) {
    kit.begin(opts);
    const signal = opts?.signal;
    let off = () => {};
    try {
      const work = client().then(run);
      if (!signal) return await work;
      const aborted = new Promise<never>((_, reject) => {
        const onAbort = () => reject(abortReason(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        off = () => signal.removeEventListener('abort', onAbort);
      });
      work.catch(() => {});
      return await Promise.race([work, aborted]);
    } catch (error) {
      throw mapError(error, ctx, opts);
    } finally {
      off();
    }
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

  function notFound(secret: string, version: string) {
    return secretError('not-found', 'the version does not exist', { provider: name, secret, secretVersion: version });
  }

  /** A version id argument: GCP versions are numbers; anything else cannot exist. */
  function numeric(secret: string, version: string): string {
    kit.version(version, secret);
    if (!/^[1-9][0-9]{0,18}$/.test(version)) throw notFound(secret, version);
    return version;
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

  /** Drops every alias of `version`; refuses when it is current. Returns whether it had any. */
  function dropAliases(secret: string, version: string, aliases: Map<string, string>, verb: string): void {
    if (aliases.get('current') === version) {
      throw secretError('invalid', `cannot ${verb} the current version: promote another version first`, {
        provider: name,
        secret,
        secretVersion: version,
      });
    }
    for (const [alias, v] of [...aliases]) if (v === version) aliases.delete(alias);
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
      await call({ secret }, opts, (c) =>
        c.createSecret({ parent: project, secretId: secret, secret: { replication: { automatic: {} } } }, callOptions),
      );
      const version = await addVersion(secret, value, opts);
      await changeAliases(secret, opts, (aliases) => aliases.set('current', version));
      return versionInfo({
        name: secret,
        version,
        stage: 'current',
        state: 'enabled',
        createdAt: undefined,
        native: ['current'],
      });
    },

    async read(secret, selector, opts) {
      kit.begin(opts);
      kit.name(secret);
      const sel = kit.selector(selector, secret);
      if (typeof sel !== 'string') return access(secret, numeric(secret, sel.version), sel.version, opts);
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
      kit.begin(opts);
      kit.name(secret);
      kit.value(value, secret);
      kit.labels(opts?.labels, secret);
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
      return versionInfo({
        name: secret,
        version,
        stage: 'pending',
        state: 'enabled',
        createdAt: undefined,
        native: ['pending'],
      });
    },

    async promote(secret, version, opts): Promise<PromoteResult> {
      kit.begin(opts);
      kit.name(secret);
      numeric(secret, version);
      const expected = opts?.expectedCurrent;
      if (expected !== undefined) kit.version(expected, secret);
      const state = await getVersionState(secret, version, opts);
      if (state !== 'enabled') {
        throw secretError('revoked', `cannot promote a ${state} version`, {
          provider: name,
          secret,
          secretVersion: version,
        });
      }
      const result = await changeAliases(secret, opts, (aliases): PromoteResult => {
        const current = aliases.get('current');
        const previous = aliases.get('previous');
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
      kit.begin(opts);
      kit.name(secret);
      numeric(secret, version);
      await getVersionState(secret, version, opts);
      await changeAliases(secret, opts, (aliases) => dropAliases(secret, version, aliases, 'revoke'));
      await disable(secret, version, opts);
    },

    async destroy(secret, version, opts) {
      kit.begin(opts);
      kit.name(secret);
      numeric(secret, version);
      if ((await getVersionState(secret, version, opts)) === 'destroyed') return;
      await changeAliases(secret, opts, (aliases) => dropAliases(secret, version, aliases, 'destroy'));
      await call({ secret, secretVersion: version }, opts, (c) =>
        c.destroySecretVersion({ name: versionPath(secret, version) }, callOptions),
      );
    },

    async listVersions(secret, opts) {
      kit.begin(opts);
      kit.name(secret);
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

    close() {
      return kit.lifecycle.close(async () => {
        await owned?.close();
      });
    },

    [Symbol.asyncDispose]() {
      return provider.close();
    },
  };
  return provider;
}
