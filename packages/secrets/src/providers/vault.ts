/**
 * `@summit-config/secrets/vault` (also exported from the package root: it needs no SDK): the
 * provider on HashiCorp Vault's KV version 2 secrets engine, over Vault's HTTP API with `fetch`.
 *
 *   const vault = createVaultProvider({ address: 'https://vault.internal:8200', appRole: { roleId, secretId } });
 *
 * A secret is a KV path under `mount` (default `secret`); each version's data is
 * `{ "<field>": "<value>" }` (field default `value`). Versions are Vault's own (`"1"`, `"2"`...).
 * Stages live in the secret's `custom_metadata`: `summit-current`, `summit-previous`,
 * `summit-pending` hold version numbers, and `summit-label.<version>.<key>` the caller labels.
 * - `create` writes with `cas: 0` (create-if-absent, atomic at Vault), then sets `summit-current`;
 * - `write` writes with `cas` = the version read just before, so of two concurrent writers exactly
 *   one wins and the other rejects `VERSION_CONFLICT`; the new version becomes `summit-pending`
 *   and the version that was pending is soft-deleted (revoked);
 * - `promote` moves every stage key in one metadata `PATCH` (readers never see a half-done
 *   promote), then soft-deletes the old previous version. Vault has no check-and-set on metadata,
 *   so `expectedCurrent` is checked just before that PATCH (`capabilities.atomicPromote` false);
 * - `revoke` soft-deletes the version (`delete`, undoable in Vault with `undelete`), `destroy`
 *   destroys it (`destroy`, irrecoverable); both drop its stage and labels from custom_metadata.
 * A secret never managed by Summit (no `summit-current`) reads its latest version as current.
 *
 * Auth: a token (`token`, else `VAULT_TOKEN`) or AppRole (`appRole`); `namespace` (else
 * `VAULT_NAMESPACE`) is sent as `X-Vault-Namespace`. Errors map by HTTP status: 404 `NOT_FOUND`,
 * 403 reason `denied`, 400 `invalid` (a lost check-and-set: `VERSION_CONFLICT`), 412/429/5xx and
 * transport failures `unavailable`. Values never appear in errors.
 */
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
import {
  createVaultHttp,
  type VaultAnswer,
  type VaultAppRole,
  VaultHttpError,
  type VaultRequest,
} from './vault-http.js';
import {
  dropLabels,
  labelsOf,
  type SecretMeta,
  STAGE_KEYS,
  type Stages,
  stagesOf,
  stateOf,
  type VersionMeta,
  withLabels,
} from './vault-metadata.js';

export type { VaultAppRole } from './vault-http.js';

export interface VaultProviderOptions {
  /** Instance name used in references and errors. Default `vault`. */
  name?: string;
  /** Vault's address, `http(s)://host:port`. Default the `VAULT_ADDR` environment variable; required. */
  address?: string;
  /** A Vault token (`X-Vault-Token`). Default `VAULT_TOKEN`. Required unless `appRole` is given. */
  token?: string;
  /**
   * Log in with AppRole instead of a fixed token. The token it issues is replaced by a new login
   * once 80% of its lease has passed, and whenever Vault answers 403 to it (once per call).
   */
  appRole?: VaultAppRole;
  /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. Default `VAULT_NAMESPACE`, else none. */
  namespace?: string;
  /** Where the KV version 2 engine is mounted. Default `secret`. */
  mount?: string;
  /** The key of a version's data that holds the secret value. Default `value`. */
  field?: string;
  /** Milliseconds per HTTP request before it fails with reason `unavailable`. Default 15 000. */
  requestTimeoutMs?: number;
  /** Extra attempts of a read (GET) that failed with a network error, 412, 429 or 5xx. Default 2. */
  maxRetries?: number;
  /** The `fetch` to use (for example undici's with a TLS dispatcher). Default the global `fetch`. */
  fetch?: typeof globalThis.fetch;
}

const KIND = 'vault';
/** Values up to 256 KiB: a version is one storage entry (Consul storage caps entries at 512 KiB). */
const MAX_VALUE_BYTES = 256 * 1024;
/** What Vault keeps when neither the secret nor the engine sets max_versions. */
const DEFAULT_MAX_VERSIONS = 10;
const CAS_MISMATCH = /check-and-set parameter did not match/;

/** How a failed request reads: by Vault's HTTP status, else as a transport failure. */
const VAULT_ERRORS: SdkErrors = {
  reason(error): SecretErrorReason {
    if (error instanceof VaultHttpError) {
      if (error.login) return error.status >= 500 || error.status === 429 ? 'unavailable' : 'denied';
      const s = error.status;
      if (s === 400) return error.errors.some((e) => CAS_MISMATCH.test(e)) ? 'conflict' : 'invalid';
      if (s === 401 || s === 403) return 'denied';
      // KV v2 answers a missing secret or version with `errors: []`; a message means no such route.
      if (s === 404) return error.errors.length > 0 ? 'invalid' : 'not-found';
      if (s === 412 || s === 429 || s >= 500) return 'unavailable';
      return 'failed';
    }
    return isNetworkError(error) ? 'unavailable' : 'failed';
  },
  refused(error) {
    if (error instanceof VaultHttpError) {
      return error.login
        ? `Vault refused the AppRole login (${error.status})`
        : `Vault refused the call (${error.status})`;
    }
    return `Vault could not be reached (${(error as { name?: string })?.name ?? 'error'})`;
  },
};

function stringOption(option: string, value: unknown, rule: RegExp, text: string): void {
  if (value !== undefined && (typeof value !== 'string' || !rule.test(value))) throw optionError(KIND, option, text);
}

/**
 * Creates the provider. Validates the options at once (`CONSTRAINT_VIOLATION` naming the bad
 * option); makes no request until the first call.
 */
export function createVaultProvider(options: VaultProviderOptions = {}): SecretProvider {
  if (options === null || typeof options !== 'object') throw optionError(KIND, 'options', 'must be an object');
  const name = providerName(options.name, KIND, KIND);
  const address = options.address ?? process.env.VAULT_ADDR;
  let url: URL | undefined;
  try {
    url = new URL(String(address));
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw optionError(KIND, 'address', 'must be an http(s):// URL of Vault (or set VAULT_ADDR)');
  }
  const role = options.appRole;
  if (role !== undefined) {
    if (role === null || typeof role !== 'object') throw optionError(KIND, 'appRole', 'must be { roleId, secretId }');
    stringOption('appRole.roleId', role.roleId ?? '', /^.{1,512}$/, 'must be a non-empty string');
    stringOption('appRole.secretId', role.secretId ?? '', /^.{1,512}$/, 'must be a non-empty string');
    stringOption('appRole.mount', role.mount, /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a mount path');
    if (options.token !== undefined) throw optionError(KIND, 'token', 'cannot be given with appRole');
  }
  const token = role ? undefined : (options.token ?? process.env.VAULT_TOKEN);
  if (!role && (typeof token !== 'string' || !/^[\x21-\x7e]{1,4096}$/.test(token))) {
    throw optionError(KIND, 'token', 'must be a Vault token (or set VAULT_TOKEN, or give appRole)');
  }
  const namespace = options.namespace ?? process.env.VAULT_NAMESPACE;
  stringOption(
    'namespace',
    namespace || undefined,
    /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*\/?$/,
    'must be a namespace path',
  );
  const mount = options.mount ?? 'secret';
  stringOption('mount', mount, /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a mount path such as "secret"');
  const field = options.field ?? 'value';
  stringOption('field', field, /^.{1,256}$/, 'must be a non-empty string');
  integerOption(KIND, 'requestTimeoutMs', options.requestTimeoutMs, 1);
  integerOption(KIND, 'maxRetries', options.maxRetries, 0);
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw optionError(KIND, 'fetch', 'must be a function');
  }

  const kit = new ProviderKit({
    provider: name,
    kind: KIND,
    namePattern: /^(?=.{1,512}$)(?!.*(^|\/)\.{1,2}(\/|$))[A-Za-z0-9_.@=+-]+(\/[A-Za-z0-9_.@=+-]+)*$/,
    nameRule: '1-512 characters of A-Z a-z 0-9 _ . @ = + - in /-separated segments (not . or ..)',
    capabilities: {
      disable: true,
      destroy: true,
      labels: true,
      atomicPromote: false,
      durable: true,
      maxValueBytes: MAX_VALUE_BYTES,
    },
    versionIds: /^[1-9][0-9]{0,14}$/,
    sdk: VAULT_ERRORS,
  });
  const http = createVaultHttp({
    address: url.toString(),
    token,
    appRole: role,
    namespace: namespace || undefined,
    requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
    maxRetries: options.maxRetries ?? 2,
    fetch: options.fetch ?? globalThis.fetch,
  });

  const pathOf = (secret: string) => secret.split('/').map(encodeURIComponent).join('/');
  const route = (kind: 'data' | 'metadata' | 'delete' | 'destroy', secret: string) =>
    `${mount}/${kind}/${pathOf(secret)}`;

  /** A 404 that names no secret but a route: the mount is not a KV version 2 engine (Vault answers `errors: [...]`). */
  const noRoute = (secret: string) =>
    kit.error('invalid', `Vault has no KV version 2 route for mount "${mount}" (check the mount option)`, secret);

  function call(ctx: FailedCall, opts: SecretCallOptions | undefined, req: Omit<VaultRequest, 'signal'>) {
    return kit.call(ctx, opts, () => http.request({ ...req, signal: opts?.signal }));
  }

  /** The secret's metadata; `NOT_FOUND` when it does not exist. */
  async function readMeta(secret: string, opts: SecretCallOptions | undefined): Promise<SecretMeta> {
    const { body } = await call({ secret }, opts, { method: 'GET', path: route('metadata', secret) });
    const data = (body?.data ?? {}) as {
      current_version?: number;
      max_versions?: number;
      custom_metadata?: Record<string, string> | null;
      versions?: Record<string, VersionMeta>;
    };
    const versions = new Map<number, VersionMeta>();
    for (const [n, v] of Object.entries(data.versions ?? {})) versions.set(Number(n), v);
    return {
      current_version: data.current_version ?? 0,
      max_versions: data.max_versions ?? 0,
      custom_metadata: data.custom_metadata ?? {},
      versions,
    };
  }

  /** A version's `data/` read: `latest` without `version`. A 404 with metadata is a deleted version. */
  async function readData(
    secret: string,
    version: number | undefined,
    shown: string,
    opts: SecretCallOptions | undefined,
  ) {
    const answer: VaultAnswer = await call({ secret, secretVersion: shown }, opts, {
      method: 'GET',
      path: route('data', secret),
      query: version === undefined ? undefined : { version: String(version) },
      accept404: true,
    });
    const data = answer.body?.data as
      | {
          data?: Record<string, unknown> | null;
          metadata?: { version?: number; created_time?: string; custom_metadata?: Record<string, string> | null };
        }
      | undefined;
    const metadata = data?.metadata;
    if (answer.status === 404 && !metadata) {
      const errors = answer.body?.errors;
      if (Array.isArray(errors) && errors.length > 0) throw noRoute(secret);
      throw version === undefined ? kit.missingSecret(secret) : kit.missingVersion(secret, shown);
    }
    return {
      version: Number(metadata?.version ?? version),
      readable: answer.status !== 404 && data?.data !== null && data?.data !== undefined,
      data: data?.data ?? undefined,
      createdAt: toIso(metadata?.created_time),
      customMetadata: metadata?.custom_metadata ?? {},
    };
  }

  function valueFrom(secret: string, read: Awaited<ReturnType<typeof readData>>) {
    const value = read.data?.[field];
    if (typeof value !== 'string') {
      throw kit.error('invalid', `the version's data has no string field "${field}"`, secret, String(read.version));
    }
    return secretValue({ name: secret, version: String(read.version), value, createdAt: read.createdAt });
  }

  async function writeData(secret: string, value: string, cas: number, opts: SecretCallOptions | undefined) {
    const { body } = await call({ secret, redact: value }, opts, {
      method: 'POST',
      path: route('data', secret),
      body: { options: { cas }, data: { [field]: value } },
    });
    const data = (body?.data ?? {}) as { version?: number; created_time?: string };
    return { version: Number(data.version), createdAt: toIso(data.created_time) };
  }

  async function patchMeta(
    secret: string,
    changes: Record<string, string | null>,
    opts: SecretCallOptions | undefined,
  ) {
    if (Object.keys(changes).length === 0) return;
    await call({ secret }, opts, {
      method: 'PATCH',
      path: route('metadata', secret),
      body: { custom_metadata: changes },
    });
  }

  async function versionsCall(
    kind: 'delete' | 'destroy',
    secret: string,
    version: number,
    opts: SecretCallOptions | undefined,
  ) {
    await call({ secret, secretVersion: String(version) }, opts, {
      method: 'POST',
      path: route(kind, secret),
      body: { versions: [version] },
    });
  }

  function info(secret: string, n: number, v: VersionMeta, meta: SecretMeta, stages: Stages): SecretVersionInfo {
    const stage = (Object.keys(STAGE_KEYS) as SecretStage[]).find((s) => stages[s] === n);
    return versionInfo({
      name: secret,
      version: String(n),
      stage,
      state: stateOf(v),
      createdAt: toIso(v.created_time),
      labels: labelsOf(meta.custom_metadata, n),
      native: Object.values(STAGE_KEYS).filter((k) => meta.custom_metadata[k] === String(n)),
    });
  }

  /**
   * Revokes a version that lost its stage, unless a stage points at it again by now (a promote by
   * another process in between: metadata has no check-and-set, so look again just before).
   */
  async function revokeUnstaged(secret: string, version: number, opts: SecretCallOptions | undefined) {
    const meta = await readMeta(secret, opts);
    const stages = stagesOf(meta);
    const v = meta.versions.get(version);
    if (!v || stateOf(v) !== 'enabled' || Object.values(stages).includes(version)) return;
    await versionsCall('delete', secret, version, opts);
  }

  /** The stage keys pointing at `version` and its labels, removed. */
  function forget(meta: SecretMeta, version: number): Record<string, null> {
    const changes: Record<string, null> = dropLabels(meta.custom_metadata, version);
    for (const key of Object.values(STAGE_KEYS)) if (meta.custom_metadata[key] === String(version)) changes[key] = null;
    return changes;
  }

  /** `revoke` and `destroy`: the current version is refused; the version is forgotten, then deleted or destroyed. */
  async function retire(
    kind: 'delete' | 'destroy',
    secret: string,
    version: string,
    opts: SecretCallOptions | undefined,
  ) {
    kit.targeting(secret, version, opts);
    const meta = await readMeta(secret, opts);
    const n = Number(version);
    const target = kit.found(secret, version, meta.versions.get(n));
    if (stagesOf(meta).current === n)
      throw kit.currentRefused(secret, version, kind === 'delete' ? 'revoke' : 'destroy');
    const state = stateOf(target);
    if (kind === 'delete' ? state === 'enabled' : state !== 'destroyed') await versionsCall(kind, secret, n, opts);
    await patchMeta(secret, forget(meta, n), opts);
  }

  return kit.assemble(
    {
      async create(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        let written: { version: number; createdAt: string | undefined };
        try {
          written = await writeData(secret, value, 0, opts);
        } catch (error) {
          if (isSecretError(error, 'conflict')) throw kit.error('exists', 'the secret already exists', secret);
          throw error;
        }
        const n = written.version;
        await patchMeta(
          secret,
          {
            [STAGE_KEYS.current]: String(n),
            [STAGE_KEYS.previous]: null,
            [STAGE_KEYS.pending]: null,
            ...withLabels(n, labels),
          },
          opts,
        );
        return versionInfo({
          name: secret,
          version: String(n),
          stage: 'current',
          state: 'enabled',
          createdAt: written.createdAt,
          labels,
          native: [STAGE_KEYS.current],
        });
      },

      async read(secret, selector, opts) {
        const sel = kit.reading(secret, selector, opts);
        if (typeof sel !== 'string') {
          const got = await readData(secret, Number(sel.version), sel.version, opts);
          if (!got.readable) throw kit.error('revoked', 'the version is deleted or destroyed', secret, sel.version);
          return valueFrom(secret, got);
        }
        // The latest version's read carries the custom_metadata: one request when it is the one asked for.
        const latest = await readData(secret, undefined, sel, opts);
        const cm = latest.customMetadata;
        const pointer = cm[STAGE_KEYS[sel]];
        const n = pointer !== undefined ? Number(pointer) : sel === 'current' ? latest.version : undefined;
        if (n === undefined || !Number.isSafeInteger(n))
          throw kit.error('not-found', `no version is ${sel}`, secret, sel);
        const got = n === latest.version ? latest : await readData(secret, n, sel, opts);
        if (!got.readable) throw kit.error('not-found', `no version is ${sel}`, secret, sel);
        return valueFrom(secret, got);
      },

      async write(secret, value, opts) {
        const labels = kit.writing(secret, value, opts);
        const meta = await readMeta(secret, opts);
        if (meta.versions.size === 0) throw kit.missingSecret(secret);
        const stages = stagesOf(meta);
        // Vault drops the oldest versions beyond max_versions, whatever their stage: never push out
        // the current or previous version (many abandoned pending writes in a row would).
        const keep = meta.max_versions > 0 ? meta.max_versions : DEFAULT_MAX_VERSIONS;
        for (const stage of ['current', 'previous'] as const) {
          const held = stages[stage];
          if (held !== undefined && held < meta.current_version + 2 - keep) {
            throw kit.error(
              'invalid',
              `a new version would make Vault drop the ${stage} version ${held} (it keeps ${keep} versions, max_versions): promote or raise max_versions`,
              secret,
            );
          }
        }
        let written: { version: number; createdAt: string | undefined };
        try {
          written = await writeData(secret, value, meta.current_version, opts);
        } catch (error) {
          if (isSecretError(error, 'conflict')) {
            throw kit.error(
              'conflict',
              'another writer added a version first (check-and-set)',
              secret,
              undefined,
              error.cause,
            );
          }
          throw error;
        }
        const n = written.version;
        const old = stages.pending;
        const changes: Record<string, string | null> = { [STAGE_KEYS.pending]: String(n), ...withLabels(n, labels) };
        // A secret not managed by Summit before: its current version until now stays current.
        if (meta.custom_metadata[STAGE_KEYS.current] === undefined && stages.current !== undefined) {
          changes[STAGE_KEYS.current] = String(stages.current);
        }
        if (old !== undefined) Object.assign(changes, dropLabels(meta.custom_metadata, old));
        await patchMeta(secret, changes, opts);
        if (old !== undefined) await revokeUnstaged(secret, old, opts);
        return versionInfo({
          name: secret,
          version: String(n),
          stage: 'pending',
          state: 'enabled',
          createdAt: written.createdAt,
          labels,
          native: [STAGE_KEYS.pending],
        });
      },

      async promote(secret, version, opts): Promise<PromoteResult> {
        const expected = kit.promoting(secret, version, opts);
        const meta = await readMeta(secret, opts);
        const n = Number(version);
        const target = kit.found(secret, version, meta.versions.get(n));
        const stages = stagesOf(meta);
        const current = stages.current === undefined ? undefined : String(stages.current);
        kit.expectCurrent(secret, version, expected, current);
        if (stateOf(target) !== 'enabled') {
          throw kit.error('revoked', 'cannot promote a deleted or destroyed version', secret, version);
        }
        const previous = stages.previous === undefined ? undefined : String(stages.previous);
        if (stages.current === n) return { current: version, previous, revoked: undefined };
        const revoked = stages.previous !== undefined && stages.previous !== n ? stages.previous : undefined;
        const changes: Record<string, string | null> = {
          [STAGE_KEYS.current]: version,
          [STAGE_KEYS.previous]: current ?? null,
        };
        if (meta.custom_metadata[STAGE_KEYS.pending] === version) changes[STAGE_KEYS.pending] = null;
        if (revoked !== undefined) Object.assign(changes, dropLabels(meta.custom_metadata, revoked));
        await patchMeta(secret, changes, opts);
        if (revoked !== undefined) await revokeUnstaged(secret, revoked, opts);
        return { current: version, previous: current, revoked: revoked === undefined ? undefined : String(revoked) };
      },

      revoke: (secret, version, opts) => retire('delete', secret, version, opts),

      destroy: (secret, version, opts) => retire('destroy', secret, version, opts),

      async listVersions(secret, opts) {
        kit.prelude(secret, opts);
        const meta = await readMeta(secret, opts);
        const stages = stagesOf(meta);
        return [...meta.versions].sort((a, b) => a[0] - b[0]).map(([n, v]) => info(secret, n, v, meta, stages));
      },
    },
    () => {},
  );
}
